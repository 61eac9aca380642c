"""The clip contract: the motion a voice recording produces, and its ``.npz`` file format.

A clip is time-first float32 arrays sampled at ``fps``; frame ``i`` is at ``i / fps`` seconds and a
clip of ``duration_s`` seconds has ``T = max(1, round(duration_s * fps))`` frames. Seconds are the
canonical unit; frames are computed at the edges. numpy only: the Blender add-on reads it too.

File layout (schema version 1, ``numpy.savez`` without pickles):

==================  ==================  =====================================================
key                 shape / dtype       meaning
==================  ==================  =====================================================
meta                () unicode          JSON: schema_version, engine_version, fps, duration_s,
                                        mode, model_ids, seed, emotion, source audio name and
                                        sha256, sample_rate, units, template_id, ...
expression          (T, 52) float32     ARKit weights in [0, 1], canonical order
expression_names    (52,) unicode       canonical ARKit names (alphabetical lowerCamelCase)
joint_angles        (T, J, 3) float32   local axis-angle rotations, radians
joint_names         (J,) unicode        canonical skeleton joint names
joint_parents       (J,) int32          parent index per joint, -1 for the root
root_translation    (T, 3) float32      root (pelvis) offset from its rest position, metres
lip_vertices        (T, L, 3) float32   lip-region vertex positions, metres, template head space
lip_vertex_ids      (L,) int32          indices of those vertices in the template mesh
phoneme_times       (N, 2) float32      optional: start_s, end_s per phone
phoneme_labels      (N,) unicode        optional: ARPAbet label per phone, upper case ("SIL" for silence)
==================  ==================  =====================================================
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .arkit import ARKIT_NAMES, NUM_CHANNELS
from .errors import ClipError, SchemaVersionError
from .files import atomic_write, write_npz
from .npz import Member, read_npz
from .phones import Phone
from .timebase import num_frames

SCHEMA_VERSION = 1
UNITS = {"time": "s", "expression": "weight 0..1", "joint_angles": "rad (axis-angle, local)",
         "root_translation": "m", "lip_vertices": "m"}
MAX_FPS = 1000.0


@dataclass
class Clip:
    """Motion for one utterance. Arrays are time-first; see the module docstring for shapes."""

    fps: float
    duration_s: float
    expression: np.ndarray
    joint_angles: np.ndarray
    joint_names: tuple[str, ...]
    joint_parents: tuple[int, ...]
    root_translation: np.ndarray
    lip_vertices: np.ndarray
    lip_vertex_ids: np.ndarray
    expression_names: tuple[str, ...] = ARKIT_NAMES
    phonemes: tuple[Phone, ...] | None = None
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.expression.shape[0])

    def times_s(self) -> np.ndarray:
        """(T,) time of each frame in seconds."""
        return np.arange(self.num_frames, dtype=np.float64) / self.fps

    def channel(self, name: str) -> np.ndarray:
        """(T,) curve of one ARKit channel by canonical name."""
        try:
            return self.expression[:, self.expression_names.index(name)]
        except ValueError:
            raise ClipError(f"expression: no channel named {name!r}") from None

    def validate(self) -> "Clip":
        """Check every field against the contract; raise :class:`ClipError` naming the field."""
        if not np.isfinite(self.fps) or not (0 < self.fps <= MAX_FPS):
            raise ClipError(f"fps: must be in (0, {MAX_FPS:g}], got {self.fps!r}")
        if not np.isfinite(self.duration_s) or self.duration_s <= 0:
            raise ClipError(f"duration_s: must be a positive number of seconds, got {self.duration_s!r}")
        T = _check_array("expression", self.expression, (None, NUM_CHANNELS))
        if tuple(self.expression_names) != ARKIT_NAMES:
            raise ClipError("expression_names: must be the 52 canonical ARKit names in alphabetical order")
        if abs(T - self.duration_s * self.fps) > 1.0 + 1e-6:
            raise ClipError(f"expression: {T} frames do not match duration_s={self.duration_s:.4f} at "
                            f"{self.fps:g} fps (expected {num_frames(self.duration_s, self.fps)})")
        if np.any(self.expression < -1e-6) or np.any(self.expression > 1 + 1e-6):
            raise ClipError("expression: weights must lie in [0, 1]")
        J = len(self.joint_names)
        _check_array("joint_angles", self.joint_angles, (T, J, 3))
        if len(self.joint_parents) != J:
            raise ClipError(f"joint_parents: {len(self.joint_parents)} entries for {J} joints")
        for i, p in enumerate(self.joint_parents):
            if not (-1 <= int(p) < i) or (int(p) == -1) != (i == 0):
                raise ClipError(f"joint_parents: joint {i} ({self.joint_names[i]}) has invalid parent {p}")
        if len(set(self.joint_names)) != J:
            raise ClipError("joint_names: duplicate names")
        _check_array("root_translation", self.root_translation, (T, 3))
        L = int(np.asarray(self.lip_vertex_ids).shape[0]) if np.ndim(self.lip_vertex_ids) == 1 else -1
        if L < 0:
            raise ClipError("lip_vertex_ids: must be a 1-D array of vertex indices")
        if L and (np.asarray(self.lip_vertex_ids).min() < 0):
            raise ClipError("lip_vertex_ids: negative vertex index")
        _check_array("lip_vertices", self.lip_vertices, (T, L, 3))
        if self.phonemes is not None:
            prev = -np.inf
            for ph in self.phonemes:
                if not (np.isfinite(ph.start_s) and np.isfinite(ph.end_s)) or ph.end_s < ph.start_s:
                    raise ClipError(f"phonemes: bad interval {ph}")
                if ph.start_s < prev - 1e-6:
                    raise ClipError("phonemes: intervals must be sorted by start time")
                prev = ph.start_s
        if not isinstance(self.meta, dict):
            raise ClipError("meta: must be a JSON object")
        return self


def _check_array(name: str, a, shape) -> int:
    if not isinstance(a, np.ndarray):
        raise ClipError(f"{name}: expected an array, got {type(a).__name__}")
    if a.ndim != len(shape) or any(s is not None and a.shape[i] != s for i, s in enumerate(shape)):
        want = "(" + ", ".join("T" if s is None else str(s) for s in shape) + ")"
        raise ClipError(f"{name}: shape {tuple(a.shape)} does not match {want}")
    if not np.issubdtype(a.dtype, np.number):
        raise ClipError(f"{name}: not numeric ({a.dtype})")
    if a.size and not np.all(np.isfinite(a)):
        raise ClipError(f"{name}: contains NaN or infinite values")
    if a.shape and a.shape[0] == 0:
        raise ClipError(f"{name}: has no frames")
    return int(a.shape[0]) if a.ndim else 0


def make_meta(*, fps: float, duration_s: float, mode: str, seed: int | None = None, emotion=None,
              model_ids=None, source_audio: str | None = None, source_sha256: str | None = None,
              sample_rate: int | None = None, template_id: str | None = None, **extra) -> dict:
    """A schema-1 meta dict with the standard keys filled in."""
    from .version import __version__

    meta = {
        "schema_version": SCHEMA_VERSION, "engine_version": __version__, "fps": float(fps),
        "duration_s": float(duration_s), "mode": mode, "model_ids": dict(model_ids or {}), "seed": seed,
        "emotion": dict(emotion or {}), "source_audio": source_audio, "source_sha256": source_sha256,
        "sample_rate": sample_rate, "template_id": template_id, "units": dict(UNITS),
    }
    meta.update(extra)
    return meta


def save_clip(clip: Clip, path, *, atomic: bool = True) -> Path:
    """Validate and write ``clip`` to ``path`` atomically (temp file in the same folder, then rename);
    ``atomic=False`` writes to ``path`` itself, for a caller that already writes to a temp file
    (:func:`rigs.core.files.atomic_paths`, as the takes of one run are written)."""
    clip.validate()
    path = Path(path)
    meta = dict(clip.meta)
    meta.setdefault("schema_version", SCHEMA_VERSION)
    meta["fps"], meta["duration_s"] = float(clip.fps), float(clip.duration_s)
    arrays = {
        "meta": np.array(json.dumps(meta, sort_keys=True)),
        "expression": clip.expression.astype(np.float32, copy=False),
        "expression_names": np.array(clip.expression_names),
        "joint_angles": clip.joint_angles.astype(np.float32, copy=False),
        "joint_names": np.array(clip.joint_names, dtype=str),
        "joint_parents": np.asarray(clip.joint_parents, dtype=np.int32),
        "root_translation": clip.root_translation.astype(np.float32, copy=False),
        "lip_vertices": clip.lip_vertices.astype(np.float32, copy=False),
        "lip_vertex_ids": np.asarray(clip.lip_vertex_ids, dtype=np.int32),
    }
    if clip.phonemes is not None:
        arrays["phoneme_times"] = np.array([[p.start_s, p.end_s] for p in clip.phonemes],
                                           dtype=np.float32).reshape(-1, 2)
        arrays["phoneme_labels"] = np.array([p.label for p in clip.phonemes], dtype=str)
    if not atomic:
        with open(path, "wb") as f:
            write_npz(f, arrays)
        return path
    return atomic_write(path, lambda f: write_npz(f, arrays))


_REQUIRED = ("meta", "expression", "expression_names", "joint_angles", "joint_names", "joint_parents",
             "root_translation", "lip_vertices", "lip_vertex_ids")

# Reader limits (a clip file is untrusted input): each array's declared size and shape is checked against
# these before it is decompressed, so a small hostile file cannot claim gigabytes (a zip bomb).
MAX_FRAMES = 10_000_000            # 46 h at 60 fps
MAX_JOINTS = 1024
MAX_LIP_VERTICES = 1 << 17         # the whole ICT head has 26719 vertices
MAX_NAME_CHARS = 256               # a joint, channel or phone name
MAX_META_CHARS = 1 << 20           # the meta JSON text
MAX_META_DEPTH = 32                # nesting of meta's objects and lists
MAX_CLIP_BYTES = 4 << 30           # all arrays of a clip file together, decompressed (an hour at 30 fps: ~0.5 GB)
_TEXT = 4 * MAX_NAME_CHARS         # bytes per element of a name array (numpy stores UCS-4)
_AXIS = 1024                       # a fixed axis (52 channels, 3 coordinates): validate() names a wrong size
_CLIP_MEMBERS = {
    "meta": Member("U", (), 4 * MAX_META_CHARS),
    "expression": Member("fiu", (MAX_FRAMES, _AXIS)),
    "expression_names": Member("U", (_AXIS,), _TEXT),
    "joint_angles": Member("fiu", (MAX_FRAMES, MAX_JOINTS, _AXIS)),
    "joint_names": Member("U", (MAX_JOINTS,), _TEXT),
    "joint_parents": Member("iu", (MAX_JOINTS,)),
    "root_translation": Member("fiu", (MAX_FRAMES, _AXIS)),
    "lip_vertices": Member("fiu", (MAX_FRAMES, MAX_LIP_VERTICES, _AXIS)),
    "lip_vertex_ids": Member("iu", (MAX_LIP_VERTICES,)),
    "phoneme_times": Member("fiu", (MAX_FRAMES, 2)),
    "phoneme_labels": Member("U", (MAX_FRAMES,), _TEXT),
}


def load_clip(path) -> Clip:
    """Read and validate a clip file. Raises :class:`ClipError` (or :class:`SchemaVersionError`).

    Any file, however broken or hostile, gives a clip or one of these errors: array sizes and shapes are
    checked against the reader limits above before anything is decompressed.
    """
    path = Path(path)
    if not path.is_file():
        raise ClipError(f"{path}: no such clip file")
    data = read_npz(path, _CLIP_MEMBERS, max_total_bytes=MAX_CLIP_BYTES)
    missing = [k for k in _REQUIRED if k not in data]
    if "meta" in missing:
        raise ClipError(f"{path}: field 'meta' is missing")
    meta = _read_meta(_text(data["meta"], "meta", path), path)
    version = meta.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ClipError(f"{path}: field 'meta.schema_version' is missing or not a positive integer")
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(f"{path}: written with clip schema {version}; this Parley reads up to "
                                 f"{SCHEMA_VERSION}. Update Parley to read it.")
    if missing:
        raise ClipError(f"{path}: field {missing[0]!r} is missing")
    try:
        fps, duration_s = float(meta["fps"]), float(meta["duration_s"])
    except (KeyError, TypeError, ValueError, OverflowError):
        raise ClipError(f"{path}: field 'meta.fps' or 'meta.duration_s' is missing or not a number") from None
    phonemes = None
    if "phoneme_times" in data:
        t, lab = data["phoneme_times"], data.get("phoneme_labels")
        if lab is None or len(lab) != len(t):
            raise ClipError(f"{path}: fields 'phoneme_times'/'phoneme_labels' disagree in shape")
        labels = _texts(lab, "phoneme_labels", path)
        phonemes = tuple(Phone(float(a), float(b), s) for (a, b), s in zip(t.astype(np.float64), labels))
    clip = Clip(
        fps=fps, duration_s=duration_s,
        expression=_as_float(data["expression"]),
        expression_names=tuple(_texts(data["expression_names"], "expression_names", path)),
        joint_angles=_as_float(data["joint_angles"]),
        joint_names=tuple(_texts(data["joint_names"], "joint_names", path)),
        joint_parents=tuple(int(p) for p in data["joint_parents"]),
        root_translation=_as_float(data["root_translation"]),
        lip_vertices=_as_float(data["lip_vertices"]),
        lip_vertex_ids=_vertex_ids(data["lip_vertex_ids"], path),
        phonemes=phonemes, meta=meta,
    )
    try:
        return clip.validate()
    except ClipError as e:
        raise ClipError(f"{path}: {e}") from None


def _read_meta(text: str, path: Path) -> dict:
    """The meta JSON object; huge integers, deep nesting and anything not an object are ClipErrors."""
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError):  # JSONDecodeError, integers over 4300 digits, nesting past the stack
        raise ClipError(f"{path}: field 'meta' is not valid JSON") from None
    if not isinstance(meta, dict):
        raise ClipError(f"{path}: field 'meta' is not a JSON object")
    level: list[dict | list] = [meta]
    depth = 1
    while level:
        level = [v for x in level for v in (x.values() if isinstance(x, dict) else x) if isinstance(v, (dict, list))]
        depth += bool(level)
        if depth > MAX_META_DEPTH:
            raise ClipError(f"{path}: field 'meta' nests deeper than {MAX_META_DEPTH} levels")
    return meta


def _text(a: np.ndarray, key: str, path: Path) -> str:
    """A 0-d text array as a string."""
    return _texts(a.reshape(1), key, path)[0]


def _texts(a: np.ndarray, key: str, path: Path) -> list[str]:
    """A 1-D text array as strings; code points past U+10FFFF are a ClipError."""
    try:
        return [str(s) for s in a]
    except ValueError:
        raise ClipError(f"{path}: field {key!r} holds invalid characters") from None


def _vertex_ids(a: np.ndarray, path: Path) -> np.ndarray:
    """(L,) int64 vertex indices from any integer array (values past int64 are a ClipError, not a wrap)."""
    if a.size and a.dtype.kind == "u" and int(a.max()) > np.iinfo(np.int64).max:
        raise ClipError(f"{path}: lip_vertex_ids: vertex index {int(a.max())} is out of range")
    return a.astype(np.int64)


def _as_float(a: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # float64 beyond float32 becomes inf, which validate() names
        return a.astype(np.float32, copy=False)


def neutral_clip(duration_s: float, *, fps: float = 30.0, meta: dict | None = None,
                 lip_vertex_ids=None, lip_rest_m=None) -> Clip:
    """A clip of the right length with every channel at rest (zero weights, rest pose)."""
    from .skeleton import canonical_skeleton

    sk = canonical_skeleton()
    T = num_frames(duration_s, fps)
    ids = np.zeros(0, dtype=np.int64) if lip_vertex_ids is None else np.asarray(lip_vertex_ids, dtype=np.int64)
    lips = (np.zeros((T, len(ids), 3), np.float32) if lip_rest_m is None
            else np.broadcast_to(np.asarray(lip_rest_m, np.float32), (T, len(ids), 3)).copy())
    return Clip(
        fps=float(fps), duration_s=float(duration_s),
        expression=np.zeros((T, NUM_CHANNELS), np.float32),
        joint_angles=np.zeros((T, sk.num_joints, 3), np.float32),
        joint_names=sk.names, joint_parents=sk.parents,
        root_translation=np.zeros((T, 3), np.float32),
        lip_vertices=lips, lip_vertex_ids=ids,
        meta=meta if meta is not None else make_meta(fps=fps, duration_s=duration_s, mode="neutral"),
    )
