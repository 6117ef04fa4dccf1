"""A one-line progress bar on a terminal, redrawn in place with a carriage return."""

from __future__ import annotations

from typing import TextIO

BAR_WIDTH = 30


def render_bar(done_s: float, total_s: float, width: int = BAR_WIDTH) -> str:
    """``[#########.....]  45%   9.0 / 20.0 s``; without a known total, just the seconds."""
    if total_s <= 0:
        return f"analysing... {done_s:.1f} s"
    fraction = min(1.0, max(0.0, done_s / total_s))
    filled = round(fraction * width)
    bar = "#" * filled + "." * (width - filled)
    return f"[{bar}] {fraction * 100:3.0f}%  {done_s:.1f} / {total_s:.1f} s"


class ProgressBar:
    """Draws the server's progress on ``stream``; `close()` clears the line again."""

    def __init__(self, stream: TextIO, total_s: float) -> None:
        self._stream = stream
        self._total_s = total_s
        self._last = ""

    def update(self, done_s: float) -> None:
        text = render_bar(done_s, self._total_s)
        if text != self._last:
            # Pad to the previous length so a shorter line leaves no stale characters.
            self._stream.write("\r" + text.ljust(len(self._last)))
            self._stream.flush()
            self._last = text

    def close(self) -> None:
        if self._last:
            self._stream.write("\r" + " " * len(self._last) + "\r")
            self._stream.flush()
            self._last = ""
