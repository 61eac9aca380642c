"""What a bake created, so a take can be flipped on and off or removed exactly (bpy).

Before a bake the add-on snapshots the Actions and every ID's NLA tracks; afterwards the difference is
what the bake made. Removing a take deletes exactly that: its NLA tracks, its Actions, any animation
data that did not exist before and the sound strip Generate added for it; and it puts back what the
bake changed:

* the static value of every channel it keyed (pose-bone rotations and locations, shape-key values), as
  they were before the first bake that keyed them: without this the rig would stay frozen in the bake's
  last evaluated pose once the NLA strips are gone;
* an artist's active Action that the bake muted or pushed down to the NLA (with the artist's consent),
  with its slot and influence;
* the rotation mode of bones an older version of the add-on switched to quaternions.

A record passes to another take that still keys the same channel (or bone, or the same muted/pushed
Action) instead of being applied, and is applied when the last of them goes. Nothing the artist made is
touched. Records are custom properties of the take (saved with the .blend file): ``restore`` (JSON list of
``[kind, id, data path, index, value]``), ``resolved`` (JSON list of ``[kind, id, how, action, slot,
track, influence]``), ``sound_strip`` (name) and ``rotation_modes`` (``armature|bone|mode`` per line).
"""
from __future__ import annotations

import json

import bpy

from .actions import undo_resolved


def _ids():
    for o in bpy.data.objects:
        yield "OBJECT", o
    for k in bpy.data.shape_keys:
        yield "KEY", k


def _lookup(kind: str, name: str):
    coll = bpy.data.objects if kind == "OBJECT" else bpy.data.shape_keys
    return coll.get(name)


def snapshot() -> dict:
    tracks, anim = {}, set()
    for kind, idb in _ids():
        ad = idb.animation_data
        if ad is not None:
            anim.add((kind, idb.name))
            tracks[(kind, idb.name)] = {t.name for t in ad.nla_tracks}
    return {"actions": {a.name for a in bpy.data.actions}, "tracks": tracks, "anim": anim}


def diff(before: dict) -> dict:
    """What was created since ``before``: action names, (kind, id, track) triples, (kind, id) pairs."""
    after = snapshot()
    tracks = []
    for key, names in after["tracks"].items():
        for t in sorted(names - before["tracks"].get(key, set())):
            tracks.append((key[0], key[1], t))
    return {"actions": sorted(after["actions"] - before["actions"]), "tracks": tracks,
            "anim": sorted(after["anim"] - before["anim"])}


ROTATION_MODES = "rotation_modes"
RESTORE = "restore"
RESOLVED = "resolved"
SOUND_STRIP = "sound_strip"


def _json(take, key: str) -> list:
    try:
        return [tuple(x) for x in json.loads(str(take.get(key, "") or "[]"))]
    except json.JSONDecodeError:
        return []


def _set_json(take, key: str, rows) -> None:
    take[key] = json.dumps([list(r) for r in rows])


def record(take, created: dict, *, rotation_modes=(), restore=(), resolved=(), others=()) -> None:
    """Store what a bake created on ``take``. ``rotation_modes``: (armature, bone, previous mode);
    ``restore``: (kind, id, data path, index, value before) of every channel keyed (``BakeResult.restore``);
    ``resolved``: the artist's Actions muted or pushed down (``BakeResult.resolved``); ``others``: the
    takes already there: a channel one of them keys keeps the value that take recorded (the value
    before any bake), not the current one."""
    pushed = {(r[0], r[1], r[5]) for r in resolved if r[2] == "push_down"}
    take.actions = "\n".join(created["actions"])
    take.tracks = "\n".join("|".join(t) for t in created["tracks"] if tuple(t) not in pushed)
    take.anim_data = "\n".join("|".join(a) for a in created["anim"])
    take[ROTATION_MODES] = "\n".join("|".join(m) for m in rotation_modes)
    held = {}
    for t in others:
        for row in _json(t, RESTORE):
            held.setdefault(tuple(row[:4]), row)
    _set_json(take, RESTORE, [held.get(tuple(r[:4]), r) for r in restore])
    _set_json(take, RESOLVED, resolved)


def record_resolved(take, rows) -> None:
    """Add Actions muted or pushed down after the bake (``BakeResult.resolved`` rows) to ``take``'s record;
    a pushed-down track is the artist's, not the take's: it is not muted when another take plays."""
    _set_json(take, RESOLVED, resolved_actions(take) + [tuple(r) for r in rows])


def set_sound_strip(take, name: str) -> None:
    """Remember the sound strip made for ``take`` (removed with the last take that names it)."""
    take[SOUND_STRIP] = name


def rotation_modes(take) -> list[tuple[str, str, str]]:
    """(armature, bone, previous rotation mode) recorded on a take."""
    return [tuple(x.split("|", 2)) for x in _lines(str(take.get(ROTATION_MODES, "")))]


def restore_values(take) -> list[tuple]:
    """(kind, id, data path, index, value before the bake) of every channel the take keys."""
    return _json(take, RESTORE)


def resolved_actions(take) -> list[tuple]:
    """(kind, id, how, action, slot, track, influence before) of the Actions the take muted or pushed down."""
    return _json(take, RESOLVED)


