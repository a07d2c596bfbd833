"""One scrubber for everything a teacher run prints or logs: no credentials from a URL, no API key.

A ``--base_url`` may carry credentials (``https://user:password@host/v1``, ``https://host/<key>/v1``,
``?token=...``), and the HTTP client logs every request URL at INFO level, servers echo URLs in error
bodies. Every URL in a text keeps only its scheme and host: user info is dropped, the path becomes
``/***`` and query values ``***``; given secrets become ``***``.
"""

from __future__ import annotations

import logging
import re
from typing import Iterable

_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^\s/?#@'\"<>]*@)?"
                  r"(?P<host>[^\s/?#'\"<>]*)(?P<path>/[^\s?#'\"<>]*)?(?P<query>\?[^\s#'\"<>]*)?")
_QUERY_VALUE = re.compile(r"([?&;][^=&;#\s]*=)[^&;#\s]*")


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with each URL's user info dropped, its path and query values replaced by ``***``, and ``secrets`` masked."""
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "***")
    def clean(m: re.Match) -> str:
        path = m["path"] if m["path"] in (None, "/") else "/***"
        return m["scheme"] + m["host"] + (path or "") + _QUERY_VALUE.sub(r"\1***", m["query"] or "")

    return _URL.sub(clean, text)


class ScrubFilter(logging.Filter):
    """A handler filter that scrubs each record's final message (see :func:`scrub`)."""

    def __init__(self, secrets: Iterable[str | None] = ()):
        super().__init__()
        self.secrets = [secret for secret in secrets if secret]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def scrub_logs(secrets: Iterable[str | None] = ()) -> ScrubFilter:
    """Scrub every record that reaches the root logger's handlers (the HTTP client's request lines included)."""
    scrubber = ScrubFilter(secrets)
    for handler in logging.getLogger().handlers:
        for old in [f for f in handler.filters if isinstance(f, ScrubFilter)]:  # one per handler, the latest
            handler.removeFilter(old)
        handler.addFilter(scrubber)
    return scrubber
