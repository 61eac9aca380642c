"""Run the Parley engine for the add-on: in-process in a thread, or as a subprocess (pure Python, no bpy).

Both runs are polled from a Blender modal operator's timer and can be cancelled. The subprocess runs
``PYTHON -m engine animate AUDIO -o CLIP --progress-json ...`` (see ``engine/cli.py``): JSON lines
``{"stage": ..., "progress": 0..1}`` on stderr, one path per written take on stdout, exit 2 with one
error line for a user error. The in-process run calls ``engine.runtime.animate_file`` with a progress
callback. Output goes into a temporary folder owned by the run and deleted by :meth:`Run.cleanup`.
"""
from __future__ import annotations

import functools
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from . import vocab
from .vocab import errors


@dataclass(frozen=True)
class GenerateSpec:
    """What to generate. ``emotion`` holds (name, intensity) pairs with intensity > 0."""

    audio_path: str
    mode: str | None = None        # a name from the engine's registry (``parley modes``); None: its default
    seed: int = 0
    samples: int = 1
    fps: float = 30.0
    emotion: tuple[tuple[str, float], ...] = ()
    transcript: str | None = None
    body: bool = True

    def emotion_spec(self) -> str | None:
        parts = [f"{n}:{min(1.0, max(0.0, v)):.3f}" for n, v in self.emotion if v > 0]
        return ",".join(parts) or None


@dataclass
class RunState:
    stage: str = "starting"
    progress: float = 0.0
    done: bool = False
    error: str | None = None
    paths: list[str] = field(default_factory=list)
    cancelled: bool = False
    history: list[tuple[str, float]] = field(default_factory=list)  # every (stage, progress) reported


class RunError(errors.ParleyError):
    """The engine could not be started (interpreter missing or not executable)."""


def engine_root() -> Path | None:
    """The Parley checkout this add-on runs from (its ``engine`` folder beside ``rigs``), or None for the
    built extension, whose ``rigs`` is bundled and which has no engine."""
    if vocab.BUNDLED:
        return None
    root = Path(vocab.clip.__file__).resolve().parents[2]  # rigs/core/clip.py -> the checkout
    return root if (root / "engine").is_dir() else None


def engine_in_process() -> bool:
    """Whether the real engine can run inside this Python (it is importable here)."""
    try:
        from engine import runtime  # noqa: F401  (the engine is optional inside Blender)
    except ImportError:
        return False
    return True


def check_interpreter(python: str) -> str | None:
    """Why ``python`` cannot be used as the engine interpreter, or None when it looks usable."""
    if not python:
        return "no engine interpreter set (Preferences > Add-ons > Parley)"
    p = Path(python).expanduser()
    if not p.is_file():
        return f"engine interpreter not found: {p}"
    if not os.access(p, os.X_OK):
        return f"engine interpreter is not executable: {p}"
    return None


def animate_command(python: str, spec: GenerateSpec, out_path: str) -> list[str]:
    """The ``python -m engine animate`` command line for ``spec``."""
    cmd = [python, "-m", "engine", "animate", spec.audio_path, "-o", out_path, "--progress-json",
           *(["--mode", spec.mode] if spec.mode else []), "--seed", str(int(spec.seed)), "--samples", str(int(spec.samples)),
           "--fps", f"{float(spec.fps):g}"]
    if spec.emotion_spec():
        cmd += ["--emotion", spec.emotion_spec()]
    if spec.transcript and spec.transcript.strip():
        cmd += ["--transcript", spec.transcript.strip()]
    if not spec.body:
        cmd.append("--no-body")
    return cmd


@dataclass(frozen=True)
class ModeInfo:
    """One animator the engine offers (``parley modes --json``)."""

    name: str
    label: str
    description: str
    available: bool = True
    why: str | None = None


@functools.lru_cache(maxsize=8)
def list_modes(python: str, engine_root: str | None = None, *, timeout_s: float = 60.0) -> tuple[ModeInfo, ...]:
    """The engine's animators, asked of ``python -m engine modes --json`` (once per interpreter and folder).
    Raises RunError when the engine cannot be asked."""
    why = check_interpreter(python)
    if why:
        raise RunError(why)
    env = dict(os.environ)
    if engine_root:
        env["PYTHONPATH"] = os.pathsep.join([str(engine_root)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH")
                                                                    else []))
    try:
        r = subprocess.run([python, "-m", "engine", "modes", "--json"], capture_output=True, text=True,
                           timeout=timeout_s, cwd=engine_root or None, env=env)
        rows = json.loads(r.stdout) if r.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError) as e:
        raise RunError(f"cannot ask the engine for its modes: {e}") from None
    if not isinstance(rows, list) or not rows:
        last = (r.stderr.strip().splitlines() or [f"exit {r.returncode}"])[-1]
        raise RunError(f"the engine did not list its modes ({last})")
    return tuple(ModeInfo(str(d["name"]), str(d.get("label", d["name"])), str(d.get("description", "")),
                          bool(d.get("available", True)), d.get("why")) for d in rows)


def modes_in_process() -> tuple[ModeInfo, ...]:
    """The animators of the engine importable in this process."""
    from engine import runtime

    return tuple(ModeInfo(d["name"], d["label"], d["description"], d["available"], d["why"])
                 for d in runtime.ANIMATORS.describe())


