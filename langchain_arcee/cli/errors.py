"""One line explaining why a turn failed: what went wrong and what to do about it."""

from __future__ import annotations

from langchain_arcee.catalog import API_KEY_ENV_VARS


def one_line(error: BaseException) -> str:
    """An exception's message on one line (the first non-empty line, or its type's name)."""
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__


def _is_connection_error(error: BaseException) -> bool:
    """A transport failure: openai's connection errors, or httpx's raised while streaming."""
    import openai

    if isinstance(error, (openai.APIConnectionError, ConnectionError)):
        return True
    # A body cut mid-stream escapes the SDK as the HTTP library's own error (httpx, httpx2).
    return any(cls.__module__.split(".")[0].startswith("httpx") for cls in type(error).__mro__)


def describe_error(error: BaseException, base_url: str, *, mid_reply: bool = False) -> str:
    """One line explaining a failed turn (API, network or store error).

    Args:
        error: What was raised.
        base_url: The API base the request went to.
        mid_reply: Whether part of the reply had already arrived.

    Returns:
        The explanation, without the program's name.
    """
    import openai

    from langchain_arcee.stores.base import StoreError

    url = f"{base_url.rstrip('/')}/chat/completions"
    if isinstance(error, openai.APITimeoutError):
        return f"request to {base_url} timed out"
    if isinstance(error, StoreError):
        return f"store error: {one_line(error)}"
    if mid_reply and _is_connection_error(error):
        return f"the connection to {base_url} dropped mid-reply ({one_line(error)})"
    if isinstance(error, openai.APIConnectionError):
        cause = error.__cause__
        return f"cannot reach {base_url}: {one_line(cause) if cause else one_line(error)}"
    if isinstance(error, openai.APIStatusError):
        text = one_line(error)  # ChatArcee's errors read "Arcee API error 402: ..."
        if error.status_code == 401:
            return f"{text}: the API key was refused; check {API_KEY_ENV_VARS[0]}"
        if error.status_code == 404:
            return f"{text} (URL tried: POST {url}; check --base-url and --model)"
        return text
    if isinstance(error, openai.APIError):
        return one_line(error)
    return f"{type(error).__name__}: {one_line(error)}"
