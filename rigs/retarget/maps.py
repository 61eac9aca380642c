"""Retarget maps: which bone of a rig plays each canonical joint (``rigs/retarget/maps/<name>.json``).

::

    {
      "name": "mixamo",
      "description": "...",
      "space": {"up": "Z", "forward": "-Y"},      # default axes of the rig's armature space
      "bones": {"pelvis": ["mixamorig:Hips"], ...},  # canonical joint -> candidate bone names
      "optional": ["left_eye", "right_eye"],       # not required by detect_rig()
      "options": {"left_eye": {"mode": "rotation"}},
      "controls": [{"bone": "torso", "follows": "DEF-spine.002", ...}, ...],  # control rigs, see controls.py
      "synthetic_rest": {...}                      # test skeleton recipe, see synthetic_rest()
    }

Canonical joint names are those of :func:`rigs.core.skeleton.canonical_skeleton`. Candidate names match
exactly first, then case-insensitively after dropping any namespace (``mixamorig1:Hips`` matches
``mixamorig:Hips``). Per-bone ``options.mode``: ``"direction"`` (default) aligns the bone's world
direction with the source's; ``"rotation"`` copies the world rotation change unaligned (for bones
whose rest frames already agree); ``"rest"`` keeps the rig's rest posture relative to the parent (what a
bake uses, see :mod:`rigs.retarget.plan`). ``controls`` (optional) lists the animator controls that move the
mapped bones on a generated control rig such as Rigify's (:mod:`rigs.retarget.controls`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..core.errors import RigError
from ..core.skeleton import canonical_skeleton

MAPS_DIR = Path(__file__).resolve().parent / "maps"


@dataclass(frozen=True)
class RetargetMap:
    """A parsed ``rigs/data/maps/*.json`` file (see the module docstring)."""

    name: str
    bones: dict  # canonical -> tuple of candidate names
    up: str = "Y"
    forward: str = "Z"
    optional: tuple[str, ...] = ()
    options: dict = field(default_factory=dict)
    description: str = ""
    synthetic: dict = field(default_factory=dict)
    controls: tuple = ()  # raw control entries, parsed by rigs.retarget.controls.ControlSpec

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(k for k in self.bones if k not in self.optional)


def _parse_map(data: dict, source: str) -> RetargetMap:
    try:
        bones = {}
        canon = set(canonical_skeleton().names)
        for k, v in data["bones"].items():
            if k not in canon:
                raise RigError(f"{source}: {k!r} is not a canonical joint name")
            bones[k] = (v,) if isinstance(v, str) else tuple(v)
        space = data.get("space", {})
        return RetargetMap(name=str(data["name"]), bones=bones, up=space.get("up", "Y"),
                           forward=space.get("forward", "Z"), optional=tuple(data.get("optional", ())),
                           options=dict(data.get("options", {})), description=data.get("description", ""),
                           synthetic=dict(data.get("synthetic_rest", {})),
                           controls=tuple(dict(c) for c in data.get("controls", ())))
    except (KeyError, TypeError, AttributeError) as e:
        raise RigError(f"{source}: not a valid retarget map ({e})") from None


def list_maps() -> tuple[str, ...]:
    """Names of the shipped retarget maps."""
    return tuple(sorted(p.stem for p in MAPS_DIR.glob("*.json")))


@lru_cache(maxsize=32)
def _load_shipped(name: str) -> RetargetMap:
    path = MAPS_DIR / f"{name}.json"
    if not path.is_file():
        raise RigError(f"no retarget map named {name!r} (have: {', '.join(list_maps())})")
    with open(path, encoding="utf-8") as f:
        return _parse_map(json.load(f), str(path))


def load_map(name_or_path) -> RetargetMap:
    """A shipped map by name (``"mixamo"``) or a map JSON file by path."""
    p = Path(str(name_or_path))
    if p.suffix == ".json" and p.is_file():
        try:
            with open(p, encoding="utf-8") as f:
                return _parse_map(json.load(f), str(p))
        except json.JSONDecodeError as e:
            raise RigError(f"{p}: invalid JSON ({e})") from None
    return _load_shipped(str(name_or_path))


def _norm(name: str) -> str:
    return name.rsplit(":", 1)[-1].lower()


def resolve_bones(rig_map: RetargetMap, bone_names) -> dict[str, str]:
    """canonical joint -> the rig's bone name, for every map entry found in ``bone_names``."""
    names = list(bone_names)
    exact = set(names)
    loose: dict[str, str] = {}
    for n in names:
        loose.setdefault(_norm(n), n)
    out = {}
    for canon, cands in rig_map.bones.items():
        hit = next((c for c in cands if c in exact), None)
        if hit is None:
            hit = next((loose[_norm(c)] for c in cands if _norm(c) in loose), None)
        if hit is not None:
            out[canon] = hit
    return out


def detect_rig(bone_names, *, maps=None, min_score: float = 0.75) -> str | None:
    """The shipped map that best fits a rig's bone names, or None.

    Score = fraction of the map's required bones present (after namespace-tolerant matching); the
    best map must reach ``min_score``; ties go to the map with more required bones.
    """
    names = list(bone_names)
    best, best_key = None, (min_score - 1e-9, -1)
    for name in (maps or list_maps()):
        m = load_map(name)
        req = m.required
        if not req:
            continue
        found = resolve_bones(m, names)
        score = sum(1 for k in req if k in found) / len(req)
        key = (score, len(req))
        if key > best_key:
            best, best_key = m.name, key
    return best
