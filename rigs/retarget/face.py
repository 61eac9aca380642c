"""Faces that lack ARKit's jaw shapes: a jaw-bone rotation from ``jawOpen``, and ``mouthOpen``/viseme fallbacks (numpy).

Many rigs open the mouth with a jaw bone (Rigify's face, MetaHuman-style and Character Creator rigs), and many
avatars have no ``jawOpen`` shape key but a ``mouthOpen`` key and the 15 Oculus/Meta visemes (ReadyPlayerMe,
VRChat-style avatars). A clip carries ARKit weights; these functions turn them into what such rigs have:

* :func:`jaw_angles_from_expression`: the canonical ``jaw`` joint's local rotation (axis-angle radians, Y up,
  +Z forward, +X the character's left) from ``jawOpen`` (a rotation about +X, chin down, up to
  :data:`JAW_OPEN_MAX_RAD`) and ``jawLeft``/``jawRight`` (about +Y, up to :data:`JAW_SIDE_MAX_RAD`).
* :func:`visemes_from_expression`: Oculus viseme weights (:data:`VISEMES`) fitted to the mouth channels of
  each frame as a non-negative combination of viseme prototypes (projected-gradient non-negative least
  squares). The prototypes are Parley's own articulatory estimates of each viseme in ARKit terms.
* :func:`match_fallbacks`: which shape keys of a mesh can stand in for ``jawOpen`` (``mouthOpen``) and
  which are visemes.

References: Apple ARKit ARFaceAnchor.BlendShapeLocation; Meta "Oculus Lipsync viseme reference" (the 15
visemes sil, PP, FF, TH, DD, kk, CH, SS, nn, RR, aa, E, I, O, U); Lawson & Hanson 1974 (non-negative least
squares); Ostry & Munhall 1994 (jaw rotation in speech, up to ~15-25 degrees).
"""
from __future__ import annotations

import re

import numpy as np

from ..core.arkit import ARKIT_NAMES
from ..core.rotations import euler_to_axis_angle

JAW_OPEN_MAX_RAD = np.deg2rad(25.0)   # jaw rotation at jawOpen = 1 (wide open)
JAW_SIDE_MAX_RAD = np.deg2rad(8.0)    # jaw yaw at jawLeft/jawRight = 1
STATIC_RAD = 1e-4                     # a clip joint that never moves more than this is "not animated"

VISEMES: tuple[str, ...] = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U")

# viseme -> ARKit weights of its mouth shape (left/right pairs listed once, applied to both sides)
_PROTOTYPES: dict[str, dict[str, float]] = {
    "sil": {},
    "PP": {"mouthClose": 0.6, "mouthPress": 0.5, "jawOpen": 0.05},
    "FF": {"mouthRollLower": 0.6, "mouthUpperUp": 0.3, "jawOpen": 0.1},
    "TH": {"jawOpen": 0.15, "tongueOut": 0.4},
    "DD": {"jawOpen": 0.2, "mouthStretch": 0.2},
    "kk": {"jawOpen": 0.25, "mouthStretch": 0.15, "mouthShrugUpper": 0.1},
    "CH": {"mouthFunnel": 0.5, "mouthPucker": 0.2, "jawOpen": 0.15, "mouthShrugUpper": 0.2},
    "SS": {"jawOpen": 0.08, "mouthStretch": 0.35, "mouthSmile": 0.2},
    "nn": {"jawOpen": 0.18, "mouthStretch": 0.1, "mouthShrugLower": 0.1},
    "RR": {"mouthPucker": 0.35, "mouthFunnel": 0.25, "jawOpen": 0.15},
    "aa": {"jawOpen": 0.65},
    "E": {"jawOpen": 0.35, "mouthStretch": 0.4, "mouthUpperUp": 0.1},
    "I": {"jawOpen": 0.2, "mouthSmile": 0.45, "mouthStretch": 0.2},
    "O": {"jawOpen": 0.45, "mouthFunnel": 0.6},
    "U": {"jawOpen": 0.15, "mouthPucker": 0.7, "mouthFunnel": 0.2},
}
NNLS_ITERATIONS = 300
NNLS_SPARSITY = 0.01  # L1 weight: of two equally good fits prefer fewer visemes
MOUTH_OPEN_NAMES = ("mouthopen", "mouth_open", "mouth.open", "openmouth", "mouthopened")
MIN_VISEME_KEYS = 5   # this many viseme keys make a mesh a viseme face


