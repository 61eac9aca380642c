"""Writing Actions for a bake, and living with the artist's own (bpy): new slotted Actions on NLA tracks,
bulk keys, the values a bake is about to key, and an active Action that would play over the bake.

Blender 5.0 slotted/layered Actions: one layer, one keyframe strip, one channelbag for the action slot of the
animated ID; every Action is placed as an NLA strip on a new track named with :data:`TRACK_PREFIX`. Keys are
written in bulk (``keyframe_points.add(n)`` + ``foreach_set("co", ...)``, linear interpolation).

References: Blender 5.0 Python API, bpy.types.Action / ActionSlot / ActionChannelbag / NlaStrip /
AnimData.action_influence.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .bake import BakeResult


def new_action(bpy, name: str, id_type: str, slot_name: str):
    """A new layered Action with one slot, one layer, one keyframe strip; returns (action, slot, bag)."""
    act = bpy.data.actions.new(name)
    slot = act.slots.new(id_type=id_type, name=slot_name)
    layer = act.layers.new("Layer")
    strip = layer.strips.new(type="KEYFRAME")
    bag = strip.channelbag(slot, ensure=True)
    return act, slot, bag


def write_fcurve(bag, data_path: str, index: int, frames: np.ndarray, values: np.ndarray, group: str) -> int:
    fc = bag.fcurves.new(data_path, index=index, group_name=group)
    n = len(frames)
    fc.keyframe_points.add(n)
    co = np.empty(2 * n, dtype=np.float32)
    co[0::2], co[1::2] = frames, values
    fc.keyframe_points.foreach_set("co", co)
    fc.keyframe_points.foreach_set("interpolation", np.ones(n, dtype=np.int32))  # LINEAR
    fc.update()
    return n


def place_strip(id_data, act, slot, start_frame: int, name: str, blend: str, result: BakeResult, kind: str):
    if id_data.animation_data is None:
        id_data.animation_data_create()
        result.anim_data.append((kind, id_data.name))
    track = id_data.animation_data.nla_tracks.new()
    track.name = name
    strip = track.strips.new(name, int(start_frame), act)
    strip.action_slot = slot
    strip.blend_type = blend
    strip.extrapolation = "NOTHING"
    result.tracks.append((kind, id_data.name, track.name))
    return strip


def unique_name(bpy, base: str) -> str:
    name, i = base, 1
    while name in bpy.data.actions:
        i += 1
        name = f"{base}.{i:03d}"
    return name


def current_value(idb, data_path: str, index: int) -> float:
    v = idb.path_resolve(data_path)
    return float(v[index]) if hasattr(v, "__len__") else float(v)


def record_values(res: BakeResult, kind: str, idb, data_path: str, count: int) -> None:
    """Remember the values a bake is about to key (their static values come back when it is removed)."""
    for i in range(count):
        res.restore.append((kind, idb.name, data_path, i if count > 1 else 0, current_value(idb, data_path, i)))


# ------------------------------------------------------------------------- the artist's active Action

def active_action_paths(ad) -> set[str]:
    """Data paths the active Action of ``ad`` animates for its slot."""
    act, slot = ad.action, getattr(ad, "action_slot", None)
    out: set[str] = set()
    if act is None:
        return out
    for layer in act.layers:
        for strip in layer.strips:
            for bag in strip.channelbags:
                if slot is None or bag.slot == slot:
                    out.update(fc.data_path for fc in bag.fcurves)
    return out


TRACK_PREFIX = "parley_"  # every bake's Actions and NLA tracks are named so


def _new_track_below_takes(ad):
    """A new NLA track under every Parley take's track of ``ad`` (above the artist's other tracks). Blender
    only adds tracks above another, so when a take's track is the lowest, the take tracks are rebuilt on
    top (same names, strips and mute states)."""
    tracks = list(ad.nla_tracks)
    ours = [i for i, t in enumerate(tracks) if t.name.startswith(TRACK_PREFIX)]
    if not ours:
        return ad.nla_tracks.new()
    if ours[0] > 0:
        return ad.nla_tracks.new(prev=tracks[ours[0] - 1])
    new = ad.nla_tracks.new()
    for i in ours:
        old = tracks[i]
        name, mute = old.name, old.mute
        strips = [(st.name, int(st.frame_start), st.action, st.action_slot, st.blend_type, st.extrapolation)
                  for st in old.strips]
        ad.nla_tracks.remove(old)
        t = ad.nla_tracks.new()
        t.name, t.mute = name, mute
        for sname, start, sact, slot, blend, extra in strips:
            st = t.strips.new(sname, start, sact)
            if slot is not None:
                st.action_slot = slot
            st.blend_type, st.extrapolation = blend, extra
    return new


def resolve_active_action(idb, kind: str, paths: set[str], res: BakeResult, policy: str) -> None:
    """Report (and mute or push down, per ``policy``) an active Action that keys any of ``paths``."""
    ad = idb.animation_data
    if ad is None or ad.action is None or ad.action_influence <= 0.0:
        return
    overlap = paths & active_action_paths(ad)
    if not overlap:
        return
    act = ad.action
    res.hidden.append((kind, idb.name, act.name))
    if policy == "warn":
        res.warnings.append(f"{idb.name}: its active Action {act.name!r} keys {len(overlap)} of the baked channels "
                            "and plays over the bake; mute it or push it down to the NLA to see the bake")
        return
    slot = ad.action_slot
    if policy == "mute":
        res.resolved.append((kind, idb.name, "mute", act.name, slot.identifier if slot else "", "",
                             float(ad.action_influence)))
        ad.action_influence = 0.0
        return
    track = _new_track_below_takes(ad)
    track.name = act.name
    strip = track.strips.new(act.name, int(np.floor(act.frame_range[0])), act)
    if slot is not None:
        strip.action_slot = slot
    strip.extrapolation = "HOLD"
    res.resolved.append((kind, idb.name, "push_down", act.name, slot.identifier if slot else "", track.name,
                         float(ad.action_influence)))
    ad.action = None


def undo_resolved(row) -> None:
    """Undo one ``BakeResult.resolved`` row: the Action's influence back, a pushed-down Action active again
    (its NLA track removed)."""
    import bpy

    kind, idname, how, action, slot, track_name, influence = row
    idb = (bpy.data.objects if kind == "OBJECT" else bpy.data.shape_keys).get(idname)
    ad = idb.animation_data if idb is not None else None
    if ad is None:
        return
    if how == "push_down":
        t = ad.nla_tracks.get(track_name)
        if t is not None:
            ad.nla_tracks.remove(t)
        act = bpy.data.actions.get(action)
        if act is not None and ad.action is None:
            ad.action = act
            s = next((s for s in act.slots if s.identifier == slot), None)
            if s is not None:
                ad.action_slot = s
    ad.action_influence = float(influence)
