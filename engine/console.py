"""What the command line shows while it works: progress bars on stderr, JSON lines when asked, and a child
process's own chatter kept out of sight.

* :class:`StageBars`: ``progress(stage, fraction)`` callbacks (:mod:`engine.runtime`) drawn as one tqdm bar
  per stage on stderr; a bar appears only for a stage that lasts (``STAGE_BAR_DELAY_S``), so quick stages
  leave no line. The fraction is of the whole run, so each bar shows the run's percentage, the stage's own
  time, and the time the whole run has left at its average pace so far.
* :class:`FrameBar`: ``progress(frames_done, n_frames)`` as a bar of frames with rate and time left.
* :func:`json_progress`: the machine format instead, one ``{"stage": ..., "progress": ...}`` line per
  report on stderr (``--progress-json``; the Blender add-on reads it, :mod:`addon.runner`).
* :func:`run_child`: runs a child process (``parley render`` runs Blender in one), turns its JSON progress
  lines into callbacks and its result line into the return value, and keeps everything else it prints
  (Blender's "Video append frame" and EGL lines) in a buffer, shown live with ``-v`` or after a failure.

Standard output carries only results; everything here writes to stderr.

References: tqdm documentation (``tqdm.tqdm``: ``file``, ``delay``, ``initial``, ``bar_format``,
``tqdm.write``); Python documentation, ``subprocess.Popen``.
"""
from __future__ import annotations

import collections
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from rigs.core.signals import Interrupted

STAGE_BAR_DELAY_S = 0.5      # a stage's bar appears only if the stage is still running after this long
BAR_MIN_INTERVAL_S = 0.25    # bars redraw at most this often
STAGE_WIDTH = 9              # characters of the stage name column
CHILD_LOG_LINES = 60         # lines of a failed child's own output shown with its error
BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar}| {elapsed}{postfix}"
ETA_MIN_FRACTION = 0.02      # the run's time left is estimated once this much of it is done
TIMER_FORMAT = "{desc} {elapsed}"
FRAME_BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} frames [{elapsed}<{remaining}, {rate_fmt}]"


def _tqdm():
    from tqdm import tqdm

    return tqdm


