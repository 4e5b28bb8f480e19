"""Progress of long management commands: a bar redrawn in place on a terminal, a line now and then otherwise.

A command makes one `Progress(self.stdout, total)` and hands it to the service as its `progress` callback, which
calls it as `progress(done, phase)`; `close()` ends the output. `total` may be None when nobody knows it ahead
(a purge in batches): the count is shown without a bar. Piped to a file or a journal, it writes a line when the
phase changes and at most every `every` seconds (no carriage returns in the logs).
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import OutputWrapper


class Progress:
    def __init__(
        self, stream: Any, total: int | None, *, every: float = 5.0, width: int = 30, tty: bool | None = None
    ) -> None:
        self.stream = stream
        self.total = total
        self.every = every
        self.width = width
        self.tty = stream.isatty() if tty is None else tty
        self.started = time.monotonic()
        self.phase: str | None = None
        self.done = 0
        self._last_line = 0.0
        self._drawn = False

    def __call__(self, done: int, phase: str = "") -> None:
        new_phase = phase != self.phase
        if new_phase and self.phase is not None:
            self._finish_phase()
        self.phase, self.done = phase, done
        if self.tty:
            self._write(f"\r{self._text(bar=True)}")
            self._drawn = True
        elif new_phase or time.monotonic() - self._last_line >= self.every:
            self._line()

    def close(self) -> None:
        """Ends the output: the final figures of the last phase (nothing if nothing was reported)."""
        if self.phase is not None:
            self._finish_phase()
            self.phase = None

    def _finish_phase(self) -> None:
        if self.tty:
            self._write(f"\r{self._text(bar=True)}\n")
        else:
            self._line()
        self._drawn = False

    def _line(self) -> None:
        self._write(self._text(bar=False) + "\n")
        self._last_line = time.monotonic()

    def _text(self, *, bar: bool) -> str:
        elapsed = time.monotonic() - self.started
        label = f"  {self.phase}: " if self.phase else "  "
        if not self.total:
            return f"{label}{self.done} ({elapsed:.1f} s)"
        share = min(self.done, self.total) / self.total
        figures = f"{self.done}/{self.total} ({share:.0%}, {elapsed:.1f} s)"
        if not bar:
            return label + figures
        filled = int(self.width * share)
        return f"{label}[{'#' * filled}{'-' * (self.width - filled)}] {figures}"

    def _write(self, text: str) -> None:
        if isinstance(self.stream, OutputWrapper):
            self.stream.write(text, ending="")
        else:
            self.stream.write(text)
        self.stream.flush()
