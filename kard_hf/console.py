"""What ``kard-hf`` writes, on a terminal and in a log file alike readable.

- On a terminal nothing changes. Written to a file or a pipe, a progress bar (tqdm's, whoever draws it:
  the Trainer, datasets, kard_hf's own) redraws itself with ``\\r`` many times a second, and a log file
  gets one line of thousands of characters per bar. :class:`RedrawsAsLines` turns the redraws into one
  line every :data:`LINE_EVERY` seconds, and the bar's last state, each with tqdm's elapsed time and ETA.
- transformers logs a ``LOAD REPORT`` (weights missing from a checkpoint, e.g. a new score head) as a
  warning, with ANSI bold codes even when not on a terminal. It is expected for kard_hf's models: it goes
  to the debug level, without ANSI codes (:class:`LoadReportToDebug`).
"""

from __future__ import annotations

import logging
import re
import sys
import time

LINE_EVERY = 30.0  # seconds between two lines of one progress bar in a log file
ANSI = re.compile(r"\x1b\[[0-9;]*m")


class RedrawsAsLines:
    """A text stream that is not a terminal, where each ``\\r`` redraw of a progress bar becomes at most one
    line every ``every`` seconds (and its last redraw, when the bar ends with a newline); other text passes."""

    def __init__(self, stream, every: float = LINE_EVERY):
        self.stream, self.every = stream, every
        self.in_bar = False  # a '\r' was written and no newline since
        self.current = ""  # what follows the last '\r' of the bar
        self.pending: str | None = None  # the bar's newest complete redraw not written yet
        self.last_line = 0.0

    def write(self, text: str) -> int:
        for piece in re.split(r"([\r\n])", text):
            if piece == "\r":
                if self.current.strip():
                    self.pending = self.current
                    if time.monotonic() - self.last_line >= self.every:
                        self._line(self.pending)
                self.current, self.in_bar = "", True
            elif piece == "\n" and self.in_bar:  # the bar ends (or tqdm.write prints between redraws)
                self._line(self.current if self.current.strip() else self.pending)
                self.current, self.in_bar = "", False
            elif self.in_bar:
                self.current += piece
            elif piece:
                self.stream.write(piece)
        return len(text)

    def _line(self, text: str | None) -> None:
        if text and text.strip():
            self.stream.write(text.strip() + "\n")
        self.pending, self.last_line = None, time.monotonic()

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name):  # fileno, encoding, ... of the stream underneath
        return getattr(self.stream, name)


class LoadReportToDebug(logging.Filter):
    """transformers' ``LOAD REPORT`` warning as a debug record without ANSI codes (dropped unless debug is on)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if "LOAD REPORT" not in str(record.msg):
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        record.msg, record.args = ANSI.sub("", record.getMessage()), ()
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def readable_console() -> None:
    """Install both, once: redraws as lines when stderr is not a terminal; load reports at debug level."""
    if not sys.stderr.isatty() and not isinstance(sys.stderr, RedrawsAsLines):
        sys.stderr = RedrawsAsLines(sys.stderr)
    logger = logging.getLogger("transformers.modeling_utils")
    if not any(isinstance(f, LoadReportToDebug) for f in logger.filters):
        logger.addFilter(LoadReportToDebug())
