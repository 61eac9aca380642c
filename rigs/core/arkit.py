"""The 52 ARKit blendshape channels: canonical names, aliases and name matching.

Canonical names are Apple's ``ARFaceAnchor.BlendShapeLocation`` raw values (lowerCamelCase), kept in
alphabetical order; that order is the column order of ``Clip.expression``. Rigs name the same shapes in
many ways: Live Link Face's PascalCase, ``_L/_R`` suffixes (ICT FaceKit, Faceit), ``Left``/``Right``,
namespaces (``blendShape1.jawOpen``), vendor prefixes (Character Creator ``CC_Base_``, ``A01_``) and
split channels (ICT's ``browInnerUp_L``/``_R`` for one ARKit ``browInnerUp``). :func:`match_names` maps
any such list onto the canonical channels, case-insensitively.

References: Apple ARKit documentation, ARFaceAnchor.BlendShapeLocation; Epic Games Live Link Face CSV.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import ConfigError

_DATA = Path(__file__).resolve().parent / "data" / "arkit.json"


@lru_cache(maxsize=1)
def _table() -> dict:
    with open(_DATA, encoding="utf-8") as f:
        return json.load(f)


ARKIT_NAMES: tuple[str, ...] = tuple(_table()["canonical"])
ARKIT_INDEX: dict[str, int] = {n: i for i, n in enumerate(ARKIT_NAMES)}
NUM_CHANNELS: int = len(ARKIT_NAMES)   # 52
LIVELINK_COLUMNS: tuple[str, ...] = tuple(_table()["livelink_columns"])
REGIONS: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in _table()["regions"].items()}

_PREFIXES = ("ccbase", "cc", "faceit", "arkit", "blendshapes", "blendshape", "shapes", "shape", "bs", "sk")
_SIDE_SUFFIX = re.compile(r"(?:[_.\-\s]?)(l|r|left|right)$", re.IGNORECASE)
_SIDE_PREFIX = re.compile(r"^(l|r|left|right)[_.\-\s]", re.IGNORECASE)
_NUM_PREFIX = re.compile(r"^[a-z]?\d+[_\-\s]", re.IGNORECASE)


def _squash(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


@lru_cache(maxsize=1)
def _lookup() -> dict[str, str]:
    return {_squash(n): n for n in ARKIT_NAMES}


def canonical_name(name: str) -> str | None:
    """The canonical ARKit channel a rig's shape-key or column name stands for, or None.

    Handles case, ``_L/_R``, ``.L/.R``, ``Left/Right`` in any position at the ends, namespaces
    (``ns:name``, ``blendShape1.name``), numbered prefixes (``A01_``) and common vendor prefixes.
    ICT's split channels (``browInnerUp_L``, ``cheekPuff_R``) map to their single ARKit channel.
    """
    base = re.split(r"[:|]", name.strip())[-1]
    if "." in base and not re.search(r"\.(l|r|left|right)$", base, re.IGNORECASE):
        base = base.rsplit(".", 1)[-1]
    base = _NUM_PREFIX.sub("", base)
    side = ""
    m = _SIDE_SUFFIX.search(base)
    if m and len(base) > len(m.group(0)) + 2:
        # a bare trailing "l"/"r" only counts as a side after a separator or on a camelCase boundary
        tok = m.group(1)
        if len(tok) > 1 or m.group(0)[0] in "_.- " or base[m.start(1) - 1].islower() and tok.isupper():
            side = "Left" if tok.lower().startswith("l") else "Right"
            base = base[: m.start()]
    else:
        p = _SIDE_PREFIX.match(base)
        if p:
            side = "Left" if p.group(1).lower().startswith("l") else "Right"
            base = base[p.end():]
    key = _squash(base)
    for pre in _PREFIXES:
        if key.startswith(pre) and _squash_lookup(key[len(pre):], side):
            key = key[len(pre):]
            break
    return _squash_lookup(key, side)


def _squash_lookup(key: str, side: str) -> str | None:
    table = _lookup()
    hit = table.get(key + side.lower())
    if hit is None and side:
        hit = table.get(key)  # ICT split channels: browInnerUp_L -> browInnerUp
    return hit


def match_names(rig_names) -> tuple[dict[str, list[str]], list[str]]:
    """Map a rig's names onto ARKit channels.

    Returns ``(mapping, unmatched)``: ``mapping[canonical] = [rig names driven by it]`` (two for split
    channels) and the rig names that matched nothing, in input order.
    """
    mapping: dict[str, list[str]] = {}
    unmatched: list[str] = []
    for n in rig_names:
        c = canonical_name(n)
        if c is None:
            unmatched.append(n)
        else:
            mapping.setdefault(c, []).append(n)
    return mapping, unmatched


def livelink_name(canonical: str) -> str:
    """Live Link Face column name (PascalCase) of a canonical channel."""
    return canonical[0].upper() + canonical[1:]


def channel_gains(names, *, regions=None, intensity=1.0) -> np.ndarray:
    """(52,) gain per channel: 0 outside ``regions`` (None: all), times ``intensity`` (a number or a
    ``{region: gain}`` dict; regions per :data:`REGIONS`)."""
    g = np.ones(len(names))
    if regions is not None:
        bad = [r for r in regions if r not in REGIONS]
        if bad:
            raise ConfigError(f"unknown region(s) {bad}; known: {sorted(REGIONS)}")
        keep = {c for r in regions for c in REGIONS[r]}
        g *= np.array([n in keep for n in names], dtype=float)
    if isinstance(intensity, dict):
        for r, v in intensity.items():
            if r not in REGIONS:
                raise ConfigError(f"unknown region {r!r}; known: {sorted(REGIONS)}")
            members = set(REGIONS[r])
            g *= np.array([float(v) if n in members else 1.0 for n in names])
    else:
        g *= float(intensity)
    return g