def parse_progress(line: str) -> tuple[str, float] | None:
    """``(stage, progress)`` from one JSON progress line, or None for any other line."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        d = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(d, dict) or "stage" not in d:
        return None
    try:
        return str(d["stage"]), min(1.0, max(0.0, float(d.get("progress", 0.0))))
    except (TypeError, ValueError):
        return None


class Run:
    """A started engine run. ``poll()`` returns the current :class:`RunState`."""

    def __init__(self):
        self.state = RunState()
        self.workdir = Path(tempfile.mkdtemp(prefix="parley_gen_"))
        self.out_path = self.workdir / "clip.npz"

    def poll(self) -> RunState:
        return self.state

    def cancel(self) -> None:
        self.state.cancelled = True

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


class SubprocessRun(Run):
    """The engine as a child process of ``python`` (``cwd``/``PYTHONPATH`` = ``engine_root`` if given)."""

    def __init__(self, python: str, spec: GenerateSpec, *, engine_root: str | None = None):
        why = check_interpreter(python)
        if why:
            raise RunError(why)
        super().__init__()
        env = dict(os.environ)
        if engine_root:
            env["PYTHONPATH"] = os.pathsep.join([str(engine_root)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH")
                                                                        else []))
        env["PYTHONUNBUFFERED"] = "1"
        self.python = python
        try:
            self.proc = subprocess.Popen(animate_command(python, spec, str(self.out_path)),
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                         cwd=engine_root or None, env=env)
        except OSError as e:
            self.cleanup()
            raise RunError(f"cannot start the engine interpreter {python}: {e.strerror or e}") from None
        self._lines: queue.Queue = queue.Queue()
        self._other: list[str] = []
        self._stdout: list[str] = []
        self._readers = [threading.Thread(target=self._read, args=(self.proc.stderr, "err"), daemon=True),
                         threading.Thread(target=self._read, args=(self.proc.stdout, "out"), daemon=True)]
        for t in self._readers:
            t.start()

    def _read(self, stream, tag: str) -> None:
        for line in stream:
            self._lines.put((tag, line.rstrip("\n")))
        stream.close()

    def poll(self) -> RunState:
        while True:
            try:
                tag, line = self._lines.get_nowait()
            except queue.Empty:
                break
            if tag == "out":
                if line.strip():
                    self._stdout.append(line.strip())
                continue
            prog = parse_progress(line)
            if prog:
                self.state.stage, self.state.progress = prog
                self.state.history.append(prog)
            elif line.strip():
                self._other.append(line.strip())
        rc = self.proc.poll()
        if rc is not None and not any(t.is_alive() for t in self._readers) and self._lines.empty():
            self.state.done = True
            if self.state.cancelled:
                self.state.error = "cancelled"
            elif rc == 0:
                self.state.paths = [p for p in self._stdout if p.endswith(".npz")]
                if not self.state.paths:
                    self.state.error = "the engine wrote no clip"
            else:
                self.state.error = self._explain(rc)
        return self.state

    def _explain(self, rc: int) -> str:
        text = "\n".join(self._other)
        if "No module named engine" in text or "No module named 'engine'" in text:
            return (f"the Parley engine is not installed for {self.python}; set the engine project folder "
                    "in the add-on preferences")
        last = self._other[-1] if self._other else ""
        if rc == 2 and last:
            return last.removeprefix("parley: ").removeprefix("error: ")
        return f"engine failed (exit {rc}){': ' + last if last else ''}"

    def cancel(self, *, grace_s: float = 3.0) -> None:
        """Interrupt the engine (SIGINT; SIGTERM on Windows), kill it if still running after ``grace_s``."""
        super().cancel()
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(signal.SIGINT if sys.platform != "win32" else signal.SIGTERM)
                self.proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=3)
            except OSError:
                pass
        for t in self._readers:  # the pipes close with the process
            t.join(timeout=1)
        self.poll()

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=3)
        super().cleanup()


class _Cancelled(Exception):
    pass


class InProcessRun(Run):
    """The engine's ``animate_file`` in a worker thread of this process (needs the real engine)."""

    def __init__(self, spec: GenerateSpec, *, animate_file=None):
        super().__init__()
        from engine import runtime  # the real engine: only when importable here

        self._runtime = runtime
        self._animate_file = animate_file or runtime.animate_file
        self._spec = spec
        self._thread = threading.Thread(target=self._work, daemon=True)
        self._thread.start()

    def _progress(self, stage: str, frac: float) -> None:
        if self.state.cancelled:
            raise _Cancelled()
        self.state.stage, self.state.progress = stage, min(1.0, max(0.0, float(frac)))
        self.state.history.append((self.state.stage, self.state.progress))

    def _work(self) -> None:
        rt = self._runtime
        s = self._spec
        try:
            req = rt.AnimateRequest(fps=float(s.fps), seed=int(s.seed), emotion=rt.parse_emotion(s.emotion_spec()),
                                    transcript=s.transcript or None, body=s.body)
            mode = {"mode": s.mode} if s.mode else {}
            paths = self._animate_file(s.audio_path, self.out_path, request=req, **mode,
                                       samples=int(s.samples), progress=self._progress)
            self.state.paths = [str(p) for p in paths]
        except _Cancelled:
            self.state.error = "cancelled"
        except rt.ParleyError as e:  # the engine's own error family
            self.state.error = str(e)
        except Exception as e:  # a bug in the engine: keep the add-on alive, say what happened
            self.state.error = f"engine crashed: {e.__class__.__name__}: {e}"
        finally:
            self.state.done = True

    def poll(self) -> RunState:
        if self.state.cancelled and self.state.done and not self.state.error:
            self.state.error = "cancelled"
        return self.state

    def cancel(self) -> None:
        super().cancel()
        self._thread.join(timeout=5)
        self.poll()
