"""Signals in the command-line front ends: Ctrl-C (SIGINT), SIGTERM and SIGHUP end a command through an
exception, so every cleanup runs (atomic writes remove their temp files, temporary folders are deleted)
and the exit code says which signal came (128 + its number: 130, 143, 129; the shells' convention).

- :func:`handle_signals`: a front end's ``main()`` wraps a command in it (main thread only; elsewhere it does
  nothing). The first signal raises :class:`Interrupted` (a ``KeyboardInterrupt``, so ``except Exception``
  blocks let it through); later ones are ignored while the cleanup runs.
- :func:`deferred`: a block that must not be cut in two (renaming a set of takes into place): a signal in
  it is held and delivered when the block ends.
- :func:`native_call`: a long native call that swallows Python exceptions (Blender's animation render runs
  Python handlers between frames but ignores their errors): inside :func:`handle_signals`, a signal during
  it runs ``cleanup`` and ends the process at once with 128 + the signal number.

Signal dispositions belong to the process, so the state here does too (one :class:`_State`).
Reference: Python's ``signal`` module documentation (handlers run in the main thread between bytecodes).
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator

from .errors import ParleyError, one_line

CAUGHT = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
SIGNAL_EXIT_BASE = 128


class Interrupted(KeyboardInterrupt):
    """A command stopped by a signal; ``exit_code`` is 128 + the signal number."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        return SIGNAL_EXIT_BASE + self.signum

    def message(self) -> str:
        """The line a front end prints: ``interrupted`` for Ctrl-C, ``terminated by SIGTERM`` otherwise."""
        if self.signum == getattr(signal, "SIGINT", None):
            return "interrupted"
        return f"terminated by {signal.Signals(self.signum).name}"


class _State:
    def __init__(self) -> None:
        self.installed = False
        self.stopping: int | None = None          # the signal being handled; later ones are ignored
        self.native: list[Callable[[], None]] = []  # cleanups of the native calls in progress


_STATE = _State()


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _on_signal(signum: int, frame) -> None:
    if _STATE.stopping is not None:
        return
    _STATE.stopping = signum
    if _STATE.native:
        for cleanup in reversed(_STATE.native):
            try:
                cleanup()
            except Exception:  # nothing may stop the exit
                pass
        exc = Interrupted(signum)
        os.write(2, f"parley: {exc.message()}\n".encode())
        os._exit(exc.exit_code)
    raise Interrupted(signum)


@contextlib.contextmanager
def handle_signals() -> Iterator[None]:
    """For the length of the block, SIGINT/SIGTERM/SIGHUP raise :class:`Interrupted` (see the module
    docstring); the previous handlers come back afterwards. Outside the main thread it does nothing."""
    if not _in_main_thread() or _STATE.installed:
        yield
        return
    previous = {s: signal.getsignal(s) for s in CAUGHT}
    for s in CAUGHT:
        signal.signal(s, _on_signal)
    _STATE.installed, _STATE.stopping = True, None
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        _STATE.installed, _STATE.stopping = False, None


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP for the length of the block and deliver a held one when it ends (to the
    handler that was in place: :func:`handle_signals`' or Python's default). Main thread only; elsewhere
    the block runs as it is."""
    if not _in_main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum, frame):
        held.append(signum)

    previous = {s: signal.getsignal(s) for s in CAUGHT}
    for s in CAUGHT:
        signal.signal(s, hold)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        if held:
            signal.raise_signal(held[0])


@contextlib.contextmanager
def native_call(cleanup: Callable[[], None]) -> Iterator[None]:
    """Mark a native call that swallows exceptions: under :func:`handle_signals` a signal during the block
    runs ``cleanup()`` (remove the temp files it writes) and exits the process with 128 + the signal
    number. Without :func:`handle_signals` (inside Blender's UI, say) nothing changes."""
    _STATE.native.append(cleanup)
    try:
        yield
    finally:
        _STATE.native.remove(cleanup)


def exit_report(exc: BaseException) -> tuple[str, int]:
    """The one stderr line and exit code a command-line front end gives a user error (ParleyError), a signal or
    Ctrl-C (:class:`Interrupted`, KeyboardInterrupt) or a file-system error no check foresaw (OSError)."""
    if isinstance(exc, ParleyError):
        return f"parley: error: {one_line(exc)}", exc.exit_code
    if isinstance(exc, Interrupted):
        return f"parley: {exc.message()}", exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return "parley: interrupted", SIGNAL_EXIT_BASE + signal.SIGINT
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"parley: error: {one_line(where)}{one_line(exc.strerror or exc)}", 2
    raise TypeError(f"not a reportable exception: {exc!r}")
