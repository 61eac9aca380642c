"""``parley corpus build``: source items -> teacher labels -> windows in shards, resumable and deterministic.

The build is planned first (:func:`plan_rows`): every (source item, teacher take, augmentation) becomes one
manifest row with its own seeds, emotion mix and augmentation chain, all derived from ``--seed`` and the
row's identity (not from the order work is done in). Rows are grouped into shards per split in plan order
(``BuildConfig.shard_rows`` rows each), so the same command always makes the same shards.

A shard is written atomically (:class:`.shards.ShardWriter`), then its *part record*
(``parts/<shard>.json``: its manifest rows, kept or skipped, and the sha256 of each of its files) is written
atomically; a shard counts as done only when its part record exists, so a killed build resumes by redoing
the shards without one. When every shard is done, ``manifest.jsonl`` (rows in plan order) and
``checksums.sha256`` (``sha256sum -c`` format, every shard file) are written. ``build_log.json`` holds the
wall and CPU times (the only file that differs between two builds with the same seed).

Pseudo-labelled rows (``--sources pseudo``) record in the manifest what recognised their phones
(``phones_from``); their labels are what ``parley animate`` gives without a transcript, errors included.

Bad input (an unreadable file, NaN samples or labels, a transcript that does not align, audio and labels
more than :data:`MAX_FRAMES_APART` frames apart) is skipped with a warning naming the file and kept in the
manifest as ``status: "skipped"`` with the reason; nothing is truncated.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.training.corpus.shards import (CORPUS_FILE, MANIFEST_FILE, PARTIAL_SUFFIX, PHONE_LABELS, SHARDS_DIR, SPLITS, TARGETS,
                                           CorpusSpec, ShardWriter, Window, read_corpus_json, row_id,
                                           write_corpus_json, write_manifest)
from engine.training.corpus.sources import SourceItem, real_items, untranscribed_items
from rigs.core.emotions import EMOTIONS
from rigs.core.errors import ConfigError, ParleyError
from rigs.core.files import atomic_write, data_root, sha256_file

log = logging.getLogger(__name__)

PARTS_DIR = "parts"
CHECKSUMS_FILE = "checksums.sha256"
BUILD_LOG_FILE = "build_log.json"
SOURCES = ("real", "synthetic", "pseudo")
MAX_FRAMES_APART = 2.0        # audio and labels further apart than this are bad input
MAX_TAKES = 16
MAX_AUGMENT = 16
# progress(stage, fraction of the build) stages
STAGE_PLAN, STAGE_BUILD, STAGE_DONE = "plan", "corpus", "done"


@dataclass(frozen=True)
class BuildConfig:
    """One build. ``minutes``: minutes of source speech (before takes and augmented copies); with synthetic
    speech among the sources, real speech fills up to ``real_share`` of them (all of it when there is less),
    then pseudo-labelled speech (``"pseudo"``: untranscribed real speech labelled by recognition, opt-in) what
    is left of that share, and synthetic speech the rest."""

    minutes: float
    seed: int = 0
    sources: tuple[str, ...] = ("real", "synthetic")
    takes: int = 1                 # seeded teacher takes per audio
    augment: int = 0               # augmented copies per take (besides the clean one)
    jobs: int = 1
    shard_rows: int = 16           # manifest rows per shard
    real_share: float = 0.5
    spec: CorpusSpec = field(default_factory=CorpusSpec)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.minutes) and self.minutes > 0):
            raise ConfigError(f"--minutes must be a positive number, got {self.minutes!r}")
        bad = [s for s in self.sources if s not in SOURCES]
        if bad or not self.sources:
            raise ConfigError(f"--sources: unknown {', '.join(bad) or '(none)'}; choose from {', '.join(SOURCES)}")
        if not 1 <= self.takes <= MAX_TAKES:
            raise ConfigError(f"--takes must be between 1 and {MAX_TAKES}, got {self.takes}")
        if not 0 <= self.augment <= MAX_AUGMENT:
            raise ConfigError(f"--augment must be between 0 and {MAX_AUGMENT}, got {self.augment}")
        if self.jobs < 1:
            raise ConfigError(f"--jobs must be 1 or more, got {self.jobs}")
        if not 0.0 <= self.real_share <= 1.0:
            raise ConfigError(f"--real-share must be in [0, 1], got {self.real_share}")
        if self.shard_rows < 1:
            raise ConfigError(f"shard_rows must be 1 or more, got {self.shard_rows}")

    def settings(self) -> dict:
        """What identifies the build (stored in corpus.json; a resume must match it)."""
        d = asdict(self)
        d.pop("jobs")
        d.pop("spec")
        d["sources"] = list(self.sources)
        return d


def derive_seed(*parts) -> int:
    """A 31-bit seed from the build seed and a row's identity (independent of build order)."""
    h = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:4], "little") & 0x7FFFFFFF


