"""BVH motion capture (plus an optional wav) retargeted onto the canonical skeleton as :class:`CapturedTake`.

The file is parsed by :func:`rigs.formats.bvh.read_bvh` and retargeted by
:func:`rigs.retarget.solve.bvh_to_canonical` with a retarget map (:mod:`rigs.retarget.maps`: which BVH joint
plays each canonical joint). The map is a shipped one by name (``"cmu_bvh"``), a map JSON by path, or, when
none is given, the shipped map that best fits the file's joint names (:func:`rigs.retarget.maps.detect_rig`).
Every joint of :data:`REQUIRED_JOINTS` (pelvis, legs, arms, head) must be found; otherwise a
:class:`~rigs.core.errors.ConfigError` names the canonical joints missing and the file's joints no map
entry covers, and says how to write a map. Canonical joints the map leaves out (a spine segment, toes) keep
their rest pose relative to their parent. Labels are resampled to ``fps`` with the time base.
"""
from __future__ import annotations

import json
from pathlib import Path

from rigs.core.errors import ConfigError, ParleyError
from rigs.formats.bvh import read_bvh
from rigs.retarget.maps import MAPS_DIR, RetargetMap, detect_rig, list_maps, load_map, resolve_bones
from rigs.retarget.solve import bvh_to_canonical

from .take import TAKE_FPS, TAKE_SAMPLE_RATE, CapturedTake, ReadReport, find_audio, load_take_audio, \
    resample_take_arrays

REQUIRED_JOINTS: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "head")
DETECT_MIN_SCORE = 0.5          # fraction of a map's bones a file must have for the map to be picked
BVH_LICENCE = ""                 # unknown: BVH files carry no licence; pass it


def _map_for(bvh, retarget_map, path: Path) -> RetargetMap:
    if retarget_map is not None:
        return retarget_map if isinstance(retarget_map, RetargetMap) else load_map(retarget_map)
    name = detect_rig(bvh.names, min_score=DETECT_MIN_SCORE)
    if name is None:
        raise ConfigError(_unmapped_message(path, bvh.names, {}, REQUIRED_JOINTS, None))
    return load_map(name)


def _unmapped_message(path: Path, names, found: dict, missing, rig_map: RetargetMap | None) -> str:
    used = set(found.values())
    unmapped = [n for n in names if n not in used]
    example = {"name": "my_mocap", "space": {"up": "Y", "forward": "Z"},
               "bones": {c: [f"<{path.stem} joint>"] for c in list(missing)[:2]}}
    which = f"the {rig_map.name!r} map" if rig_map else f"any shipped map ({', '.join(list_maps())})"
    return (f"{path}: {which} finds no joint for canonical {', '.join(missing)}; joints of the file no map entry "
            f"covers: {', '.join(unmapped[:30])}{' ...' if len(unmapped) > 30 else ''}. Map them in a retarget map "
            f"JSON like {MAPS_DIR / 'cmu_bvh.json'} (e.g. {json.dumps(example)}) and pass its path as retarget_map")


def read_bvh_take(bvh_path, audio_path=None, *, retarget_map=None, fps: float = TAKE_FPS,
                  sample_rate: int = TAKE_SAMPLE_RATE, speaker: str = "", licence: str = BVH_LICENCE,
                  require_audio: bool = False) -> CapturedTake:
    """One BVH take on the canonical skeleton (``joint_angles`` and ``root_translation`` in metres) with the
    audio of the same stem next to it when there is one (``require_audio=True`` makes it compulsory).
    Raises RigError (unparseable BVH), ConfigError (joints no map covers), ClipError, AudioError."""
    path = Path(bvh_path)
    bvh = read_bvh(path)
    rig_map = _map_for(bvh, retarget_map, path)
    found = resolve_bones(rig_map, bvh.names)
    missing = [c for c in REQUIRED_JOINTS if c not in found]
    if missing:
        raise ConfigError(_unmapped_message(path, bvh.names, found, missing, rig_map))
    angles, root = bvh_to_canonical(bvh, source_map=rig_map)
    res = resample_take_arrays(bvh.fps, fps, bvh.num_frames, linear={"root": root}, rotations={"angles": angles})
    if audio_path is None:
        audio_path = find_audio(path)
        if audio_path is None and require_audio:
            raise ConfigError(f"{path}: no audio for this take ({path.stem}.wav next to it)")
    audio = None if audio_path is None else load_take_audio(Path(audio_path), sample_rate=sample_rate)
    return CapturedTake(take_id=path.stem, source=path, audio=audio, sample_rate=sample_rate, fps=float(fps),
                        speaker=speaker, licence=licence, joint_angles=res["angles"], root_translation=res["root"],
                        audio_source=None if audio_path is None else Path(audio_path),
                        meta={"format": "bvh", "source_fps": float(bvh.fps), "retarget_map": rig_map.name,
                              "mapped_joints": sorted(found)})


def read_bvh_folder(folder, *, retarget_map=None, fps: float = TAKE_FPS, sample_rate: int = TAKE_SAMPLE_RATE,
                    require_audio: bool = True) -> ReadReport:
    """Every ``*.bvh`` under ``folder`` with its audio; unusable ones skipped with a warning and listed."""
    report = ReadReport()
    for p in sorted(Path(folder).rglob("*.bvh")):
        try:
            report.takes.append(read_bvh_take(p, retarget_map=retarget_map, fps=fps, sample_rate=sample_rate,
                                              require_audio=require_audio))
        except ParleyError as e:
            report.skip(p, e)
    return report
