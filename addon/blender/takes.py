"""What a bake created, so a take can be flipped on and off or removed exactly (bpy).

Before a bake the add-on snapshots the Actions and every ID's NLA tracks; afterwards the difference is
what the bake made. Removing a take deletes exactly that: its NLA tracks, its Actions and any
animation data that did not exist before, and puts back the rotation mode of every bone the bake
switched to quaternions (unless another take still keys that bone: the record passes to it). Nothing
the artist made is touched.

The switched modes are kept on the take as the custom property ``rotation_modes`` (one
``armature|bone|mode`` per line), so they are saved with the .blend file.
"""
from __future__ import annotations

import bpy


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


def record(take, created: dict, *, rotation_modes=()) -> None:
    """Store what a bake created on ``take``; ``rotation_modes``: (armature, bone, previous mode) of
    the bones the bake switched to quaternion rotation (``BakeResult.rotation_modes``)."""
    take.actions = "\n".join(created["actions"])
    take.tracks = "\n".join("|".join(t) for t in created["tracks"])
    take.anim_data = "\n".join("|".join(a) for a in created["anim"])
    take[ROTATION_MODES] = "\n".join("|".join(m) for m in rotation_modes)


ROTATION_MODES = "rotation_modes"


def rotation_modes(take) -> list[tuple[str, str, str]]:
    """(armature, bone, previous rotation mode) recorded on a take."""
    return [tuple(x.split("|", 2)) for x in _lines(str(take.get(ROTATION_MODES, "")))]


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
    for the rotation-mode hand-over). Returns the number of items removed."""
    if take is not None:
        _restore_rotation_modes(take, [t for t in others if t != take])
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
    return n


def activate(takes, index: int) -> None:
    """Unmute the tracks of take ``index`` and mute those of every other take."""
    for i, take in enumerate(takes):
        for _, t in take_tracks(take):
            t.mute = i != index