def _keys_bone(take, arm_name: str, bone: str) -> bool:
    """Whether one of the take's Actions on armature ``arm_name`` keys ``bone``'s quaternion."""
    path = f'pose.bones["{bone}"].rotation_quaternion'
    for idb, track in take_tracks(take):
        if idb.name != arm_name or not isinstance(idb, bpy.types.Object):
            continue
        for strip in track.strips:
            act = strip.action
            for layer in (act.layers if act is not None else ()):
                for st in layer.strips:
                    for bag in st.channelbags:
                        if any(fc.data_path == path for fc in bag.fcurves):
                            return True
    return False


def _restore_rotation_modes(take, others) -> None:
    for arm_name, bone, mode in rotation_modes(take):
        heir = next((t for t in others if _keys_bone(t, arm_name, bone)), None)
        if heir is not None:  # still animated by another take: that take restores it later
            if not any(m[:2] == (arm_name, bone) for m in rotation_modes(heir)):
                heir[ROTATION_MODES] = "\n".join(filter(None, [str(heir.get(ROTATION_MODES, "")),
                                                               f"{arm_name}|{bone}|{mode}"]))
            continue
        ob = bpy.data.objects.get(arm_name)
        pb = ob.pose.bones.get(bone) if ob is not None and ob.pose is not None else None
        if pb is not None:
            pb.rotation_mode = mode


def _restore_channel_values(take, others) -> None:
    """Put back the static value of every channel the take keyed that no remaining take keys."""
    still = {tuple(r[:4]) for t in others for r in restore_values(t)}
    for kind, idname, path, index, value in restore_values(take):
        if (kind, idname, path, index) in still:
            continue
        idb = _lookup(kind, idname)
        if idb is None:
            continue
        try:
            prop = idb.path_resolve(path)
        except ValueError:  # the bone or key is gone
            continue
        if hasattr(prop, "__len__"):
            prop[int(index)] = value
        else:
            head, _, attr = path.rpartition(".")
            setattr(idb.path_resolve(head) if head else idb, attr, value)


def _restore_resolved(take, others) -> None:
    """Unmute / pull back up the artist's Actions the take muted or pushed down, unless another take
    still needs them out of the way (it inherits the record)."""
    for row in resolved_actions(take):
        kind, idname, how, action, slot, track_name, influence = row
        heir = next((t for t in others if (kind, idname) in _take_ids(t)), None)
        if heir is not None:
            rows = resolved_actions(heir)
            if not any(tuple(r[:4]) == (kind, idname, how, action) for r in rows):
                _set_json(heir, RESOLVED, rows + [row])
            continue
        undo_resolved(row)


def _take_ids(take) -> list[tuple[str, str]]:
    return [tuple(x.split("|", 2)[:2]) for x in _lines(take.tracks)]


def _remove_sound_strip(take, others) -> None:
    name = str(take.get(SOUND_STRIP, "") or "")
    if not name or any(str(t.get(SOUND_STRIP, "") or "") == name for t in others):
        return
    for scene in bpy.data.scenes:
        se = scene.sequence_editor
        st = se.strips_all.get(name) if se is not None else None
        if st is not None:
            se.strips.remove(st)


def _lines(s: str) -> list[str]:
    return [x for x in s.split("\n") if x]


def take_tracks(take):
    """(ID, NlaTrack) pairs of a take that still exist."""
    out = []
    for line in _lines(take.tracks):
        kind, idname, tname = line.split("|", 2)
        idb = _lookup(kind, idname)
        ad = idb.animation_data if idb is not None else None
        t = ad.nla_tracks.get(tname) if ad is not None else None
        if t is not None:
            out.append((idb, t))
    return out


def remove(created: dict | None = None, *, take=None, others=()) -> int:
    """Delete what a bake created (a ``diff`` dict or a recorded take; ``others``: the takes that stay,
    for the hand-over of restore records). Returns the number of items removed."""
    if take is not None:
        others = [t for t in others if t != take]
        _restore_rotation_modes(take, others)
        _restore_resolved(take, others)
        created = {"actions": _lines(take.actions),
                   "tracks": [tuple(x.split("|", 2)) for x in _lines(take.tracks)],
                   "anim": [tuple(x.split("|", 1)) for x in _lines(take.anim_data)]}
    n = 0
    ours = set(created["actions"])
    for kind, idname, tname in created["tracks"]:
        idb = _lookup(kind, idname)
        ad = idb.animation_data if idb is not None else None
        t = ad.nla_tracks.get(tname) if ad is not None else None
        if t is not None:
            ad.nla_tracks.remove(t)
            n += 1
    for _kind, idb in _ids():
        ad = idb.animation_data
        if ad is not None and ad.action is not None and ad.action.name in ours:
            ad.action = None
    for name in created["actions"]:
        a = bpy.data.actions.get(name)
        if a is not None:
            bpy.data.actions.remove(a)
            n += 1
    for kind, idname in created["anim"]:
        idb = _lookup(kind, idname)
        ad = idb.animation_data if idb is not None else None
        if ad is not None and ad.action is None and len(ad.nla_tracks) == 0 and len(ad.drivers) == 0:
            idb.animation_data_clear()
    if take is not None:
        _restore_channel_values(take, others)
        _remove_sound_strip(take, others)
    return n


def activate(takes, index: int) -> None:
    """Unmute the tracks of take ``index`` and mute those of every other take."""
    for i, take in enumerate(takes):
        for _, t in take_tracks(take):
            t.mute = i != index