class StageBars:
    """A ``progress(stage, fraction)`` callback that draws one bar per lasting stage on ``file`` (stderr).

    ``fraction`` is the whole run's progress in [0, 1]; call :meth:`close` (or use as a context manager)
    when the run ends, also after a failure."""

    def __init__(self, *, file=None):
        self.file = file if file is not None else sys.stderr
        self.stage: str | None = None
        self.bar = None
        self.t0: float | None = None

    def __call__(self, stage: str, fraction: float | None) -> None:
        """Report ``stage`` at ``fraction`` of the run (None: a stage that cannot tell, shown as a timer)."""
        now = time.monotonic()
        self.t0 = now if self.t0 is None else self.t0
        if fraction is None:
            if stage != self.stage:
                self._finish(0.0)
                self.stage = stage
                self.bar = _tqdm()(total=None, desc=f"{stage:<{STAGE_WIDTH}}", file=self.file,
                                   delay=STAGE_BAR_DELAY_S, mininterval=BAR_MIN_INTERVAL_S,
                                   bar_format=TIMER_FORMAT, leave=True)
            return
        f = min(1.0, max(0.0, float(fraction)))
        if stage != self.stage:
            self._finish(100.0 * f)
            self.stage = stage
            self.bar = _tqdm()(total=100.0, initial=100.0 * f, desc=f"{stage:<{STAGE_WIDTH}}", file=self.file,
                               delay=STAGE_BAR_DELAY_S, mininterval=BAR_MIN_INTERVAL_S, bar_format=BAR_FORMAT,
                               leave=True, dynamic_ncols=True)
        elif self.bar is not None and self.bar.total is not None and 100.0 * f > self.bar.n:
            if f >= ETA_MIN_FRACTION:
                left_s = (now - self.t0) * (1.0 - f) / f
                self.bar.set_postfix_str(f"about {self.bar.format_interval(left_s)} left", refresh=False)
            self.bar.update(100.0 * f - self.bar.n)

    def tick(self) -> None:
        """Redraw the current bar (its clock moves even when its stage reports nothing)."""
        if self.bar is not None:
            self.bar.update(0)

    def _finish(self, pct: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str("", refresh=False)
            if self.bar.total is not None and pct > self.bar.n:
                self.bar.update(pct - self.bar.n)
            else:
                self.bar.update(0)
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        self._finish(100.0 if self.stage == "done" else 0.0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FrameBar:
    """A ``progress(frames_done, n_frames)`` callback drawn as one bar of frames on ``file`` (stderr)."""

    def __init__(self, desc: str = "render", *, file=None):
        self.file = file if file is not None else sys.stderr
        self.desc = desc
        self.bar = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = _tqdm()(total=int(total), desc=f"{self.desc:<{STAGE_WIDTH}}", file=self.file,
                               mininterval=BAR_MIN_INTERVAL_S, bar_format=FRAME_BAR_FORMAT, leave=True,
                               dynamic_ncols=True)
        if done > self.bar.n:
            self.bar.update(int(done) - self.bar.n)

    def tick(self) -> None:
        if self.bar is not None:
            self.bar.update(0)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def json_progress(file=None):
    """A ``progress(stage, fraction)`` callback writing ``{"stage": ..., "progress": ...}`` lines (4 decimals)."""
    out = file if file is not None else sys.stderr

    def report(stage: str, fraction: float, **extra) -> None:
        out.write(json.dumps({"stage": stage, "progress": round(float(fraction), 4), **extra}) + "\n")
        out.flush()

    return report


def message(text: str, *, file=None) -> None:
    """One line on stderr that does not break a bar being drawn."""
    _tqdm().write(text, file=file if file is not None else sys.stderr)


@dataclass
class ChildRun:
    """What :func:`run_child` saw: the exit code, the child's result (its last JSON object on stdout), its
    warnings and error lines, and the rest of its output (the last :data:`CHILD_LOG_LINES` lines)."""

    returncode: int
    result: dict | None
    warnings: list[str]
    errors: list[str]
    log: list[str]


def _parse(line: str):
    s = line.strip()
    if not (s.startswith("{") and s.endswith("}")):
        return None
    try:
        d = json.loads(s)
    except ValueError:
        return None
    return d if isinstance(d, dict) else None


def run_child(cmd, *, on_progress=None, on_tick=None, verbose: bool = False, env=None, cwd=None,
              stop_timeout_s: float = 30.0) -> ChildRun:
    """Run ``cmd`` with its stdout and stderr captured line by line.

    JSON lines on its stderr with a ``stage`` key go to ``on_progress(dict)``; ``{"warning": ...}`` lines are
    collected; lines starting ``parley: error:`` are its errors; the last JSON object on its stdout is its
    result. Every other line is its own chatter: echoed to stderr as it comes when ``verbose``, else kept
    (the last :data:`CHILD_LOG_LINES`) for the caller to show if the child fails. A signal that stops this
    process (:class:`rigs.core.signals.Interrupted`: Ctrl-C, SIGTERM, SIGHUP) is passed on to the child, which
    gets ``stop_timeout_s`` to clean up before it is killed; then the interrupt is raised.
    ``on_tick()`` is called whenever the child has been quiet for :data:`BAR_MIN_INTERVAL_S`."""
    proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            errors="replace", bufsize=1, env=env, cwd=cwd)
    lines: collections.deque = collections.deque()
    cond = threading.Condition()

    def pump(stream, name):
        for line in stream:
            with cond:
                lines.append((name, line.rstrip("\n")))
                cond.notify()
        with cond:
            lines.append((name, None))
            cond.notify()

    readers = [threading.Thread(target=pump, args=(proc.stdout, "out"), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, "err"), daemon=True)]
    for t in readers:
        t.start()
    result, warnings, errors = None, [], []
    log: collections.deque = collections.deque(maxlen=CHILD_LOG_LINES)
    open_streams = 2
    try:
        while open_streams:
            with cond:
                if not lines and not cond.wait(timeout=BAR_MIN_INTERVAL_S):
                    name, line = "", ""
                else:
                    name, line = lines.popleft()
            if not name:
                if on_tick is not None:
                    on_tick()
                continue
            if line is None:
                open_streams -= 1
                continue
            d = _parse(line)
            if name == "err" and d is not None and "stage" in d:
                if on_progress is not None:
                    on_progress(d)
                continue
            if name == "err" and d is not None and "warning" in d:
                warnings.append(str(d["warning"]))
                continue
            if name == "out" and d is not None:
                result = d
                continue
            if name == "err" and line.startswith("parley: error:"):
                errors.append(line)
                continue
            log.append(line)
            if verbose:
                message(line)
        returncode = proc.wait()
    except BaseException as exc:
        if isinstance(exc, Interrupted) and proc.poll() is None:
            try:
                proc.send_signal(exc.signum)
            except OSError:
                pass
        try:
            proc.wait(timeout=stop_timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    return ChildRun(returncode, result, warnings, errors, list(log))
