"""Animator factories for testing the batch's fault handling: a worker that dies (``SIGKILL`` to itself) on
chosen lines, as a crash in native code or the out-of-memory killer would end it. Module-level and picklable,
so spawned workers and Ray actors can build them."""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DyingFactory:
    """Builds the registry's animator, wrapped so that the worker kills itself when it animates a recording
    whose file name contains ``die_on``, at most ``times`` times (counted by files in ``marker_dir``, shared
    by every worker)."""

    die_on: str
    marker_dir: str
    times: int = 1

    def __call__(self, mode, request):
        from engine.runtime import create_animator

        return _Dying(create_animator(mode, request), self)


class _Dying:
    def __init__(self, inner, spec: DyingFactory):
        self.inner, self.spec = inner, spec
        self.name, self.model_id = inner.name, inner.model_id

    def animate(self, audio, request, *, progress=None):
        if self.spec.die_on in audio.source_name:
            markers = Path(self.spec.marker_dir)
            if len(list(markers.glob("death-*"))) < self.spec.times:
                (markers / f"death-{os.getpid()}").touch()
                os.kill(os.getpid(), signal.SIGKILL)
        return self.inner.animate(audio, request, progress=progress)
