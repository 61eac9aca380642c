"""A linear lip model: ARKit-52 weights -> positions of the lip-region vertices of the ICT FaceKit head.

ICT FaceKit (Li et al., "Learning Formation of Physically-Based Face Attributes", CVPR 2020) ships a
generic neutral head and 53 FACS/ARKit-style expression blendshapes as per-vertex deltas (centimetres,
Y up). A blendshape rig is linear, so the lip region is ``neutral + sum_k w_k * delta_k`` restricted to
a few hundred vertices around the mouth; this module extracts that region once, caches it (a small
``.npz`` keyed by the source file's hash) and evaluates it in metres (Y up kept).

ICT splits ``browInnerUp``/``cheekPuff`` and all sided channels into ``_L``/``_R`` shapes; each ICT
shape is driven by its canonical ARKit channel (:func:`rigs.core.arkit.canonical_name`), so a split channel
drives both halves. ICT has no ``tongueOut``: that weight is ignored.

:func:`inner_lip_gap_m` is the lip-sync metric: the vertical distance between the upper and lower
inner-lip contour at the mouth centre (iBUG-68 landmarks 61-63 over 67-65, 0-based 60-67 being the
inner lip), negative when the lips press into each other.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rigs.core.arkit import ARKIT_INDEX, ARKIT_NAMES, NUM_CHANNELS, canonical_name
from rigs.core.clip import MAX_CLIP_BYTES, MAX_LIP_VERTICES
from rigs.core.errors import ClipError, ParleyError
from rigs.core.files import atomic_write, cache_dir
from rigs.core.npz import Member, read_npz
from rigs.ict import pack_path

log = logging.getLogger(__name__)

TEMPLATE_ID = "ict-facekit"
MODEL_ID = "ict-facekit-linear"
CM_TO_M = 0.01
_CACHE_VERSION = 1
_BLOCK_FRAMES = 4096    # frames per block of positions_m (bounds the matmul working set)


@dataclass(frozen=True)
class LipModelConfig:
    """How the lip region is chosen: vertices within ``radius_m`` of the 20 iBUG-68 mouth landmarks."""

    radius_m: float = 0.0022
    # inner-lip landmark pairs (upper, lower) at the mouth centre, 0-based iBUG-68 indices
    gap_pairs: tuple[tuple[int, int], ...] = ((61, 67), (62, 66), (63, 65))


def _source_hash(path: Path) -> str:
    """sha256 of the file's size and its first and last MiB: cheap, and changes with any re-export."""
    size = path.stat().st_size
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, size - (1 << 20)))
        h.update(f.read())
    return h.hexdigest()


def arkit_to_ict_matrix(ict_names) -> np.ndarray:
    """(52, K) 0/1 matrix mapping ARKit weights onto ICT's K shapes (split channels drive both halves)."""
    M = np.zeros((len(ARKIT_NAMES), len(ict_names)), np.float32)
    for k, n in enumerate(ict_names):
        c = canonical_name(str(n))
        if c is not None:
            M[ARKIT_INDEX[c], k] = 1.0
    return M


