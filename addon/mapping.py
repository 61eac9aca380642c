"""Channel -> shape-key and joint -> bone mappings for the add-on (pure Python, no bpy).

Shape keys are matched to the 52 ARKit channels by name with :func:`rigs.core.arkit.match_names` (case,
``_L/_R``, PascalCase, vendor prefixes such as Character Creator's ``CC_Base_`` or Faceit's). Bones are
matched with :func:`rigs.retarget.maps.detect_rig`; a rig it does not know gets an explicit joint -> bone
map (the Mapping panel's bone rows, :func:`bones_from_rows`). A mapping is saved and loaded as a JSON
preset, shape keys and bones both::

    {"parley_mapping": 1, "name": "...", "shape_keys": {"jawOpen": ["Jaw_Open"], ...},
     "bones": {"jaw": "DEF-jaw", ...}}
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .vocab import arkit, errors, retarget, skeleton

PRESET_FORMAT = 1


class MappingError(errors.ParleyError):
    """A preset that cannot be read, or a mapping that names unknown channels."""


@dataclass
class ShapeKeyMatch:
    """``mapping[channel] = [shape keys]``; channels with no key; shape keys matching no channel."""

    mapping: dict[str, list[str]]
    unmapped_channels: list[str]
    unmatched_keys: list[str]


@dataclass
class BoneMatch:
    """Detected rig layout (or None) and ``joint -> bone`` for the canonical joints found."""

    layout: str | None
    bones: dict[str, str] = field(default_factory=dict)
    unmapped_joints: list[str] = field(default_factory=list)
    note: str = ""
    partial: bool = False   # only a few canonical names among many unknown bones: ask for a map

    def describe(self) -> str:
        """``"mixamo (22/25 joints)"``, ``"custom map (5/25 joints)"`` or ``"not recognised"``."""
        if self.layout is None:
            return "not recognised"
        n = len(self.bones) + len(self.unmapped_joints)
        return f"{self.layout} ({len(self.bones)}/{n} joints{', partial' if self.partial else ''})"


PARTIAL_UNKNOWN_FRACTION = 0.5  # canonical names among more unknown bones than this fraction: not a rig we know


def match_shape_keys(key_names, *, basis: str | None = None) -> ShapeKeyMatch:
    """Auto-detect ARKit channels among ``key_names`` (the basis key is ignored)."""
    names = [n for n in key_names if n != basis]
    mapping, unmatched = arkit.match_names(names)
    unmapped = [c for c in arkit.ARKIT_NAMES if c not in mapping]
    return ShapeKeyMatch(mapping=mapping, unmapped_channels=unmapped, unmatched_keys=unmatched)


def match_bones(bone_names) -> BoneMatch:
    """Detect the armature layout with :func:`rigs.retarget.maps.detect_rig` (humanoid rigs)."""
    bone_names = list(bone_names)
    skel = skeleton.canonical_skeleton()
    present = {n.lower(): n for n in bone_names}
    canonical = {j: present[j] for j in skel.names if j in present}
    bones: dict[str, str] = {}
    note = ""
    layout = retarget.detect_rig(bone_names)
    if layout:
        bones = retarget.resolve_bones(retarget.load_map(layout), bone_names)
    partial = False
    if layout is None and canonical:
        # bones named by the canonical (SMPL-X) joints: a face/neck rig, or an unknown skeleton that happens to
        # have a "Neck" and a "Head"
        layout, bones = "canonical", canonical
        unknown = len(bone_names) - len(canonical)
        partial = unknown > PARTIAL_UNKNOWN_FRACTION * len(bone_names)
        if partial:
            note = f"only {len(canonical)} of {len(bone_names)} bones have canonical names"
    return BoneMatch(layout=layout, bones=dict(bones), unmapped_joints=[j for j in skel.names if j not in bones],
                     note=note, partial=partial)


def bones_from_rows(rows: dict, bone_names) -> BoneMatch:
    """A :class:`BoneMatch` from an explicit ``{joint: bone}`` map (the Mapping panel's bone rows or a
    preset); raises :class:`MappingError` for an unknown joint or a bone the armature lacks."""
    skel = skeleton.canonical_skeleton()
    have = set(bone_names)
    for j, b in rows.items():
        if j not in skel.names:
            raise MappingError(f"{j!r} is not a canonical joint (one of {', '.join(skel.names)})")
        if b not in have:
            raise MappingError(f"bone map names {b!r} for {j}, which the armature does not have")
    layout = retarget.detect_rig(list(bone_names)) or "custom map"
    return BoneMatch(layout=layout, bones=dict(rows), unmapped_joints=[j for j in skel.names if j not in rows],
                     note="from the bone map")


def validate_bones(bones: dict) -> dict[str, str]:
    """Normalise ``{joint: bone}``; raise :class:`MappingError` on unknown joints or empty names."""
    names = skeleton.canonical_skeleton().names
    out = {}
    for j, b in bones.items():
        if j not in names:
            raise MappingError(f"unknown joint {j!r} in bone mapping (use the canonical joint names)")
        if not isinstance(b, str) or not b:
            raise MappingError(f"joint {j!r}: bone names must be non-empty strings")
        out[j] = b
    return out


def validate_mapping(shape_keys: dict) -> dict[str, list[str]]:
    """Normalise ``{channel: name or [names]}``; raise :class:`MappingError` on unknown channels."""
    out: dict[str, list[str]] = {}
    for ch, keys in shape_keys.items():
        if ch not in arkit.ARKIT_INDEX:
            raise MappingError(f"unknown ARKit channel {ch!r} in mapping")
        keys = [keys] if isinstance(keys, str) else list(keys)
        if not all(isinstance(k, str) and k for k in keys):
            raise MappingError(f"channel {ch!r}: shape-key names must be non-empty strings")
        if keys:
            out[ch] = keys
    return out


def save_preset(path, *, name: str, shape_keys: dict, bones: dict | None = None) -> Path:
    """Write a mapping preset as JSON."""
    path = Path(path)
    data = {"parley_mapping": PRESET_FORMAT, "name": name, "shape_keys": validate_mapping(shape_keys),
            "bones": validate_bones(bones or {})}
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def load_preset(path) -> dict:
    """Read a preset: ``{"name", "shape_keys": {channel: [keys]}, "bones": {joint: bone}}``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MappingError(f"{path}: no such preset file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MappingError(f"{path}: not a JSON mapping preset ({e.__class__.__name__})") from None
    if not isinstance(data, dict) or "shape_keys" not in data:
        raise MappingError(f"{path}: not a Parley mapping preset (no 'shape_keys')")
    if int(data.get("parley_mapping", 1)) > PRESET_FORMAT:
        raise MappingError(f"{path}: preset format {data['parley_mapping']} is newer than this add-on reads")
    bones = data.get("bones") or {}
    if not isinstance(bones, dict):
        raise MappingError(f"{path}: 'bones' must be an object")
    return {"name": str(data.get("name") or path.stem), "shape_keys": validate_mapping(data["shape_keys"]),
            "bones": validate_bones({str(k): v for k, v in bones.items()})}


# channels whose absence matters most for lip-sync, named first in a summary
KEY_CHANNELS = ("jawOpen", "mouthClose", "mouthFunnel", "mouthPucker")


def summary(match: ShapeKeyMatch, bones: BoneMatch | None = None, *, fallbacks: str = "") -> str:
    """One line for the status bar: how much was mapped and what was not; a missing ``jawOpen`` leads
    (with the ``fallbacks`` that stand in for it, e.g. ``"mouthOpen and 15 visemes"``)."""
    n = len(match.mapping)
    s = ""
    if "jawOpen" in match.unmapped_channels and (n or fallbacks):
        s = (f"no jawOpen: the mouth is driven through {fallbacks}; " if fallbacks
             else "no jawOpen: the mouth will not open; ")
    s += f"{n}/{arkit.NUM_CHANNELS} ARKit channels mapped"
    if match.unmapped_channels and n:
        order = [c for c in KEY_CHANNELS if c in match.unmapped_channels] + \
                [c for c in match.unmapped_channels if c not in KEY_CHANNELS]
        head = ", ".join(order[:6])
        s += f"; unmapped: {head}{' ...' if len(order) > 6 else ''}"
    if match.unmatched_keys:
        s += f"; {len(match.unmatched_keys)} shape keys not ARKit"
    if bones is not None:
        s += f"; armature: {bones.describe()}" if bones.layout else "; armature layout not recognised"
    return s


def fallback_summary(key_names) -> str:
    """What stands in for a missing ``jawOpen`` on a mesh: ``"mouthOpen and 15 visemes"`` or ``""``."""
    mouth, vis = retarget.face.match_fallbacks(list(key_names))
    return " and ".join(filter(None, [mouth, f"{len(vis)} visemes" if vis else ""]))