# ----------------------------------------------------------------------------------------------
# planning


def _take_budget(items: list[SourceItem], seconds: float, rng: np.random.Generator) -> list[SourceItem]:
    """A seeded random subset of ``items`` holding about ``seconds`` of speech (all when they hold less)."""
    if sum(i.seconds for i in items) <= seconds:
        return list(items)
    chosen, total = [], 0.0
    for k in rng.permutation(len(items)):
        if total >= seconds:
            break
        chosen.append(items[int(k)])
        total += items[int(k)].seconds
    return sorted(chosen, key=lambda i: i.id)


def plan_items(config: BuildConfig, root: Path) -> list[SourceItem]:
    """The source items of the build, in plan order."""
    budget = 60.0 * config.minutes
    rng = np.random.default_rng(derive_seed(config.seed, "items"))
    items: list[SourceItem] = []
    share = budget * (config.real_share if "synthetic" in config.sources else 1.0)
    if "real" in config.sources:
        items += _take_budget(real_items(root), share, rng)
    if "pseudo" in config.sources:
        left = max(0.0, share - sum(i.seconds for i in items))
        items += _take_budget(untranscribed_items(root), left, np.random.default_rng(derive_seed(config.seed, "pseudo")))
    if "synthetic" in config.sources:
        from engine.training.corpus.synth import synthetic_items

        left = max(0.0, budget - sum(i.seconds for i in items))
        items += synthetic_items(left, seed=config.seed)
    return items


def plan_rows(config: BuildConfig, items: list[SourceItem]) -> list[dict]:
    """Manifest rows (before the work): one per item x take x augmentation, numbered in plan order."""
    from engine.training.corpus.augment import sample_chain
    from engine.training.corpus.teacher import sample_emotion

    rows = []
    for item in items:
        for take in range(config.takes):
            teacher_seed = derive_seed(config.seed, item.id, "take", take)
            emotion = sample_emotion(np.random.default_rng(derive_seed(config.seed, item.id, "emotion", take)))
            for aug in range(config.augment + 1):
                aug_seed = derive_seed(config.seed, item.id, "augment", take, aug)
                chain = [] if aug == 0 else sample_chain(np.random.default_rng(aug_seed))
                rows.append({"row": len(rows), "id": row_id(item.id, take, aug), "item": item.as_dict(),
                             "source": item.source, "corpus": item.corpus, "voice": item.voice, "split": item.split,
                             "licence": item.licence, "take": take, "teacher_seed": teacher_seed,
                             "emotion": dict(emotion), "augment_index": aug, "augment_seed": aug_seed,
                             "augment": chain})
    return rows


def shard_groups(rows: list[dict], shard_rows: int) -> list[tuple[str, list[dict]]]:
    """[(shard name, rows)]: each split's rows in plan order, ``shard_rows`` at a time."""
    groups = []
    for split in SPLITS:
        mine = [r for r in rows if r["split"] == split]
        for k in range(0, len(mine), shard_rows):
            groups.append((f"{split}-{k // shard_rows:05d}", mine[k:k + shard_rows]))
    return groups


# ----------------------------------------------------------------------------------------------
# the work of one shard (runs in a worker process when --jobs > 1)


class SkipItem(ParleyError):
    """A source item that cannot be labelled (bad input); the row is kept as skipped."""


@lru_cache(maxsize=2)
def _teacher(fps: float):
    """One teacher per process and frame rate (loading the lip model once)."""
    from engine.training.corpus.teacher import Teacher

    return Teacher(fps=fps)


