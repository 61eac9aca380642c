"""A fine-tuning corpus from a user's own captures (``parley corpus captures``): FACEGOOD takes or Live Link Face
takes (CSV + audio) cut into the same shards, with the same :class:`CorpusSpec`, as the teacher corpora, so
``parley train lips|face --init default --data CORPUS`` fine-tunes the shipped neural face on them.

- Takes are read by :mod:`engine.training.readers` and windowed by
  :func:`engine.training.readers.windows.to_windows` (one home of the shard contract for real captures).
- Splits (:func:`assign_val`): the takes named in ``holdout`` go to ``test`` whole; of every other take, the
  last ``val_share`` of its windows (at least one) go to ``val``, the rest to ``train`` (contiguous, so val never
  overlaps train). A take of one window (a short line) cannot be split: of those, every ``max(2, round(1 /
  val_share))``-th in take order goes to ``val`` whole, and more from the last while val holds fewer than the
  :data:`~engine.training.corpus.shards.MIN_WINDOWS` a trainer needs, so a folder of short lines validates too.
  Both ``train`` and ``val`` must end up with that many windows.
- Targets a capture lacks keep ``has`` False (phones always; the body; the head and eyes). The valid ARKit
  channels of a partial capture (FACEGOOD: the 27 mouth and jaw channels) are recorded per window in
  ``windows.json`` (``expression_valid``); the trainer's loss ignores the others.
- **Lip offsets** (the lip regressor's vertex target): a capture holds no lip vertices, so they are derived
  from the captured ARKit weights through the ICT FaceKit lip model (:mod:`engine.animators.lips`, the same
  linear blendshape model the teacher's labels go through) and marked real (``has`` True). For FACEGOOD only the
  mouth and jaw channels are measured, which are the ones that move the lip region.
- **A folder of takes as training data** (``parley train lips|face --data TAKES/``): :func:`corpus_for_training`
  finds the folder's format (:func:`capture_format`), builds the corpus of every take beside the checkpoint
  (``OUT.corpus``, written under a temporary name and renamed when complete) and reuses it while
  :func:`takes_fingerprint` (the take files and the build settings) is unchanged.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from engine.training.corpus.shards import (CORPUS_FILE, CORPUS_SCHEMA_VERSION, MIN_WINDOWS, SHARDS_DIR, TARGETS,
                                           CorpusSpec, ShardWriter, write_corpus_json, write_manifest)
from rigs.core.errors import ConfigError
from rigs.core.skeleton import canonical_skeleton

log = logging.getLogger(__name__)

FORMATS = ("facegood", "livelink")
VAL_SHARE = 0.1           # share of each training take's windows (its tail) kept for validation
M_TO_MM = 1000.0
AUTO_SUFFIX = ".corpus"   # `parley train ... --data TAKES/ --out X.pt` builds the takes' corpus at X.corpus/
TAKE_FILE_SUFFIXES = (".csv", ".npy", ".xlsx")   # label files (and FACEGOOD's channel mapping) besides the audio


def read_capture_takes(folder: str | Path, fmt: str, *, fps: float, sample_rate: int) -> list:
    """Every usable take of a capture folder (:class:`~engine.training.readers.take.CapturedTake`), sorted by id."""
    from engine.training.readers import read_facegood_folder, read_takes

    if fmt not in FORMATS:
        raise ConfigError(f"capture format must be one of {FORMATS}, got {fmt!r}")
    if not Path(folder).is_dir():
        raise ConfigError(f"{folder}: no such capture folder")
    reader = read_facegood_folder if fmt == "facegood" else read_takes
    report = reader(folder, fps=fps, sample_rate=sample_rate)
    if not report.takes:
        why = "; ".join(f"{p.name}: {r}" for p, r in report.skipped) or "no takes found"
        raise ConfigError(f"{folder}: no usable {fmt} takes ({why})")
    return sorted(report.takes, key=lambda t: t.take_id)


def lip_offsets_mm(expression: np.ndarray, lip_model) -> np.ndarray:
    """(W, 52) ARKit weights -> (W, L, 3) float32 lip-vertex offsets from the neutral lips, mm."""
    return ((lip_model.positions_m(expression) - lip_model.neutral_m[None]) * M_TO_MM).astype(np.float32)


def build_capture_corpus(out: str | Path, folder: str | Path, *, fmt: str, holdout: tuple[str, ...] = (),
                         val_share: float = VAL_SHARE, seed: int = 0, max_seconds: float | None = None,
                         command: str = "", settings: dict | None = None) -> dict:
    """Write the capture corpus at ``out`` (module docstring); returns a summary (windows per split, takes).

    ``max_seconds`` cuts every take to its first seconds (tests); ``settings`` are recorded in ``corpus.json``
    besides the build's own; ``seed`` is recorded (the build is
    deterministic: splits come from the take order and ``holdout``). Raises ConfigError when ``out`` is
    not empty, a hold-out id names no take, or no training or validation windows would remain.
    """
    from engine.animators.lips import load_lip_model
    from engine.training.readers.windows import to_windows

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} is not empty; give a new folder for the capture corpus")
    if not 0 < val_share < 1:
        raise ConfigError(f"val share must lie in (0, 1), got {val_share}")
    lm = load_lip_model()
    spec = replace(CorpusSpec(), num_joints=canonical_skeleton().num_joints, num_lip_vertices=lm.num_vertices)
    takes = read_capture_takes(folder, fmt, fps=spec.fps, sample_rate=spec.sample_rate)
    ids = [t.take_id for t in takes]
    unknown = sorted(set(holdout) - set(ids))
    if unknown:
        raise ConfigError(f"--holdout {', '.join(unknown)}: no such take in {folder} (takes: {', '.join(ids)})")
    if max_seconds is not None:
        takes = [_cut(t, max_seconds) for t in takes]
    lips_col = TARGETS.index("lip_offsets_mm")
    rows, per_take = [], []
    for row, take in enumerate(takes):
        test = take.take_id in holdout
        ws = to_windows(take, spec, row=row, split="test" if test else "train")
        if take.expression is not None:
            for w in ws:
                w.arrays["lip_offsets_mm"] = lip_offsets_mm(w.arrays["expression"], lm) * w.arrays["mask"][:, None, None]
                w.arrays["has"][lips_col] = True
        per_take.append((ws, test))
        rows.append({"row": row, "item": take.take_id, "format": fmt, "source": str(take.source),
                     "audio": str(take.audio_source or ""), "licence": take.licence, "speaker": take.speaker,
                     "seconds": round(take.duration_s, 3), "split": "test" if test else "train+val",
                     "windows": len(ws), "valid_channels": list(take.valid_channels), "status": "ok"})
    assign_val([ws for ws, test in per_take if not test], val_share)
    by_split: dict[str, list] = {"train": [], "val": [], "test": []}
    for ws, _ in per_take:
        for w in ws:
            by_split[w.split].append(w)
    if len(by_split["train"]) < MIN_WINDOWS or len(by_split["val"]) < MIN_WINDOWS:
        raise ConfigError(f"{folder}: too little capture for training and validation ({len(by_split['train'])} train "
                          f"and {len(by_split['val'])} val windows of {spec.window_s:g} s; at least {MIN_WINDOWS} "
                          "each); record more, or hold fewer takes out")
    out.mkdir(parents=True, exist_ok=True)
    (out / SHARDS_DIR).mkdir(exist_ok=True)
    write_corpus_json(out, spec, kind="captures", format=fmt, capture_folder=str(Path(folder).resolve()),
                      holdout=sorted(holdout), val_share=val_share, seed=seed, command=command,
                      lip_offsets="derived from the captured ARKit weights through the ICT FaceKit lip model",
                      **(settings or {}))
    for split, ws in by_split.items():
        if ws:
            writer = ShardWriter(out, f"{split}-0", spec)
            for w in ws:
                writer.add(w)
            writer.close()
    write_manifest(out, rows)
    summary = {"takes": len(takes), **{split: len(ws) for split, ws in by_split.items()}, "out": str(out)}
    log.info("capture corpus: %s", summary)
    return summary


def assign_val(takes_windows: list[list], val_share: float) -> None:
    """Mark the ``val`` windows (``split``) of the training takes' windows, given in take order (module docstring):
    the tail of every take of several windows, every ``max(2, round(1 / val_share))``-th take of one window
    whole, then more one-window takes from the last while val holds fewer than MIN_WINDOWS windows and train
    keeps more than MIN_WINDOWS."""
    every = max(2, int(round(1 / val_share)))
    singles = [ws for ws in takes_windows if len(ws) == 1]
    for ws in takes_windows:
        if len(ws) > 1:
            for w in ws[len(ws) - max(1, int(round(val_share * len(ws)))):]:
                w.split = "val"
    for k, ws in enumerate(singles, start=1):
        if k % every == 0:
            ws[0].split = "val"

    def count(split: str) -> int:
        return sum(w.split == split for ws in takes_windows for w in ws)

    for ws in reversed(singles):
        if count("val") >= MIN_WINDOWS:
            break
        if ws[0].split == "train" and count("train") > MIN_WINDOWS:
            ws[0].split = "val"


def capture_format(folder: str | Path) -> str | None:
    """``"facegood"`` or ``"livelink"`` when ``folder`` holds takes of that format (FACEGOOD: ``<id>.wav`` with
    its values; Live Link: :func:`~engine.training.readers.livelink.is_livelink_csv`), None when it holds
    neither. ConfigError when it holds both (say which with ``parley corpus captures``)."""
    from engine.training.readers.facegood import facegood_take_ids
    from engine.training.readers.livelink import is_livelink_csv

    folder = Path(folder)
    fg = bool(facegood_take_ids(folder))
    ll = any(is_livelink_csv(p) for p in folder.rglob("*.csv"))
    if fg and ll:
        raise ConfigError(f"{folder} holds both FACEGOOD and Live Link takes; build the corpus you mean with "
                          "`parley corpus captures --facegood|--livelink FOLDER --out CORPUS`")
    return "facegood" if fg else "livelink" if ll else None


def takes_fingerprint(folder: str | Path, fmt: str) -> str:
    """sha256 of how a folder's corpus would be built: the corpus schema, spec, val share and format, and the
    names, sizes and modification times of the take files under ``folder`` (labels, audio and video), leaving
    out hidden entries and corpora kept there (folders with a corpus.json): whether a built corpus still fits."""
    from engine.training.readers.take import AUDIO_SUFFIXES

    root = Path(folder)
    kinds = {*TAKE_FILE_SUFFIXES, *AUDIO_SUFFIXES}
    corpora = [p.parent for p in root.rglob(CORPUS_FILE)]
    h = hashlib.sha256(json.dumps({"schema": CORPUS_SCHEMA_VERSION, "spec": asdict(CorpusSpec()),
                                   "val_share": VAL_SHARE, "format": fmt}, sort_keys=True).encode())
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in kinds and p.is_file()):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or any(path.is_relative_to(c) for c in corpora):
            continue
        st = path.stat()
        h.update(f"{rel.as_posix()}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def corpus_for_training(data: str | Path, out: str | Path, *, command: str = "") -> Path:
    """What ``parley train lips|face --data`` trains on: ``data`` itself when it is a corpus; for a folder of
    captured takes (FACEGOOD or Live Link: :func:`capture_format`), the capture corpus of all of them (no
    hold-out) beside the checkpoint, at ``out`` with :data:`AUTO_SUFFIX` for its suffix: reused while
    :func:`takes_fingerprint` matches (a later run, ``--resume``), else (re)built under a temporary name and
    renamed when complete, so an interrupted build is never taken for a corpus. Raises ConfigError for a folder
    that is neither, or when that corpus path is taken by something this did not build."""
    data = Path(data)
    if (data / CORPUS_FILE).is_file() or not data.is_dir():
        return data                                     # a corpus, or an error the corpus reader words
    fmt = capture_format(data)
    if fmt is None:
        raise ConfigError(f"{data}: neither a Parley corpus nor a folder of FACEGOOD or Live Link Face takes "
                          "(build a corpus with `parley corpus build` or `parley corpus captures`)")
    auto = Path(out).with_suffix(AUTO_SUFFIX)
    fingerprint = takes_fingerprint(data, fmt)
    if auto.exists() or auto.is_symlink():
        settings = _settings(auto) if auto.is_dir() and not auto.is_symlink() else None
        if settings is None or (settings.get("built_for_training") != str(data.resolve()) and any(auto.iterdir())):
            raise ConfigError(f"{auto} exists and is not the corpus `parley train` built of {data}; move it away "
                              "or choose another --out")
        if settings.get("takes_fingerprint") == fingerprint:
            log.info("training on %s, the corpus of the takes in %s (unchanged since it was built)", auto, data)
            return auto
        log.info("the takes in %s (or how their corpus is built) changed: rebuilding %s", data, auto)
    log.info("building %s from the %s takes in %s", auto, fmt, data)
    auto.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=auto.parent, prefix=f".{auto.name}.partial-"))
    try:
        build_capture_corpus(partial, data, fmt=fmt, command=command,
                             settings={"built_for_training": str(data.resolve()), "takes_fingerprint": fingerprint})
        if auto.exists():
            shutil.rmtree(auto)
        partial.rename(auto)
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)
    return auto


def _settings(corpus: Path) -> dict:
    """A corpus's corpus.json as it is (any schema), {} when unreadable."""
    try:
        return json.loads((corpus / CORPUS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _cut(take, seconds: float):
    """The first ``seconds`` of a take (labels and audio)."""
    n = max(1, int(round(seconds * take.fps)))
    m = int(round(n / take.fps * take.sample_rate))
    cut = {k: (None if getattr(take, k) is None else getattr(take, k)[:n])
           for k in ("expression", "head_rotation", "eye_rotations", "joint_angles", "root_translation")}
    return replace(take, audio=None if take.audio is None else take.audio[:m], **cut)