def _channel_columns(name: str, names: list[str]) -> list[int]:
    """Columns of ``names`` for an ARKit channel or a Left/Right pair given once (``mouthSmile``)."""
    if name in names:
        return [names.index(name)]
    return [names.index(n) for n in (name + "Left", name + "Right") if n in names]


def _prototype_matrix(names: list[str]) -> tuple[np.ndarray, list[int]]:
    """(C, V) prototype weights over the mouth channels used, and those channels' columns in ``names``."""
    cols: list[int] = sorted({c for p in _PROTOTYPES.values() for k in p for c in _channel_columns(k, names)})
    M = np.zeros((len(cols), len(VISEMES)))
    for v, vis in enumerate(VISEMES):
        for k, w in _PROTOTYPES[vis].items():
            for c in _channel_columns(k, names):
                M[cols.index(c), v] = w
    return M, cols


def visemes_from_expression(expression: np.ndarray, names=None, *, iterations: int = NNLS_ITERATIONS) -> np.ndarray:
    """(T, 15) viseme weights in [0, 1] (:data:`VISEMES` order) that best rebuild each frame's mouth
    channels of ``expression`` (T, C) named ``names`` (default: the 52 ARKit channels) as a non-negative
    sum of viseme prototypes (with a small L1 penalty, :data:`NNLS_SPARSITY`); ``sil`` takes what is left of the mouth at rest (1 - the largest other weight)."""
    names = list(names) if names is not None else list(ARKIT_NAMES)
    E = np.asarray(expression, dtype=np.float64)
    M, cols = _prototype_matrix(names)
    Y = E[:, cols]                                  # (T, C) mouth channels
    G = M.T @ M                                     # (V, V)
    step = 1.0 / max(np.linalg.eigvalsh(G).max(), 1e-9)
    b = Y @ M                                       # (T, V)
    W = np.zeros((E.shape[0], len(VISEMES)))
    for _ in range(iterations):                     # projected gradient on 0 <= w <= 1
        W = np.clip(W - step * (W @ G - b + NNLS_SPARSITY), 0.0, 1.0)
    sil = VISEMES.index("sil")
    W[:, sil] = np.clip(1.0 - np.delete(W, sil, axis=1).max(axis=1), 0.0, 1.0)
    return W


def jaw_angles_from_expression(expression: np.ndarray, names=None) -> np.ndarray:
    """(T, 3) canonical jaw joint axis-angle radians from ``jawOpen``, ``jawLeft`` and ``jawRight``."""
    names = list(names) if names is not None else list(ARKIT_NAMES)
    E = np.asarray(expression, dtype=np.float64)

    def ch(n):
        return E[:, names.index(n)] if n in names else np.zeros(E.shape[0])

    pitch = JAW_OPEN_MAX_RAD * np.clip(ch("jawOpen"), 0.0, 1.0)
    yaw = JAW_SIDE_MAX_RAD * (np.clip(ch("jawLeft"), 0.0, 1.0) - np.clip(ch("jawRight"), 0.0, 1.0))
    return euler_to_axis_angle(np.stack([yaw, pitch, np.zeros_like(yaw)], axis=1), "YXZ")


def jaw_is_static(joint_angles: np.ndarray, joint_names) -> bool:
    """Whether a clip leaves its ``jaw`` joint at rest (or has none)."""
    names = list(joint_names)
    if "jaw" not in names:
        return True
    return float(np.abs(np.asarray(joint_angles)[:, names.index("jaw")]).max(initial=0.0)) <= STATIC_RAD


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.rsplit(":", 1)[-1].lower())


def match_fallbacks(key_names) -> tuple[str | None, dict[str, str]]:
    """(the ``mouthOpen``-like key or None, viseme -> key) among a mesh's shape keys. Visemes match
    ``viseme_aa``, ``Viseme_AA``, ``v_aa``... (case-insensitive); fewer than :data:`MIN_VISEME_KEYS`
    count as none."""
    mouth = next((k for k in key_names if _norm(k) in {_norm(n) for n in MOUTH_OPEN_NAMES}), None)
    vis: dict[str, str] = {}
    for k in key_names:
        m = re.fullmatch(r"(?:viseme|vis|v)[_.\- ]?([a-z]+)", k.rsplit(":", 1)[-1], flags=re.IGNORECASE)
        if not m:
            continue
        v = next((v for v in VISEMES if v.lower() == m.group(1).lower()), None)
        if v is not None and v not in vis:
            vis[v] = k
    return mouth, (vis if len(vis) >= MIN_VISEME_KEYS else {})