@lru_cache(maxsize=1)
def _recognizer_id() -> str:
    """What recognises pseudo-labelled speech: the default phone timing without a transcript."""
    from engine.phonetics.config import DEFAULT_CONFIG
    from engine.phonetics.timing import uses_phone_model

    if not uses_phone_model(DEFAULT_CONFIG):
        return "PocketSphinx words"
    from engine.phonetics.neural import load_net

    return f"PocketSphinx words + bilabials of phone model {load_net().info['id']}"


def _source_audio(item: SourceItem, root: Path, spec: CorpusSpec):
    """(Audio, phones) of an item: real speech loaded and force-aligned, pseudo-labelled speech loaded and
    recognised (:func:`engine.phonetics.phone_timing` without a transcript, the default recogniser), synthetic
    speech synthesised with its exact phone times. Raises SkipItem for bad input."""
    from engine.audio.load import load_audio
    from engine.phonetics import AlignmentMismatch, align, phone_timing
    from rigs.core.errors import AudioError, PhoneticsError
    from rigs.core.phones import SIL

    if item.source == "synthetic":
        from engine.training.corpus.synth import synthesize

        return synthesize(item, sr=spec.sample_rate)
    path = root / item.path
    try:
        audio = load_audio(path, sr=spec.sample_rate)
    except AudioError as e:
        raise SkipItem(f"unreadable audio: {e}") from None
    apart = abs(audio.duration_s - item.seconds) * spec.fps
    if apart > MAX_FRAMES_APART:
        raise SkipItem(f"audio lasts {audio.duration_s:.3f} s, its manifest says {item.seconds:.3f} s "
                       f"({apart:.1f} frames apart)")
    if item.source == "pseudo":
        try:
            phones = phone_timing(audio)
        except PhoneticsError as e:
            raise SkipItem(f"recognition failed: {e}") from None
        if all(p.label == SIL for p in phones):
            raise SkipItem("recognition found no speech")
        return audio, phones
    try:
        phones = align(audio, item.text)
    except AlignmentMismatch as e:
        raise SkipItem(f"transcript does not align: {e}") from None
    except PhoneticsError as e:
        raise SkipItem(f"alignment failed: {e}") from None
    return audio, phones


def _label_row(row: dict, audio, phones, spec: CorpusSpec) -> tuple[list, dict]:
    """Windows of one row and what the manifest records of it (duration, windows). Raises SkipItem."""
    from engine.audio.load import audio_from_array
    from engine.training.corpus.augment import apply_chain, tempo_of, time_stretch
    from engine.training.corpus.teacher import frames_apart, labels_finite
    from engine.training.corpus.windows import cut_windows

    samples = np.asarray(audio.samples, np.float32)
    if not np.all(np.isfinite(samples)):
        raise SkipItem("audio holds NaN or infinite samples")
    rate = tempo_of(row["augment"])
    if rate != 1.0:
        samples, phones = time_stretch(samples, phones, rate=rate, sr=spec.sample_rate)
        audio = audio_from_array(samples, sr=spec.sample_rate, source_name=audio.source_name)
    labels = _teacher(spec.fps).label(audio, phones, seed=row["teacher_seed"],
                                      emotion=tuple(sorted(row["emotion"].items())),
                                      transcript=row["item"]["text"] or None)
    if not labels_finite(labels):
        raise SkipItem("teacher labels hold NaN or infinite values")
    duration_s = samples.size / float(spec.sample_rate)
    apart = frames_apart(duration_s, labels.num_frames, spec.fps)
    if apart > MAX_FRAMES_APART:
        raise SkipItem(f"labels ({labels.num_frames} frames) and audio ({duration_s:.3f} s) are {apart:.1f} "
                       "frames apart")
    if row["augment"]:
        samples = apply_chain(samples, row["augment"], sr=spec.sample_rate, seed=row["augment_seed"])
    if not np.all(np.isfinite(samples)) or samples.size == 0:
        raise SkipItem("augmented audio holds NaN or infinite samples")
    wins = cut_windows(samples, labels, spec)
    return wins, {"duration_s": round(duration_s, 4), "frames": labels.num_frames, "windows": len(wins)}


