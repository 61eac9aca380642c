"""What a batch worker does with one dialogue line, wherever it runs (a local worker process, a Ray actor, or
the driver itself with ``--workers 0``): animate it, export what was asked, and return the files' bytes.

Workers write nothing into the output folder: the driver writes every file (atomically) and the results
table, so a worker on another machine needs no shared disk and a worker killed mid-line leaves nothing
half-written. A worker keeps one animator per (mode, model) (:class:`AnimatorCache`), built on its first
line and reused, so the models load once per worker. Every failure of a line becomes a failed
:class:`LineResult` with its reason; the worker goes on with the next line.

The content hash (:func:`content_hash`) of a line covers everything its outputs depend on: the audio's
bytes, the transcript, the settings (mode, model, fps, seed, emotion, body, the formats asked for) and the
engine version; the driver skips a line whose hash matches a done row.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from engine.animators.base import AnimateRequest
from rigs.core.errors import ParleyError, one_line

log = logging.getLogger(__name__)

CLIP_SUFFIX = ".npz"
OUTPUT_KINDS = {"clip": ("clips", ".npz"), "bvh": ("bvh", ".bvh"), "livelink": ("livelink", ".csv")}
MAX_WARNINGS = 20               # warnings kept per line


@dataclass(frozen=True)
class LineTask:
    """One line to animate. ``audio_bytes`` carries the recording itself where the worker may not see the
    driver's disk (Ray); then it is written to a private temp file of the same name."""

    id: str
    audio_path: str
    mode: str
    request: AnimateRequest
    bvh: bool = False
    livelink: bool = False
    audio_bytes: bytes | None = None
    attempt: int = 1
    partner_path: str | None = None      # the conversation partner's recording (the character listens)
    partner_bytes: bytes | None = None   # its bytes, where the worker may not see the driver's disk (Ray)


@dataclass(frozen=True)
class LineResult:
    """What a worker returns: ``files`` maps output kinds (:data:`OUTPUT_KINDS`) to their bytes on success;
    ``error`` is the reason of a failure."""

    id: str
    ok: bool
    error: str | None = None
    warnings: tuple[str, ...] = ()
    files: dict = field(default_factory=dict)
    audio_s: float | None = None
    wall_s: float = 0.0
    cpu_s: float = 0.0
    worker: str = ""
    attempt: int = 1


def content_hash(audio_sha256: str, task: LineTask, engine_version: str, partner_sha256: str | None = None) -> str:
    """The sha256 of everything a line's outputs depend on (module docstring)."""
    req = dataclasses.asdict(task.request)
    req.pop("device", None)           # where a model runs does not change what it computes
    req.pop("partner", None)          # the partner's audio counts by its hash
    for key in ("style", "style_weights"):
        if req.get(key) is None:      # no style code: the hash lines made before the fields had
            req.pop(key, None)
    doc = {"audio_sha256": audio_sha256, "mode": task.mode, "request": req, "bvh": bool(task.bvh),
           "livelink": bool(task.livelink), "engine_version": engine_version}
    if partner_sha256 is not None:
        doc["partner_sha256"] = partner_sha256
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=list).encode()).hexdigest()


def default_factory(mode: str, request: AnimateRequest):
    """The runtime's animator for ``mode`` (a module-level function, so it can be sent to a worker)."""
    from engine.runtime import create_animator

    return create_animator(mode, request)


class AnimatorCache:
    """One animator per (mode, model, checkpoint, device), made by ``factory(mode, request)`` on first use."""

    def __init__(self, factory: Callable | None = None):
        self.factory = factory or default_factory
        self.animators: dict[tuple, object] = {}

    def get(self, mode: str, request: AnimateRequest):
        key = (mode, request.model, request.checkpoint, request.device)
        if key not in self.animators:
            self.animators[key] = self.factory(mode, request)
        return self.animators[key]


class _Collect(logging.Handler):
    """Keeps the warnings logged while a line runs (they go to its row, not to the terminal)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.messages) < MAX_WARNINGS:
            try:
                self.messages.append(one_line(record.getMessage()))
            except Exception:  # a bad format string in someone's log call must not fail the line
                self.messages.append(one_line(str(record.msg)))


def animate_line(task: LineTask, animators: AnimatorCache) -> LineResult:
    """Animate ``task`` and return its files' bytes, or a failed result with the reason (never raises for a
    problem of the line; Ctrl-C and the like pass through)."""
    from engine.runtime import animate_file
    from rigs.core.clip import load_clip
    from rigs.formats.bvh import clip_bvh_text
    from rigs.formats.livelink import export_livelink_csv

    t0, c0 = time.perf_counter(), _cpu_s()
    worker = f"{os.uname().nodename}:{os.getpid()}"
    collect = _Collect()
    root = logging.getLogger()
    root.addHandler(collect)
    audio_s = None
    try:
        with tempfile.TemporaryDirectory(prefix="parley-batch-") as tmp:
            audio = Path(task.audio_path)
            if task.audio_bytes is not None:
                audio = Path(tmp) / "in" / audio.name
                audio.parent.mkdir()
                audio.write_bytes(task.audio_bytes)
            partner = None if task.partner_path is None else Path(task.partner_path)
            if partner is not None and task.partner_bytes is not None:
                partner = Path(tmp) / "partner" / partner.name
                partner.parent.mkdir()
                partner.write_bytes(task.partner_bytes)
            clip_path = Path(tmp) / f"{task.id}{CLIP_SUFFIX}"
            animator = animators.get(task.mode, task.request)
            animate_file(audio, clip_path, mode=task.mode, request=task.request, animator=animator, partner=partner)
            files = {"clip": clip_path.read_bytes()}
            clip = load_clip(clip_path)
            if task.bvh:
                files["bvh"] = clip_bvh_text(clip).encode("utf-8")
            if task.livelink:
                ll = export_livelink_csv(clip, Path(tmp) / f"{task.id}.csv")
                files["livelink"] = ll.read_bytes()
            audio_s = float(clip.duration_s)
        ok, error = True, None
    except ParleyError as exc:
        ok, error, files = False, one_line(exc), {}
    except MemoryError:
        ok, error, files = False, "out of memory", {}
    except Exception as exc:  # a bug on one line must not end the batch; its traceback goes to the log
        log.exception("line %s failed", task.id)
        ok, error, files = False, one_line(f"internal error: {type(exc).__name__}: {exc}"), {}
    finally:
        root.removeHandler(collect)
    return LineResult(id=task.id, ok=ok, error=error, warnings=tuple(collect.messages), files=files,
                      audio_s=audio_s, wall_s=time.perf_counter() - t0, cpu_s=_cpu_s() - c0,
                      worker=worker, attempt=task.attempt)



def _cpu_s() -> float:
    """CPU seconds of this process and of the child processes it has waited for (espeak-ng for g2p)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class LineActor:
    """A worker that keeps its animators between lines: the body of a Ray actor (engine.batch.ray_pool)."""

    def __init__(self, factory: Callable | None = None):
        self.animators = AnimatorCache(factory)

    def run(self, task: LineTask) -> LineResult:
        return animate_line(task, self.animators)
