"""Corpus storage: fixed-length windows in memory-mappable shards, a JSON-lines manifest, one spec.

A corpus folder::

    CORPUS/
      corpus.json            CorpusSpec + build settings (schema_version, seed, command, ...)
      manifest.jsonl         one JSON object per source item (kept or skipped), in build order
      shards/<split>-<k>/    one shard: a folder of .npy arrays, axis 0 = window, written atomically
        windows.json         per window: manifest row id, source item id, start_s, voice, split
        audio.npy            (N, W_samples) int16, mono PCM at spec.sample_rate
        mel.npy              (N, W_feat, n_mels) float16 log-mel, frame i centred on i / spec.feature_fps
        expression.npy       (N, W, 52) float16 ARKit weights, frame i at i / spec.fps
        joint_angles.npy     (N, W, J, 3) float16 local axis-angle (canonical skeleton), rad
        root_translation.npy (N, W, 3) float16 m
        lip_offsets_mm.npy   (N, W, L, 3) float16 lip-vertex displacement from the template's neutral, mm
        phones.npy           (N, W) int8 index into PHONE_LABELS (-1 where unknown)
        emotion.npy          (N, 7) float32 intensities in EMOTIONS order
        mask.npy             (N, W) bool: the frame holds real labels (False in the padded tail)
        has.npy              (N, len(TARGETS)) bool: which targets are real per window (FACEGOOD has no body)

Windows are ``spec.window_s`` long; W = window_s * fps target frames, W_feat = window_s * feature_fps
feature frames (feature_fps = FEATURE_RATIO * fps, so a stride-FEATURE_RATIO layer maps features onto
target frames exactly), W_samples = window_s * sample_rate. A shard folder exists only when complete (it is
written under a temporary name, fsynced and renamed), so a killed build resumes by skipping the shards it
finds. Readers open every array with ``mmap_mode="r"``.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from rigs.core.arkit import NUM_CHANNELS
from rigs.core.emotions import EMOTIONS
from rigs.core.errors import ConfigError
from rigs.core.files import atomic_write, sha256_file
from rigs.core.phones import LABELS

CORPUS_SCHEMA_VERSION = 1
SAMPLE_RATE = 16000
FPS = 30.0
FEATURE_RATIO = 4                     # feature frames per target frame
N_MELS = 80
WINDOW_S = 4.0
PHONE_LABELS: tuple[str, ...] = LABELS          # 39 ARPAbet phones + SIL; index -1 = unknown
PHONE_INDEX: dict[str, int] = {p: i for i, p in enumerate(PHONE_LABELS)}
TARGETS: tuple[str, ...] = ("expression", "joint_angles", "root_translation", "lip_offsets_mm", "phones")
SPLITS: tuple[str, ...] = ("train", "val", "test")
CORPUS_FILE = "corpus.json"
MIN_WINDOWS = 2                 # a split with fewer windows than this cannot train (or validate) anything
MANIFEST_FILE = "manifest.jsonl"
SHARDS_DIR = "shards"
PARTIAL_SUFFIX = ".partial"           # a shard being written (never read)


@dataclass(frozen=True)
class CorpusSpec:
    """What every window of a corpus looks like (stored in corpus.json; trainers check it)."""

    sample_rate: int = SAMPLE_RATE
    fps: float = FPS
    feature_ratio: int = FEATURE_RATIO
    n_mels: int = N_MELS
    window_s: float = WINDOW_S
    num_joints: int = 0                 # J of joint_angles (canonical skeleton), set by the builder
    num_lip_vertices: int = 0           # L of lip_offsets_mm (ICT lip region), set by the builder

    @property
    def feature_fps(self) -> float:
        return self.fps * self.feature_ratio

    @property
    def frames(self) -> int:
        return int(round(self.window_s * self.fps))

    @property
    def feature_frames(self) -> int:
        return self.frames * self.feature_ratio

    @property
    def samples(self) -> int:
        return int(round(self.window_s * self.sample_rate))

    def shapes(self) -> dict[str, tuple[tuple[int, ...], str]]:
        """Per-window shape and dtype of each array of a shard."""
        W = self.frames
        return {
            "audio": ((self.samples,), "int16"),
            "mel": ((self.feature_frames, self.n_mels), "float16"),
            "expression": ((W, NUM_CHANNELS), "float16"),
            "joint_angles": ((W, self.num_joints, 3), "float16"),
            "root_translation": ((W, 3), "float16"),
            "lip_offsets_mm": ((W, self.num_lip_vertices, 3), "float16"),
            "phones": ((W,), "int8"),
            "emotion": ((len(EMOTIONS),), "float32"),
            "mask": ((W,), "bool"),
            "has": ((len(TARGETS),), "bool"),
        }


@dataclass
class Window:
    """One window before it is written: arrays keyed as in :meth:`CorpusSpec.shapes` plus its provenance."""

    arrays: dict[str, np.ndarray]
    row: int                             # manifest row (0-based line of manifest.jsonl)
    item: str                            # source item id
    start_s: float
    voice: str = ""
    split: str = "train"
    extra: dict = field(default_factory=dict)


class ShardWriter:
    """Collects windows of one shard and writes them atomically on :meth:`close`."""

    def __init__(self, corpus_dir: str | Path, name: str, spec: CorpusSpec):
        self.folder = Path(corpus_dir) / SHARDS_DIR / name
        self.spec = spec
        self.windows: list[Window] = []

    def add(self, window: Window) -> None:
        shapes = self.spec.shapes()
        missing = set(shapes) - set(window.arrays)
        if missing:
            raise ConfigError(f"window of {window.item!r}: missing arrays {sorted(missing)}")
        for key, (shape, _dtype) in shapes.items():
            a = np.asarray(window.arrays[key])
            if a.shape != shape:
                raise ConfigError(f"window of {window.item!r}: {key} has shape {a.shape}, expected {shape}")
            if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
                raise ConfigError(f"window of {window.item!r}: {key} holds NaN or infinity")
        self.windows.append(window)

    def close(self) -> Path | None:
        """Write the shard (all or nothing); None when it holds no window."""
        if not self.windows:
            return None
        tmp = self.folder.with_name(self.folder.name + PARTIAL_SUFFIX)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for key, (_shape, dtype) in self.spec.shapes().items():
            stacked = np.stack([np.asarray(w.arrays[key]).astype(dtype, copy=False) for w in self.windows])
            np.save(tmp / f"{key}.npy", stacked)
        index = [{"row": w.row, "item": w.item, "start_s": round(float(w.start_s), 6), "voice": w.voice,
                  "split": w.split, **w.extra} for w in self.windows]
        (tmp / "windows.json").write_text(json.dumps(index, sort_keys=True))
        for p in tmp.iterdir():
            with open(p, "rb") as f:
                os.fsync(f.fileno())
        if self.folder.exists():
            shutil.rmtree(self.folder)
        os.replace(tmp, self.folder)
        return self.folder


def shard_done(corpus_dir: str | Path, name: str) -> bool:
    """True when the shard was written completely (a resumed build skips it)."""
    return (Path(corpus_dir) / SHARDS_DIR / name / "windows.json").is_file()


def write_corpus_json(corpus_dir: str | Path, spec: CorpusSpec, **settings) -> Path:
    body = {"schema_version": CORPUS_SCHEMA_VERSION, "spec": asdict(spec), **settings}
    return atomic_write(Path(corpus_dir) / CORPUS_FILE, lambda f: f.write(json.dumps(body, indent=1, sort_keys=True)),
                        text=True)


def read_corpus_json(corpus_dir: str | Path) -> tuple[CorpusSpec, dict]:
    path = Path(corpus_dir) / CORPUS_FILE
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: not a Parley corpus ({e}); build one with `parley corpus build`") from None
    if body.get("schema_version") != CORPUS_SCHEMA_VERSION:
        raise ConfigError(f"{path}: corpus schema {body.get('schema_version')!r}, this Parley reads "
                          f"{CORPUS_SCHEMA_VERSION}; rebuild it with `parley corpus build`")
    return CorpusSpec(**body["spec"]), body


_AUGMENT_SUFFIX = re.compile(r"(#t\d+)a\d+$")


def row_id(item_id: str, take: int, augment: int) -> str:
    """A manifest row's id (a window's ``item``): the source item, its teacher take and its augmented copy."""
    return f"{item_id}#t{take}a{augment}"


def take_id(row: str) -> str:
    """The labelled take of a :func:`row_id` (``LJ001-0002#t0a1`` -> ``LJ001-0002#t0``): augmented copies of a
    take share its labels. Ids of another form are returned as they are."""
    return _AUGMENT_SUFFIX.sub(r"\1", row)


def manifest_sha256(corpus_dir: str | Path) -> str | None:
    """The sha256 of a corpus's manifest (what identifies the data a model was trained on), None without one."""
    path = Path(corpus_dir) / MANIFEST_FILE
    return sha256_file(path) if path.is_file() else None


def corpus_records(dirs) -> list[dict]:
    """[{"corpus": folder name, "corpus_manifest_sha256": ...}] of corpus folders (a model card's data)."""
    return [{"corpus": Path(d).resolve().name, "corpus_manifest_sha256": manifest_sha256(d)} for d in dirs]


def write_manifest(corpus_dir: str | Path, rows: list[dict]) -> Path:
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    return atomic_write(Path(corpus_dir) / MANIFEST_FILE, lambda f: f.write(text), text=True)


def read_manifest(corpus_dir: str | Path) -> list[dict]:
    path = Path(corpus_dir) / MANIFEST_FILE
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


class Shard:
    """A written shard, its arrays memory-mapped (read only)."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.index: list[dict] = json.loads((self.folder / "windows.json").read_text())
        self._arrays: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._arrays:
            self._arrays[key] = np.load(self.folder / f"{key}.npy", mmap_mode="r")
        return self._arrays[key]


class Corpus:
    """Every shard of a corpus folder (or of several folders with the same :class:`CorpusSpec`, read as one),
    filtered by split; windows addressed as (shard, index). ``root``, ``spec`` and ``settings`` are the first
    folder's; ``roots`` lists them all."""

    def __init__(self, corpus_dir: str | Path | Sequence[str | Path], *, split: str | None = None):
        dirs = [Path(corpus_dir)] if isinstance(corpus_dir, (str, Path)) else [Path(d) for d in corpus_dir]
        if not dirs:
            raise ConfigError("no corpus folder given")
        self.roots, self.root = dirs, dirs[0]
        self.spec, self.settings = read_corpus_json(self.root)
        for d in dirs[1:]:
            spec, _ = read_corpus_json(d)
            if spec != self.spec:
                raise ConfigError(f"{d}: its windows ({spec}) differ from those of {self.root} ({self.spec}); "
                                  "corpora read together must be built with the same layout")
        folders = [p for d in dirs for p in sorted((d / SHARDS_DIR).glob("*"))
                   if not p.name.endswith(PARTIAL_SUFFIX) and (p / "windows.json").is_file()]
        self.shards = [Shard(p) for p in folders]
        self.refs: list[tuple[int, int]] = [(s, i) for s, sh in enumerate(self.shards)
                                            for i, w in enumerate(sh.index) if split is None or w["split"] == split]

    def __len__(self) -> int:
        return len(self.refs)

    def window(self, k: int, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """Window k's arrays (copies, native dtypes) and its index entry under ``"info"``."""
        s, i = self.refs[k]
        sh = self.shards[s]
        out: dict = {key: np.array(sh[key][i]) for key in (keys or tuple(self.spec.shapes()))}
        out["info"] = sh.index[i]
        return out