def build_shard(corpus_dir: str, name: str, rows: list[dict], spec: CorpusSpec, root: str,
                progress: Callable[[float], None] | None = None) -> dict:
    """Label ``rows``, write shard ``name`` and its part record; returns the part record."""
    root_p = Path(root)
    writer = ShardWriter(corpus_dir, name, spec)
    out_rows = []
    cache: dict[str, tuple] = {}
    for row in rows:
        item = SourceItem(**row["item"])
        rec = {k: v for k, v in row.items() if k != "item"}
        rec |= {"text": item.text, "path": item.path, "synth": item.synth, "shard": name}
        if item.source == "pseudo":
            rec["phones_from"] = _recognizer_id()
        kept = len(writer.windows)
        try:
            if item.id not in cache:
                cache.clear()
                try:
                    cache[item.id] = ("ok", _source_audio(item, root_p, spec))
                except SkipItem as e:
                    cache[item.id] = ("skip", str(e))
            status, got = cache[item.id]
            if status == "skip":
                raise SkipItem(got)
            audio, phones = got
            wins, info = _label_row(row, audio, phones, spec)
            for start_s, arrays in wins:
                writer.add(Window(arrays=arrays, row=row["row"], item=row["id"], start_s=start_s, voice=item.voice,
                                  split=item.split, extra={"take": row["take"], "augment_index": row["augment_index"]}))
            rec |= {"status": "ok", **info}
        except (SkipItem, ParleyError) as e:
            del writer.windows[kept:]          # none of a skipped row's windows stay in the shard
            log.warning("skipped %s: %s", item.path or item.id, e)
            rec |= {"status": "skipped", "reason": str(e), "windows": 0}
        out_rows.append(rec)
        if progress is not None:
            progress(item.seconds)
    folder = writer.close()
    files = {}
    if folder is not None:
        for p in sorted(folder.iterdir()):
            files[f"{SHARDS_DIR}/{name}/{p.name}"] = sha256_file(p)
    part = {"shard": name, "rows": out_rows, "files": files, "windows": len(writer.windows)}
    parts = Path(corpus_dir) / PARTS_DIR
    parts.mkdir(exist_ok=True)
    atomic_write(parts / f"{name}.json", lambda f: f.write(json.dumps(part, sort_keys=True)), text=True)
    return part


def _build_shard_job(args) -> dict:
    return build_shard(*args)


# ----------------------------------------------------------------------------------------------
# the whole build


def _part(corpus_dir: Path, name: str) -> dict | None:
    p = corpus_dir / PARTS_DIR / f"{name}.json"
    if not p.is_file():
        return None
    try:
        part = json.loads(p.read_text())
    except ValueError:
        return None
    if part.get("windows") and not (corpus_dir / SHARDS_DIR / name / "windows.json").is_file():
        return None
    return part


def _spec_for_build(spec: CorpusSpec) -> tuple[CorpusSpec, list[int]]:
    """The spec with J and L filled in from the canonical skeleton and the lip model; the lip vertex ids."""
    from engine.animators.lips import load_lip_model
    from rigs.core.skeleton import canonical_skeleton

    lm = load_lip_model()
    return (replace(spec, num_joints=canonical_skeleton().num_joints, num_lip_vertices=lm.num_vertices),
            [int(v) for v in lm.vertex_ids])


