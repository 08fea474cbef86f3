"""Credentials in URLs: redacted wherever a URL is shown, serialized, traced or logged.

A URL may carry a credential in its user-info (``scheme://user:password@host``) or in its
query string (``?password=...``, ``?token=...``). :func:`redact_url` masks both;
:func:`url_secrets` lists the secret values so text from elsewhere (a driver's error message)
can be scrubbed with :func:`scrub`; :func:`split_userinfo` takes the credentials out of a URL
so an HTTP client can send them as a header while every URL it logs or quotes is clean.

The URL is parsed with the standard library (``urllib.parse`` handles every scheme used here:
``postgresql+psycopg://``, ``redis://``, ``https://``); a SQLAlchemy ``URL`` is rendered with
its own ``render_as_string(hide_password=True)`` first. No library masks query-string
credentials of arbitrary URLs, hence this module.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import SplitResult, unquote, unquote_plus, urlsplit, urlunsplit

MASK = "***"
"""What a redacted credential reads as."""

SENSITIVE_QUERY_KEYS = frozenset(
    {
        "password",
        "pass",
        "passwd",
        "pwd",
        "sslpassword",
        "token",
        "access_token",
        "auth",
        "auth_token",
        "secret",
        "client_secret",
        "key",
        "api_key",
        "apikey",
        "api-key",
    }
)
"""Query-string keys whose values are credentials (compared case-insensitively)."""

_QUERY_PAIR = re.compile(r"(?P<key>[^&;=]*)=(?P<value>[^&;]*)")


def _text(url: Any, *, hide_password: bool = True) -> str:
    render = getattr(url, "render_as_string", None)  # a SQLAlchemy URL
    return str(render(hide_password=hide_password) if callable(render) else url)


def _split(text: str) -> SplitResult | None:
    if "://" not in text:
        return None
    try:
        return urlsplit(text)
    except ValueError:  # e.g. a malformed IPv6 host
        return None


def _sensitive(key: str) -> bool:
    return unquote(key).strip().lower() in SENSITIVE_QUERY_KEYS


def _mask_query(query: str) -> str:
    def mask(match: re.Match[str]) -> str:
        if _sensitive(match["key"]) and match["value"]:
            return f"{match['key']}={MASK}"
        return match.group(0)

    return _QUERY_PAIR.sub(mask, query)


def _mask_userinfo(netloc: str) -> str:
    userinfo, at, host = netloc.rpartition("@")
    if not at or ":" not in userinfo:
        return netloc
    user = userinfo.split(":", 1)[0]
    return f"{user}:{MASK}@{host}"


def redact_url(url: Any) -> str:
    """The URL as it may be shown: password and credential query values replaced by ``***``.

    Args:
        url: A URL string, a SQLAlchemy ``URL``, or anything whose ``str`` is a URL or a path
            (text that is not a URL comes back unchanged).

    Returns:
        The redacted URL text.

    Example:
        ``redact_url("redis://:pw@host/0?token=t")`` -> ``"redis://:***@host/0?token=***"``
    """
    text = _text(url)
    parts = _split(text)
    if parts is None:
        return text
    netloc = _mask_userinfo(parts.netloc)
    return urlunsplit(parts._replace(netloc=netloc, query=_mask_query(parts.query)))


def url_secrets(url: Any) -> frozenset[str]:
    """The credential values a URL holds (raw and percent-decoded), to scrub from other text.

    Args:
        url: A URL string or a SQLAlchemy ``URL``.
    """
    parts = _split(_text(url, hide_password=False))
    if parts is None:
        return frozenset()
    found: set[str] = set()
    userinfo = parts.netloc.rpartition("@")[0]
    if ":" in userinfo:
        found.add(userinfo.split(":", 1)[1])
    found.update(m["value"] for m in _QUERY_PAIR.finditer(parts.query) if _sensitive(m["key"]))
    return frozenset(s for raw in found for s in (raw, unquote(raw), unquote_plus(raw)) if s)


SCRUB_MIN_CHARS = 4
"""Secrets shorter than this are not scrubbed from free text (it would garble the text)."""


def scrub(text: str, secrets: frozenset[str]) -> str:
    """``text`` with each secret (of at least :data:`SCRUB_MIN_CHARS`) replaced by ``***``."""
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= SCRUB_MIN_CHARS:
            text = text.replace(secret, MASK)
    return text


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """Take the user-info out of a URL.

    Returns:
        The URL without ``user:password@``, and the percent-decoded ``(user, password)`` (or
        ``None`` if the URL had no user-info).
    """
    parts = _split(url)
    if parts is None or "@" not in parts.netloc:
        return url, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=host)), (unquote(user), unquote(password))
