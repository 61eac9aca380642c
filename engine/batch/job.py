"""The batch driver: read the manifest, skip the lines already done, have workers animate the rest, write each
line's files and record it.

Output layout (the same for local workers and Ray)::

    DIR/results.sqlite       the results table (engine.batch.store)
    DIR/clips/ID.npz         one clip per line
    DIR/bvh/ID.bvh           with --bvh
    DIR/livelink/ID.csv      with --livelink

Resume: a line is skipped when its row is ``done`` with the same content hash (engine.batch.work.content_hash:
audio bytes, transcript, settings, engine version) and its files are there; everything else runs again
(failed lines included). Each line's files are renamed into place together (rigs.core.files.atomic_paths)
before its row says ``done``, so a crash, ``kill -9`` or Ctrl-C at any moment loses at most the lines in
flight and leaves no half-written file; the temp files of a killed run are removed by the next one. One
batch at a time may use a folder (a lock file). A full disk stops the batch with an OutputError (the lines
done so far stay done).
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from engine.animators.base import AnimateRequest
from engine.animators.registry import ANIMATORS, DEFAULT_MODE
from engine.batch.manifest import Manifest, Row, read_manifest
from engine.batch.store import DB_NAME, ResultStore
from engine.batch.work import OUTPUT_KINDS, LineResult, LineTask, content_hash
from engine.animators.emotion_presets import resolve_emotion
from rigs.core.errors import ConfigError, OutputError, ParleyError, one_line
from rigs.core.files import atomic_paths, check_free_space, sha256_file
from rigs.core.version import __version__

log = logging.getLogger(__name__)

LOCK_NAME = ".batch.lock"
MIN_FREE_BYTES = 16 * 1024 * 1024      # free space asked of the output folder before a batch starts
WRITE_MARGIN_BYTES = 1024 * 1024       # asked beyond a line's own files before they are written

Progress = Callable[[int, int, int], None]    # (lines finished, lines to run, lines failed)


@dataclass(frozen=True)
class BatchConfig:
    """Settings of a batch; a row's own mode and seed override ``mode`` and ``seed``. ``workers``: processes
    (or Ray actors) at once, None for one per CPU; 0 runs the lines in this process. ``ray``: None for local
    workers, ``auto``, ``local`` or a cluster address (engine.batch.ray_pool)."""

    mode: str = DEFAULT_MODE
    fps: float = 30.0
    seed: int = 0
    body: bool = True
    bvh: bool = False
    livelink: bool = False
    workers: int | None = None
    ray: str | None = None


@dataclass(frozen=True)
class BatchSummary:
    results: Path
    lines: int          # rows with an id in the manifest
    done: int           # animated in this run
    skipped: int        # already done with the same content hash
    failed: int
    rejected: int       # rows without a usable id (duplicates among them)
    warnings: int       # lines with warnings
    wall_s: float
    audio_s: float      # seconds of audio animated in this run


def output_path(out_dir: Path, line_id: str, kind: str) -> Path:
    sub, ext = OUTPUT_KINDS[kind]
    return out_dir / sub / f"{line_id}{ext}"


def run_batch(manifest_path, out_dir, *, config: BatchConfig = BatchConfig(), progress: Progress | None = None,
              factory: Callable | None = None) -> BatchSummary:
    """Run the batch (module docstring). ``factory(mode, request)`` builds the workers' animators (default:
    the registry's); it must be a picklable module-level callable. Raises ConfigError for an unusable
    manifest or settings, OutputError for an output folder that cannot be written (full disk included)."""
    t0 = time.perf_counter()
    if config.workers is not None and config.workers < 0:
        raise ConfigError(f"--workers must be 0 or more, got {config.workers}")
    if config.workers == 0 and config.ray is not None:
        raise ConfigError("--workers 0 runs the lines in this process; it cannot be combined with --ray")
    if config.ray is not None:
        from engine.batch.ray_pool import RAY_INSTALL_HINT, ray_available

        if not ray_available():
            raise ConfigError(RAY_INSTALL_HINT)
    if config.mode not in ANIMATORS.names():
        raise ConfigError(f"unknown mode {config.mode!r}; choose from {', '.join(ANIMATORS.names())}")
    manifest = read_manifest(manifest_path)
    out = Path(out_dir)
    try:
        for sub, _ in OUTPUT_KINDS.values():
            (out / sub).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    check_free_space(out, MIN_FREE_BYTES, what=f"the batch into {out}")
    with _folder_lock(out):
        _remove_stray_temps(out)
        store = ResultStore(out / DB_NAME)
        try:
            return _run(manifest, out, store, config, progress or (lambda done, total, failed: None), factory, t0)
        finally:
            store.close()


def _run(manifest: Manifest, out: Path, store: ResultStore, config: BatchConfig, progress: Progress,
         factory, t0: float) -> BatchSummary:
    for w in manifest.warnings:
        log.warning("%s", w)
    for r in manifest.rejected:
        log.warning("manifest line %d rejected: %s", r.line, r.reason)
    store.set_rejected(manifest.rejected)
    tasks: list[LineTask] = []
    bases: dict[str, dict] = {}
    failed_rows, queued_rows = [], []
    skipped = 0
    for row in manifest.rows:
        base, task, error = _plan(row, manifest, config)
        if error is not None:
            failed_rows.append({**base, "status": "failed", "error": error})
            continue
        old = store.get(row.id)
        if old is not None and old["status"] == "done" and old["content_hash"] == base["content_hash"] and all(
                old[k] and (out / old[k]).is_file() for k in _kinds(task)):
            skipped += 1
            continue
        tasks.append(task)
        bases[row.id] = base
        queued_rows.append({**base, "status": "queued"})
    store.put(failed_rows + queued_rows)
    for r in failed_rows:
        log.warning("line %s (manifest line %d) failed: %s", r["id"], r["line"], r["error"])
    total = len(tasks)
    done = failed = warned = 0
    audio_s = 0.0
    progress(0, total, 0)
    results = _executor(tasks, config, factory) if tasks else (r for r in ())
    with contextlib.closing(results):
        for res in results:
            base = bases[res.id]
            warnings = [*base.pop("warnings_planned"), *res.warnings]
            row = {**base, "attempts": res.attempt, "audio_s": res.audio_s, "wall_s": res.wall_s,
                   "cpu_s": res.cpu_s, "worker": res.worker, "warnings": warnings}
            if res.ok:
                paths = _write_outputs(out, res)
                row.update(status="done", error=None, **{k: str(p.relative_to(out)) for k, p in paths.items()})
                done += 1
                audio_s += res.audio_s or 0.0
            else:
                row.update(status="failed", error=res.error)
                failed += 1
                log.warning("line %s failed: %s", res.id, res.error)
            warned += bool(warnings)
            store.put([row])
            progress(done + failed, total, failed)
    return BatchSummary(results=out / DB_NAME, lines=len(manifest.rows), done=done, skipped=skipped,
                        failed=failed + len(failed_rows), rejected=len(manifest.rejected), warnings=warned,
                        wall_s=time.perf_counter() - t0, audio_s=audio_s)


def _kinds(task: LineTask) -> list[str]:
    return ["clip", *(["bvh"] if task.bvh else []), *(["livelink"] if task.livelink else [])]


def _plan(row: Row, manifest: Manifest, config: BatchConfig) -> tuple[dict, LineTask | None, str | None]:
    """(the row's results columns, its task, None) or (columns, None, why it cannot run)."""
    base = {"id": row.id, "line": row.line, "audio": row.audio, "transcript": row.transcript,
            "emotion": row.emotion, "mode": row.mode or config.mode, "model": row.model,
            "character": row.character, "seed": None, "partner": row.partner, "content_hash": None,
            "attempts": 0, "warnings": [], "error": None, "clip": None, "bvh": None, "livelink": None}
    planned_warnings: list[str] = []
    base["warnings"] = planned_warnings
    if row.problem:
        return base, None, row.problem
    mode = row.mode or config.mode
    if mode not in ANIMATORS.names():
        return base, None, f"unknown mode {mode!r}; choose from {', '.join(ANIMATORS.names())}"
    try:
        seed = int(row.seed) if row.seed is not None else config.seed
    except ValueError:
        return base, None, f"seed {row.seed!r} is not a whole number"
    base["seed"] = seed
    try:
        preset = resolve_emotion(row.emotion)
    except ParleyError as exc:
        return base, None, one_line(exc)
    audio, audio_sha, problem = _input_file(manifest, row.audio, "audio file")
    if problem:
        return base, None, problem
    partner, partner_sha = None, None
    if row.partner:
        partner, partner_sha, problem = _input_file(manifest, row.partner, "partner audio file")
        if problem:
            return base, None, problem
    request = AnimateRequest(fps=float(config.fps), seed=seed, **preset.request_fields(), transcript=row.transcript,
                             body=config.body, model=row.model)
    task = LineTask(id=row.id, audio_path=str(audio), mode=mode, request=request, bvh=config.bvh,
                    livelink=config.livelink, partner_path=None if partner is None else str(partner))
    base["content_hash"] = content_hash(audio_sha, task, __version__, partner_sha)
    base["warnings_planned"] = planned_warnings
    return base, task, None


def _input_file(manifest: Manifest, name: str, what: str) -> tuple[Path, str | None, str | None]:
    """(path, sha256, None) for a line's input file, or (path, None, why it cannot be used)."""
    path = manifest.resolve(name)
    if not path.is_file():
        return path, None, f"{what} {path} {'is a folder' if path.is_dir() else 'not found'}"
    try:
        return path, sha256_file(path), None
    except OSError as exc:
        return path, None, f"cannot read {what} {path}: {exc.strerror or exc}"


def _executor(tasks: list[LineTask], config: BatchConfig, factory) -> Iterator[LineResult]:
    if config.ray is not None:
        from engine.batch.ray_pool import run_ray

        return run_ray(tasks, address=config.ray, workers=config.workers, factory=factory)
    from engine.batch.local import run_local

    workers = config.workers if config.workers is not None else (os.cpu_count() or 1)
    return run_local(tasks, workers=workers, factory=factory)


def _write_outputs(out: Path, res: LineResult) -> dict[str, Path]:
    """Rename a line's files into place together (all or none); OutputError on a full disk."""
    kinds = list(res.files)
    paths = [output_path(out, res.id, k) for k in kinds]
    need = sum(len(res.files[k]) for k in kinds) + WRITE_MARGIN_BYTES
    check_free_space(out, need, what=f"the files of line {res.id}")
    with atomic_paths(paths) as tmps:
        for tmp, k in zip(tmps, kinds):
            tmp.write_bytes(res.files[k])
    return dict(zip(kinds, paths))


@contextlib.contextmanager
def _folder_lock(out: Path) -> Iterator[None]:
    """One batch at a time per output folder (an advisory lock the kernel drops when the process dies)."""
    try:
        fd = os.open(out / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError(f"cannot write in {out}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"another batch is running into {out}; wait for it or choose another --out") from None
        yield
    finally:
        os.close(fd)


def _remove_stray_temps(out: Path) -> None:
    """Remove the temp files a killed run left in the output folders (rigs.core.files names them
    ``.NAME.XXXXXXXX.tmp.EXT``)."""
    for sub, _ in OUTPUT_KINDS.values():
        for p in (out / sub).glob(".*.tmp*"):
            with contextlib.suppress(OSError):
                p.unlink()
                log.info("removed %s, left by an interrupted run", p)