def build_corpus(out: str | Path, config: BuildConfig, *, progress: Callable[[str, float], None] | None = None,
                 on_shard: Callable[[str], None] | None = None, command: str = "") -> dict:
    """Build (or resume) the corpus in ``out``; returns a summary. ``progress(stage, fraction)`` follows the
    build; ``on_shard(name)`` is called after each shard is recorded (it may raise to stop the build)."""
    from engine.animators.lips import TEMPLATE_ID
    from engine.training.corpus.windows import MEL_FMIN_HZ, MEL_N_FFT
    from rigs.core.skeleton import canonical_skeleton

    report = progress or (lambda stage, frac: None)
    out = Path(out)
    root = data_root()
    t0, c0 = time.perf_counter(), _cpu_s()
    report(STAGE_PLAN, 0.0)
    spec, lip_ids = _spec_for_build(config.spec)
    items = plan_items(config, root)
    rows = plan_rows(config, items)
    plan_sha = hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()
    settings = {"build": config.settings(), "plan_sha256": plan_sha, "phone_labels": list(PHONE_LABELS),
                "emotions": list(EMOTIONS), "targets": list(TARGETS), "template_id": TEMPLATE_ID,
                "lip_vertex_ids": lip_ids, "joint_names": list(canonical_skeleton().names),
                "joint_parents": list(canonical_skeleton().parents), "teacher": "phonetic (given phones)",
                "mel": {"function": "engine.audio.spectral.log_mel", "n_fft": MEL_N_FFT, "fmin_hz": MEL_FMIN_HZ,
                        "log": "natural, floor 1e-10"}}
    if (out / CORPUS_FILE).exists():
        old_spec, old = read_corpus_json(out)
        if old_spec != spec or old.get("plan_sha256") != plan_sha:
            raise ConfigError(f"{out} holds a corpus built with other settings (seed, minutes, sources, takes, "
                              "augment or data); choose another --out or delete it")
    elif out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists and is not a Parley corpus; choose an empty or new folder")
    (out / SHARDS_DIR).mkdir(parents=True, exist_ok=True)
    write_corpus_json(out, spec, **settings, command=command)
    for stale in (out / SHARDS_DIR).glob(f"*{PARTIAL_SUFFIX}"):
        shutil.rmtree(stale, ignore_errors=True)
    groups = shard_groups(rows, config.shard_rows)
    total_s = sum(r["item"]["seconds"] for r in rows) or 1.0
    done_s = 0.0
    todo = []
    for name, grp in groups:
        if _part(out, name) is None:
            todo.append((name, grp))
        else:
            done_s += sum(r["item"]["seconds"] for r in grp)
    resumed = len(groups) - len(todo)
    if resumed:
        log.info("resuming: %d of %d shards already done", resumed, len(groups))
    report(STAGE_BUILD, done_s / total_s)

    def advance(seconds: float) -> None:
        nonlocal done_s
        done_s += seconds
        report(STAGE_BUILD, min(1.0, done_s / total_s))

    if config.jobs == 1 or len(todo) <= 1:
        for name, grp in todo:
            build_shard(str(out), name, grp, spec, str(root), progress=advance)
            if on_shard is not None:
                on_shard(name)
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=config.jobs, mp_context=mp.get_context("spawn")) as pool:
            futures = {pool.submit(_build_shard_job, (str(out), name, grp, spec, str(root))): (name, grp)
                       for name, grp in todo}
            try:
                for fut in as_completed(futures):
                    fut.result()
                    name, grp = futures[fut]
                    advance(sum(r["item"]["seconds"] for r in grp))
                    if on_shard is not None:
                        on_shard(name)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    summary = finish(out, groups)
    summary |= {"resumed_shards": resumed, "built_shards": len(todo)}
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    log_body = {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "jobs": config.jobs, **summary}
    if summary["hours"] and cpu > 0 and not resumed:
        log_body["hours_per_cpu_hour"] = round(summary["hours"] / (cpu / 3600.0), 2)
    atomic_write(out / BUILD_LOG_FILE, lambda f: f.write(json.dumps(log_body, indent=1, sort_keys=True)), text=True)
    report(STAGE_DONE, 1.0)
    return log_body


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (workers, synthesisers)."""
    import resource

    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def finish(out: Path, groups: list[tuple[str, list[dict]]]) -> dict:
    """Write manifest.jsonl (rows in plan order) and checksums.sha256 from the part records."""
    rows, sums, windows = [], {}, 0
    for name, _grp in groups:
        part = _part(out, name)
        if part is None:
            raise ConfigError(f"{out}: shard {name} is not done; run the build again to finish it")
        rows += part["rows"]
        sums |= part["files"]
        windows += part["windows"]
    rows.sort(key=lambda r: r["row"])
    write_manifest(out, rows)
    text = "".join(f"{sha}  {path}\n" for path, sha in sorted(sums.items()))
    atomic_write(out / CHECKSUMS_FILE, lambda f: f.write(text), text=True)
    kept = [r for r in rows if r["status"] == "ok"]
    return {"rows": len(rows), "kept": len(kept), "skipped": len(rows) - len(kept), "windows": windows,
            "hours": round(sum(r["duration_s"] for r in kept) / 3600.0, 4), "shards": len(groups),
            "manifest": str(out / MANIFEST_FILE)}
