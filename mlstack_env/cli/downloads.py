"""Download progress on stderr (mlstack_env/fetch/download.py's ``DownloadProgress``).

On a terminal: a rich bar per file being fetched and one for the total (bytes, rate, ETA,
N of M files); sizes come from the lock, else from the server's Content-Length as each
file starts. Anywhere else (CI logs, ``| tee``): a line per finished file and a total line
at most every :data:`EVERY` seconds. ``-q`` and ``--json`` show nothing (``--json`` puts
the figures in its one object).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mlstack_env.core.units import human_bytes, seconds
from mlstack_env.fetch.wants import FetchStatus

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from mlstack_env.fetch.download import Fetched, Report, Want

EVERY = 5.0  # seconds between total lines off a terminal


def rate(nbytes: int, took: float) -> str:
    return f"{human_bytes(int(nbytes / took))}/s" if took > 0 else "-"


class _Totals:
    """Bytes and files so far, for both renderings (called from download threads)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.finished = 0
        self.sizes: dict[str, int | None] = {}
        self.done = 0  # bytes in hand, resumed ones included
        self.started = time.monotonic()
        self.fetched = 0  # bytes over the network

    def begin(self, wants: Sequence[Want]) -> None:
        self.count = len(wants)
        self.sizes = {w.sha256: w.size for w in wants}
        self.started = time.monotonic()

    @property
    def total(self) -> int | None:
        """The total bytes, once every file's size is known."""
        sizes = self.sizes.values()
        return None if None in sizes else sum(s or 0 for s in sizes)

    def known(self) -> int:
        return sum(s or 0 for s in self.sizes.values())

    def line(self) -> str:
        took = time.monotonic() - self.started
        total = self.total
        of = f" of {human_bytes(total)}" if total is not None else ""
        speed = self.fetched / took if took > 0 else 0
        eta = ""
        if total is not None and speed > 0:
            eta = f", {seconds(max(0.0, (total - self.done) / speed))} left"
        return (f"downloading: {human_bytes(self.done)}{of} at {rate(self.fetched, took)}, "
                f"{self.finished} of {self.count} files done{eta}")


class DownloadLines:
    """Off a terminal: a line per finished file, a total line at most every EVERY s."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._t = _Totals()
        self._last = time.monotonic()

    def begin(self, wants: Sequence[Want]) -> None:
        self._t.begin(wants)
        self._last = time.monotonic()
        total = self._t.total
        size = f", {human_bytes(total)}" if total is not None else ""
        self._say(f"downloading {len(wants)} file{'s' if len(wants) != 1 else ''}{size}")

    def start(self, want: Want, size: int | None, done: int) -> None:
        with self._t.lock:
            self._t.sizes[want.sha256] = size
            self._t.done += done
        if done:
            self._say(f"resuming {want.filename} at {human_bytes(done)}"
                      + (f" of {human_bytes(size)}" if size is not None else ""))

    def advance(self, want: Want, nbytes: int) -> None:
        with self._t.lock:
            self._t.done += nbytes
            self._t.fetched += nbytes
            now = time.monotonic()
            if now - self._last < EVERY:
                return
            self._last = now
            line = self._t.line()
        self._say(line)

    def finish(self, got: Fetched) -> None:
        with self._t.lock:
            self._t.finished += 1
            n = self._t.finished
        if got.status is FetchStatus.CACHED:  # another mlstack fetched it meanwhile
            self._say(f"[{n}/{self._t.count}] {got.want.filename}: in the cache")
            return
        resumed = f", resumed at {human_bytes(got.resumed_from)}" if got.resumed_from else ""
        self._say(f"[{n}/{self._t.count}] downloaded {got.want.filename} "
                  f"({human_bytes(got.bytes + got.resumed_from)} in {seconds(got.seconds)}, "
                  f"{rate(got.bytes, got.seconds)}{resumed}; sha256 ok)")

    def end(self, report: Report) -> None:
        got = [f for f in report.files if f.status is FetchStatus.DOWNLOADED]
        nbytes = sum(f.bytes for f in got)
        self._say(f"downloaded {len(got)} file{'s' if len(got) != 1 else ''}, "
                  f"{human_bytes(nbytes)} in {seconds(report.seconds)} "
                  f"({rate(nbytes, report.seconds)})")

    def close(self) -> None:
        pass

    def _say(self, line: str) -> None:
        self._console.out(line, highlight=False)


class DownloadBars(DownloadLines):
    """On a terminal: rich bars per active file and a total."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self._bars: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._total: TaskID | None = None

    def begin(self, wants: Sequence[Want]) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._t.begin(wants)
        self._bars = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
            TransferSpeedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[files]}"),
            console=self._console, transient=True)
        self._bars.start()
        self._total = self._bars.add_task("total", total=self._t.total, files=self._files())

    def _files(self) -> str:
        return f"{self._t.finished} of {self._t.count} files"

    def start(self, want: Want, size: int | None, done: int) -> None:
        with self._t.lock:
            self._t.sizes[want.sha256] = size
            self._t.done += done
        if self._bars is None or self._total is None:
            return
        self._tasks[want.sha256] = self._bars.add_task(
            want.filename, total=size, completed=done, files="")
        self._bars.update(self._total, total=self._t.total, completed=self._t.done)

    def advance(self, want: Want, nbytes: int) -> None:
        with self._t.lock:
            self._t.done += nbytes
            self._t.fetched += nbytes
        task = self._tasks.get(want.sha256)
        if self._bars is None or self._total is None or task is None:
            return
        self._bars.advance(task, nbytes)
        self._bars.advance(self._total, nbytes)

    def finish(self, got: Fetched) -> None:
        task = self._tasks.pop(got.want.sha256, None)
        if self._bars is not None and task is not None:
            self._bars.remove_task(task)
        super().finish(got)
        if self._bars is not None and self._total is not None:
            self._bars.update(self._total, files=self._files())

    def end(self, report: Report) -> None:
        self.close()
        super().end(report)

    def close(self) -> None:
        """Stop the bars (also after a failed download: no bar stays behind the error)."""
        if self._bars is not None:
            self._bars.stop()
        self._bars = None

    def _say(self, line: str) -> None:
        self._console.print(line, highlight=False, soft_wrap=True, markup=False,
                            style="dim")