class LipModel:
    """ARKit weights -> lip-region vertex positions (metres, ICT template head space, Y up).

    Attributes: ``vertex_ids`` (L,) indices into the ICT mesh, ``neutral_m`` (L, 3),
    ``deltas_m`` (52, L, 3) per ARKit channel, ``gap_upper``/``gap_lower`` (P,) positions within the
    L vertices of the inner-lip pairs used by :meth:`inner_lip_gap_m`.
    """

    template_id = TEMPLATE_ID
    model_id = MODEL_ID

    def __init__(self, vertex_ids, neutral_m, deltas_m, gap_upper, gap_lower):
        self.vertex_ids = np.asarray(vertex_ids, np.int64)
        self.neutral_m = np.asarray(neutral_m, np.float32)
        self.deltas_m = np.asarray(deltas_m, np.float32)
        self.gap_upper = np.asarray(gap_upper, np.int64)
        self.gap_lower = np.asarray(gap_lower, np.int64)
        self._flat = self.deltas_m.reshape(NUM_CHANNELS, -1)

    @property
    def num_vertices(self) -> int:
        return int(self.vertex_ids.shape[0])

    def positions_m(self, expression: np.ndarray) -> np.ndarray:
        """(T, 52) ARKit weights -> (T, L, 3) float32 vertex positions in metres."""
        w = np.asarray(expression, np.float32)
        single = w.ndim == 1
        w = np.atleast_2d(w)
        if w.shape[1] != NUM_CHANNELS:
            raise ValueError(f"expression: expected (T, 52), got {w.shape}")
        # filled block by block into one preallocated float32 array: no (T, L*3) temporaries, so an
        # hour at 30 fps needs just the result (108000 x 299 x 3 float32 = 388 MB)
        out = np.empty((w.shape[0], self.num_vertices * 3), np.float32)
        flat_neutral = self.neutral_m.reshape(-1)
        for a in range(0, w.shape[0], _BLOCK_FRAMES):
            blk = out[a:a + _BLOCK_FRAMES]
            np.matmul(w[a:a + _BLOCK_FRAMES], self._flat, out=blk)
            blk += flat_neutral
        out = out.reshape(w.shape[0], self.num_vertices, 3)
        return out[0] if single else out

    def inner_lip_gap_m(self, positions_m: np.ndarray) -> np.ndarray:
        """(T, L, 3) or (L, 3) positions -> (T,) or () mean vertical inner-lip gap at the mouth centre (m)."""
        p = np.asarray(positions_m)
        return (p[..., self.gap_upper, 1] - p[..., self.gap_lower, 1]).mean(axis=-1)

    def gap_coefficients_m(self) -> tuple[float, np.ndarray]:
        """Linear lip gap: ``gap = g0 + expression @ g`` (the model is linear). Returns (g0, g (52,))."""
        g0 = float(self.inner_lip_gap_m(self.neutral_m))
        g = (self.deltas_m[:, self.gap_upper, 1] - self.deltas_m[:, self.gap_lower, 1]).mean(axis=-1)
        return g0, g.astype(np.float64)

    @classmethod
    def build(cls, src: Path, config: LipModelConfig = LipModelConfig()) -> "LipModel":
        """Extract the lip region from the full ICT FaceKit npz (slow-ish: reads ~350 MB of deltas)."""
        with np.load(src, allow_pickle=False) as z:
            neutral = z["neutral"].astype(np.float64)
            lm = z["landmark68_verts"].astype(np.int64)
            names = [str(s) for s in z["expr_names"]]
            mouth = lm[48:68]
            d = np.full(len(neutral), np.inf)
            for v in mouth:
                d = np.minimum(d, np.linalg.norm(neutral - neutral[v], axis=1))
            ids = np.union1d(np.nonzero(d * CM_TO_M < config.radius_m)[0], mouth)
            deltas_ict = z["expr_deltas"][:, ids, :].astype(np.float64)
        M = arkit_to_ict_matrix(names).astype(np.float64)
        deltas = np.einsum("ak,klc->alc", M, deltas_ict) * CM_TO_M
        pos = {int(v): i for i, v in enumerate(ids)}
        up = [pos[int(lm[a])] for a, _ in config.gap_pairs]
        lo = [pos[int(lm[b])] for _, b in config.gap_pairs]
        return cls(ids, neutral[ids] * CM_TO_M, deltas, up, lo)


def load_lip_model(config: LipModelConfig = LipModelConfig(), *, src: Path | None = None) -> LipModel:
    """The lip model, from the cache (``$PARLEY_CACHE`` or ``~/.cache/parley``) or built and cached.

    A cache file that is empty, truncated or inconsistent (sizes, indices, NaN) is rebuilt and replaced with
    a warning. The cache is written through a unique temp file and an atomic rename, so first runs started
    together each build and write the same file without tripping over each other.
    """
    src = Path(src) if src is not None else pack_path()
    key = hashlib.sha256(f"{_source_hash(src)}|{config}|{_CACHE_VERSION}".encode()).hexdigest()[:16]
    cached = cache_dir() / f"lipmodel_{key}.npz"
    if cached.is_file():
        try:
            return _read_cache(cached)
        except ParleyError as e:
            log.warning("lip model cache unusable (%s); rebuilding it", e)
    model = LipModel.build(src, config)
    atomic_write(cached, lambda f: np.savez(f, vertex_ids=model.vertex_ids, neutral_m=model.neutral_m,
                                            deltas_m=model.deltas_m, gap_upper=model.gap_upper,
                                            gap_lower=model.gap_lower))
    log.info("built lip model (%d vertices) -> %s", model.num_vertices, cached)
    return model


_CACHE_MEMBERS = {
    "vertex_ids": Member("iu", (MAX_LIP_VERTICES,)),
    "neutral_m": Member("f", (MAX_LIP_VERTICES, 3)),
    "deltas_m": Member("f", (NUM_CHANNELS, MAX_LIP_VERTICES, 3)),
    "gap_upper": Member("iu", (MAX_LIP_VERTICES,)),
    "gap_lower": Member("iu", (MAX_LIP_VERTICES,)),
}


def _read_cache(path: Path) -> LipModel:
    """The cached model, checked for consistency; ClipError for a file that is not one."""
    z = read_npz(path, _CACHE_MEMBERS, max_total_bytes=MAX_CLIP_BYTES)
    missing = [k for k in _CACHE_MEMBERS if k not in z]
    if missing:
        raise ClipError(f"{path}: {missing[0]!r} is missing")
    L = len(z["vertex_ids"])
    pairs = len(z["gap_upper"])
    if (L == 0 or z["neutral_m"].shape != (L, 3) or z["deltas_m"].shape != (NUM_CHANNELS, L, 3) or pairs == 0
            or len(z["gap_lower"]) != pairs):
        raise ClipError(f"{path}: arrays disagree in size")
    if max(int(z["gap_upper"].max()), int(z["gap_lower"].max())) >= L:
        raise ClipError(f"{path}: lip-gap vertex outside the region")
    if not (np.all(np.isfinite(z["neutral_m"])) and np.all(np.isfinite(z["deltas_m"]))):
        raise ClipError(f"{path}: NaN or infinite positions")
    return LipModel(z["vertex_ids"], z["neutral_m"], z["deltas_m"], z["gap_upper"], z["gap_lower"])
