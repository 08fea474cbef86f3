"""Credentials in URLs: redacted wherever a URL is shown, serialized, traced or logged.

A URL may carry a credential in its user-info (``scheme://user:password@host``, or a bare
token, ``https://token@host``) or in its query string (``?password=...``, ``?token=...``).
:func:`redact_url` masks both; :func:`url_secrets` lists the secret values; :func:`scrub`
decides what of a driver's error text may be shown; :func:`withhold_secrets` hides the parts of
a server's answer that quote a secret; :func:`split_userinfo` takes the credentials out of a
URL so an HTTP client can send them as a header while every URL it logs or quotes is clean.

Passwords are pasted into URLs unencoded, so a password may hold ``/``, ``#``, ``?`` or ``@``.
Redaction therefore takes everything between ``://`` (or the start, if there is no scheme) and
the *last* ``@`` for user-info, masking too much rather than too little. Code that *uses* a URL
goes through :func:`unambiguous_url` first (or :func:`checked_base_url` for an API base), which
refuses a URL whose user-info can't be told from its path. No library does this
(``urllib.parse``, httpx, redis-py and SQLAlchemy each end the user-info at a different ``@``
or ``/``), hence this module.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit

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

NAMED_USER_SCHEMES = frozenset({"postgresql", "postgres", "redis", "rediss", "unix", "sqlite"})
"""Schemes whose user-info without a password is a user name, shown as is. In any other URL
(``https://token@host``, which an HTTP client sends as Basic auth) it is a credential."""

WITHHELD = "[not shown: it quotes a credential]"
"""What a server's text that quotes a credential reads as."""

SCRUB_MIN_CHARS = 4
"""Secrets shorter than this are not looked for in free text (most texts would hold them)."""

_QUERY_PAIR = re.compile(r"(?P<key>[^&;=]*)=(?P<value>[^&;]*)")
_SCHEME = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://$")
_AUTHORITY_END = re.compile(r"[/?#]")


def _text(url: Any, *, hide_password: bool = True) -> str:
    render = getattr(url, "render_as_string", None)  # a SQLAlchemy URL
    return str(render(hide_password=hide_password) if callable(render) else url)


def _userinfo(text: str) -> tuple[str, str, str] | None:
    """``(prefix, userinfo, rest)``: text up to ``://``, up to the last ``@``, and after it.

    The scheme's ``://`` counts only before the first ``@`` (one in a query is not a scheme);
    without one, the user-info starts at the beginning (``gw:pw@host/v1``). ``None`` if there
    is no ``@``.
    """
    last_at = text.rfind("@")
    if last_at < 0:
        return None
    separator = text.find("://", 0, text.find("@"))
    start = separator + 3 if separator >= 0 else 0
    return text[:start], text[start:last_at], text[last_at + 1 :]


def _names_a_user(prefix: str) -> bool:
    match = _SCHEME.search(prefix)
    return match is not None and match["scheme"].split("+")[0].lower() in NAMED_USER_SCHEMES


def _sensitive(key: str) -> bool:
    return unquote(key).strip().lower() in SENSITIVE_QUERY_KEYS


def _mask_query(query: str) -> str:
    def mask(match: re.Match[str]) -> str:
        if _sensitive(match["key"]) and match["value"]:
            return f"{match['key']}={MASK}"
        return match.group(0)

    return _QUERY_PAIR.sub(mask, query)


def _query_and_fragment(rest: str) -> tuple[str, str]:
    head, _, fragment = rest.partition("#")
    return head.partition("?")[2], fragment


def _mask_rest(rest: str) -> str:
    # The fragment is masked like a query: OAuth puts tokens there (#access_token=...).
    head, hash_, fragment = rest.partition("#")
    path, question, query = head.partition("?")
    return f"{path}{question}{_mask_query(query)}{hash_}{_mask_query(fragment)}"


def _mask_userinfo(prefix: str, userinfo: str) -> str:
    user, colon, _ = userinfo.partition(":")
    if colon:
        return f"{user}:{MASK}"
    return userinfo if _names_a_user(prefix) else MASK


def redact_url(url: Any) -> str:
    """The URL as it may be shown: credentials in user-info and query replaced by ``***``.

    Over-masks rather than under-masks: everything up to the last ``@`` is taken for user-info
    (an unencoded ``/``, ``#``, ``?`` or ``@`` in a password is masked too), and a bare
    user-info (``https://token@host``) is masked unless the scheme is a database's, where it
    names the user.

    Args:
        url: A URL string, a SQLAlchemy ``URL``, or anything whose ``str`` is a URL or a path
            (text that holds no ``@``, ``?`` or ``#`` comes back unchanged).

    Returns:
        The redacted URL text.

    Example:
        ``redact_url("redis://:pw@host/0?token=t")`` -> ``"redis://:***@host/0?token=***"``
    """
    text = _text(url)
    parts = _userinfo(text)
    if parts is None:
        return _mask_rest(text)
    prefix, userinfo, rest = parts
    return f"{prefix}{_mask_userinfo(prefix, userinfo)}@{_mask_rest(rest)}"


def redact_text(text: str) -> str:
    """``text`` with each whitespace-separated word redacted as a URL (see :func:`redact_url`).

    For messages that may quote URLs among other words, such as a command line's.
    """
    return re.sub(r"\S+", lambda word: redact_url(word.group(0)), text)


def url_secrets(url: Any) -> frozenset[str]:
    """The credential values a URL holds (raw and percent-decoded): what :func:`redact_url` masks.

    Args:
        url: A URL string or a SQLAlchemy ``URL``.
    """
    text = _text(url, hide_password=False)
    parts = _userinfo(text)
    found: set[str] = set()
    rest = text
    if parts is not None:
        prefix, userinfo, rest = parts
        _, colon, password = userinfo.partition(":")
        if colon:
            found.add(password)
        elif not _names_a_user(prefix):
            found.add(userinfo)
    for part in _query_and_fragment(rest):
        found.update(m["value"] for m in _QUERY_PAIR.finditer(part) if _sensitive(m["key"]))
    return frozenset(s for raw in found for s in (raw, unquote(raw), unquote_plus(raw)) if s)


def scrub(text: str) -> str:
    """A driver's error text as it may be shown: every URL-shaped word in it redacted.

    The URL's own credential is not searched for in the text. Masking each occurrence of a
    password that is a common word would tell it (``"*** failed: *** to server"``), and so
    would withholding the text only when the password occurs in it; withholding it whenever
    the URL holds a credential would leave users of real deployments with no reason at all.
    The drivers used here (libpq through psycopg, redis-py, sqlite3) never quote a password;
    they may quote a URL, which is redacted as anywhere else, and every URL they are given was
    checked by :func:`unambiguous_url`, so no piece of a password is read as a host or port.

    Args:
        text: The driver's message.
    """
    return redact_text(text)


def withhold_secrets(value: Any, secrets: frozenset[str]) -> Any:
    """``value`` (text, or JSON-like data) with every string that holds a secret withheld.

    Each such string is replaced whole by :data:`WITHHELD` (masking the secret inside it would
    tell what the string says around it); dict keys, numbers and other strings are kept.

    Args:
        value: A server's answer: a string, or dicts and lists of them.
        secrets: The values to look for (shorter than :data:`SCRUB_MIN_CHARS` are ignored).
    """
    if isinstance(value, str):
        quoted = any(s in value for s in secrets if len(s) >= SCRUB_MIN_CHARS)
        return WITHHELD if quoted else value
    if isinstance(value, dict):
        return {key: withhold_secrets(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [withhold_secrets(item, secrets) for item in value]
    return value


def unambiguous_url(url: str) -> str:
    """``url`` as every URL parser reads it: an ``@`` in its user-info percent-encoded.

    SQLAlchemy ends the user-info at the first ``@`` and ``urllib``/httpx/redis-py at the first
    ``/``, ``?`` or ``#``: a password holding one of these would be cut, and the rest quoted as
    the host or port in errors. A user-info holding ``@`` is encoded (``%40``), so all parsers
    split it where :func:`redact_url` does.

    Raises:
        ValueError: If an ``@`` follows a ``/``, ``?`` or ``#`` after the host (a password
            holding one of these, or an ``@`` in the path): where the user-info ends can't be
            told. The message shows the URL redacted and says what to percent-encode.
    """
    parts = _userinfo(url)
    if parts is None:
        return url
    prefix, userinfo, rest = parts
    _refuse_unclear(url, userinfo)
    return f"{prefix}{userinfo.replace('@', '%40')}@{rest}"


def _refuse_unclear(url: str, userinfo: str) -> None:
    if _AUTHORITY_END.search(userinfo):
        msg = (
            f"cannot tell where the credentials end in the URL {redact_url(url)!r}: "
            "percent-encode '/', '?', '#' and '@' in the user name and password "
            "('/' as %2F, '?' as %3F, '#' as %23, '@' as %40), and '@' in the path or query"
        )
        raise ValueError(msg)


def split_userinfo(url: str) -> tuple[str, tuple[str, str] | None]:
    """Take the user-info out of a URL.

    Returns:
        The URL without ``user:password@``, and the percent-decoded ``(user, password)`` (or
        ``None`` if the URL had no user-info); a bare token reads ``(token, "")``.

    Raises:
        ValueError: As :func:`unambiguous_url`, for a user-info that can't be told apart.
    """
    parts = _userinfo(url)
    if parts is None:
        return url, None
    prefix, userinfo, rest = parts
    _refuse_unclear(url, userinfo)
    user, _, password = userinfo.partition(":")
    return f"{prefix}{rest}", (unquote(user), unquote(password))


def checked_base_url(url: str) -> str:
    """``url`` if an HTTP client can use it as an API base with its credentials kept safe.

    Raises:
        ValueError: If it is not an absolute http(s) URL with a valid host and port; if it has
            a query string or fragment (the openai client appends paths after it, so every
            request would go astray, and logs and errors would quote an ``?api_key=``); or as
            :func:`unambiguous_url`. The message shows the URL redacted.
    """
    unambiguous_url(url)
    shown = redact_url(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parses the port: ValueError if it is not a number
    except ValueError:  # its message quotes the port (or a piece of a password read as one)
        msg = f"the API base URL {shown!r} is malformed (check its host and port)"
        raise ValueError(msg) from None
    if parts.scheme not in ("http", "https") or not parts.netloc:
        msg = f"the API base URL {shown!r} is not an http(s) URL, e.g. https://host/v1"
        raise ValueError(msg)
    if "?" in url or "#" in url:
        msg = (
            f"the API base URL {shown!r} has a query string or fragment: pass query "
            "parameters as default_query={...} (credentials as api_key or default_headers)"
        )
        raise ValueError(msg)
    return url
