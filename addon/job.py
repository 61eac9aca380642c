"""The Generate operator's state machine without bpy: start an engine run, poll it, cancel it.

The modal operator in :mod:`addon.operators` is a thin wrapper: ``invoke`` calls :meth:`GenerateJob.start`,
every timer tick calls :meth:`GenerateJob.poll` and shows :attr:`JobStatus.percent` and
:meth:`JobStatus.status_text`, Esc calls :meth:`GenerateJob.cancel`, and a done status is baked (or its
one-line error reported). Keeping the states here lets them be tested without a Blender window.

States: ``idle`` -> ``running`` -> ``finished`` | ``failed`` | ``cancelled``. Progress never goes back
(the engine's ``--progress-json`` lines are ``{"stage", "progress"}``, see :mod:`addon.runner`); every
(stage, progress) reported is in :attr:`GenerateJob.history`. A cancelled job stops its engine within
:data:`CANCEL_GRACE_S` plus a kill, and deletes any clip the engine wrote, so nothing is left to bake.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import runner

CANCEL_GRACE_S = 0.5
MAX_ERROR_CHARS = 300


@dataclass(frozen=True)
class JobStatus:
    """What the operator shows and acts on; ``paths``: the clips to bake (only when finished)."""

    state: str = "idle"
    stage: str = "starting"
    progress: float = 0.0
    error: str | None = None
    paths: tuple[str, ...] = ()

    @property
    def done(self) -> bool:
        return self.state in ("finished", "failed", "cancelled")

    @property
    def cancelled(self) -> bool:
        return self.state == "cancelled"

    @property
    def percent(self) -> int:
        return int(round(100 * self.progress))

    def status_text(self) -> str:
        return f"Parley: {self.stage} {self.percent}%  (Esc to cancel)"


def one_line(message: str) -> str:
    """``message`` on one line: whitespace runs (newlines included) collapsed, at most MAX_ERROR_CHARS."""
    text = " ".join(str(message).split()) or "unknown error"
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 1] + "\u2026"


class GenerateJob:
    """One Generate run. ``make_run``: a callable returning a started :class:`runner.Run` (it may raise
    :class:`runner.RunError` or a user error; :meth:`start` lets those through, nothing is left running)."""

    def __init__(self, make_run: Callable[[], runner.Run]):
        self._make_run = make_run
        self.run: runner.Run | None = None
        self._status = JobStatus()

    @property
    def history(self) -> list[tuple[str, float]]:
        """Every (stage, progress) the engine reported so far, in order."""
        return list(self.run.state.history) if self.run is not None else []

    def start(self) -> JobStatus:
        if self.run is not None:
            raise RuntimeError("job already started")
        self.run = self._make_run()
        self._status = JobStatus(state="running")
        return self._status

    def poll(self) -> JobStatus:
        """Drain the run's progress and return the current status (unchanged once done)."""
        if self.run is None or self._status.done:
            return self._status
        st = self.run.poll()
        stage, progress = self._status.stage, self._status.progress
        if st.stage != "starting":
            stage, progress = st.stage, max(progress, st.progress)
        if not st.done:
            self._status = JobStatus(state="running", stage=stage, progress=progress)
        elif st.cancelled or st.error == "cancelled":
            self._discard_outputs()
            self._status = JobStatus(state="cancelled", stage=stage, progress=progress, error="cancelled")
        elif st.error:
            self._status = JobStatus(state="failed", stage=stage, progress=progress, error=one_line(st.error))
        else:
            self._status = JobStatus(state="finished", stage="done", progress=1.0, paths=tuple(st.paths))
        return self._status

    def cancel(self) -> JobStatus:
        """Stop the engine (SIGINT, then a kill after CANCEL_GRACE_S) and drop its outputs."""
        if self.run is None or self._status.done:
            return self._status
        if isinstance(self.run, runner.SubprocessRun):
            self.run.cancel(grace_s=CANCEL_GRACE_S)
        else:
            self.run.cancel()
        self._discard_outputs()
        st = self.run.poll()
        self._status = JobStatus(state="cancelled", stage=st.stage if st.stage != "starting" else self._status.stage,
                                 progress=self._status.progress, error="cancelled")
        return self._status

    def _discard_outputs(self) -> None:
        run = self.run
        if run is None:
            return
        for p in list(run.state.paths) + sorted(run.workdir.glob("*.npz")):
            Path(p).unlink(missing_ok=True)
        run.state.paths = []

    def cleanup(self) -> None:
        """Delete the run's temporary folder (and stop the engine if it is still running)."""
        if self.run is not None:
            self.run.cleanup()
