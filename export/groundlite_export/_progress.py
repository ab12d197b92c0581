"""Progress reporting for long exports: rich bars on stderr, or nothing when disabled."""

from __future__ import annotations

import logging
from typing import Any, Callable

__all__ = ["Reporter"]

log = logging.getLogger("groundlite_export")


class Reporter:
    """Context manager: ``stage(text, total)`` starts a bar and returns ``advance(done, total)``."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None
        self.console: Any = None

    def __enter__(self) -> "Reporter":
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.console = Console(stderr=True)
            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                      MofNCompleteColumn(), TimeElapsedColumn(), console=self.console, transient=False)
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._close_task()
            self._progress.stop()

    def _close_task(self) -> None:
        if self._task is not None:
            task = self._progress.tasks[self._task]
            self._progress.update(self._task, completed=task.total or 1, total=task.total or 1)
            self._task = None

    def stage(self, description: str, total: int | None = None) -> Callable[[int, int], None]:
        """Start a stage; the returned callback reports ``(done, total)`` within it."""
        log.info("%s", description)
        if self._progress is None:
            return lambda done, total: None
        self._close_task()
        self._task = self._progress.add_task(description, total=total or 1)
        task = self._task

        def advance(done: int, total_: int) -> None:
            self._progress.update(task, completed=done, total=total_)

        return advance

    def warn(self, message: str) -> None:
        """A loud warning: logging.warning plus a red line on the console."""
        log.warning("%s", message)
        if self.console is not None:
            self.console.print(f"[bold red]WARNING: {message}[/bold red]")
