"""BEAT2 (and other SMPL-X ``.npz``) body motion with its speech as :class:`CapturedTake`.

BEAT2's ``smplxflame_30/<stem>.npz`` (EMAGE, Liu et al. 2024) holds per frame ``poses`` (T, 165): SMPL-X
axis-angle rotations of its 55 joints in SMPL-X order (global orient, 21 body joints, jaw, left eye, right
eye, 15 + 15 hand joints), ``trans`` (T, 3) metres, ``expressions`` (T, 100) FLAME expression coefficients,
``betas`` (300,) shape, ``model``/``gender`` strings and ``mocap_frame_rate`` (30); the speech is
``wave16k/<stem>.wav`` (a sibling folder) or a wav of the same stem next to the npz. AMASS-style files spell
the rate ``mocap_framerate`` and some exports ``fps``; all three are read.

Parley's canonical skeleton is SMPL-X's first 25 joints with SMPL-X's names, order and axes (Y up, +Z forward),
so ``joint_angles`` are ``poses[:, :75]`` reshaped (T, 25, 3) with no conversion; hands are dropped.
``root_translation`` is ``trans`` relative to the first frame (the canonical skeleton's rest offsets place the
pelvis; SMPL-X's absolute ``trans`` depends on the body shape ``betas``). FLAME coefficients are not ARKit
weights, so the take has no ``expression``. Labels are resampled to ``fps`` with the time base.

References: Liu et al., "EMAGE: Towards Unified Holistic Co-Speech Gesture Generation via Expressive Masked
Audio Gesture Modeling", CVPR 2024 (BEAT2, the ``smplxflame_30`` layout); Pavlakos et al. 2019 (SMPL-X).
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from rigs.core.clip import MAX_FRAMES
from rigs.core.errors import ClipError, ParleyError
from rigs.core.npz import Member, read_npz
from rigs.core.skeleton import canonical_skeleton

from .take import TAKE_FPS, TAKE_SAMPLE_RATE, CapturedTake, ReadReport, find_audio, load_take_audio, \
    resample_take_arrays

SMPLX_JOINTS = 55
BEAT2_LICENCE = "BEAT2 dataset terms (non-commercial research use; check before training)"
AUDIO_FOLDERS = ("../wave16k", "wave16k")
RATE_KEYS = ("mocap_frame_rate", "mocap_framerate", "fps")
MAX_NPZ_BYTES = 4 << 30
_MEMBERS = {
    "poses": Member("f", (MAX_FRAMES, SMPLX_JOINTS * 3)),
    "trans": Member("f", (MAX_FRAMES, 3)),
    **{k: Member("fiu", ()) for k in RATE_KEYS},
}


def read_beat2(npz_path, audio_path=None, *, fps: float = TAKE_FPS, sample_rate: int = TAKE_SAMPLE_RATE,
               speaker: str | None = None, licence: str = BEAT2_LICENCE, require_audio: bool = True) -> CapturedTake:
    """One BEAT2 take: SMPL-X body motion on the canonical skeleton plus its speech (``audio_path`` defaults to
    ``<stem>.wav`` next to the npz or in ``../wave16k``). ``speaker`` defaults to BEAT's ``<id>_<name>_...``
    stem's name. Raises ClipError (unreadable, wrong layout, NaN, lengths apart) or AudioError."""
    path = Path(npz_path)
    if not path.is_file():
        raise ClipError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise ClipError(f"{path}: not an .npz archive")
    arrays = read_npz(path, _MEMBERS, max_total_bytes=MAX_NPZ_BYTES)
    for key in ("poses", "trans"):
        if key not in arrays:
            raise ClipError(f"{path}: no {key!r} array (a BEAT2 SMPL-X npz has poses, trans, mocap_frame_rate)")
    poses, trans = arrays["poses"].astype(np.float64), arrays["trans"].astype(np.float64)
    if poses.shape[1] != SMPLX_JOINTS * 3:
        raise ClipError(f"{path}: poses has {poses.shape[1]} columns, SMPL-X has {SMPLX_JOINTS} x 3 = "
                        f"{SMPLX_JOINTS * 3}")
    if trans.shape[0] != poses.shape[0]:
        raise ClipError(f"{path}: poses has {poses.shape[0]} frames but trans {trans.shape[0]}")
    if poses.shape[0] == 0:
        raise ClipError(f"{path}: no frames")
    rate_key = next((k for k in RATE_KEYS if k in arrays), None)
    if rate_key is None:
        raise ClipError(f"{path}: no frame rate ({' or '.join(RATE_KEYS)})")
    src_fps = float(arrays[rate_key])
    if not (np.isfinite(src_fps) and 0 < src_fps <= 1000):
        raise ClipError(f"{path}: {rate_key} = {src_fps!r} is not a frame rate")
    for key, a in (("poses", poses), ("trans", trans)):
        if not np.all(np.isfinite(a)):
            bad = int(np.argwhere(~np.isfinite(a).all(axis=1))[0, 0])
            raise ClipError(f"{path}: {key} holds NaN or infinite values (first at frame {bad})")
    J = canonical_skeleton().num_joints
    angles = poses[:, : J * 3].reshape(-1, J, 3)               # (T, 25, 3): SMPL-X joints 0..24 = canonical
    root = trans - trans[:1]
    res = resample_take_arrays(src_fps, fps, poses.shape[0], linear={"root": root}, rotations={"angles": angles})
    if audio_path is None:
        audio_path = find_audio(path, folders=AUDIO_FOLDERS)
        if audio_path is None and require_audio:
            raise ClipError(f"{path}: no audio for this take ({path.stem}.wav next to it or in ../wave16k)")
    audio = None if audio_path is None else load_take_audio(Path(audio_path), sample_rate=sample_rate)
    if speaker is None:
        parts = path.stem.split("_")
        speaker = parts[1] if len(parts) > 1 and parts[0].isdigit() else ""
    return CapturedTake(take_id=path.stem, source=path, audio=audio, sample_rate=sample_rate, fps=float(fps),
                        speaker=speaker, licence=licence, joint_angles=res["angles"], root_translation=res["root"],
                        audio_source=None if audio_path is None else Path(audio_path),
                        meta={"format": "beat2", "source_fps": src_fps})


def read_beat2_folder(folder, *, fps: float = TAKE_FPS, sample_rate: int = TAKE_SAMPLE_RATE) -> ReadReport:
    """Every ``*.npz`` under ``folder`` (e.g. BEAT2's ``smplxflame_30``); unusable ones skipped and listed."""
    report = ReadReport()
    for p in sorted(Path(folder).rglob("*.npz")):
        try:
            report.takes.append(read_beat2(p, fps=fps, sample_rate=sample_rate))
        except ParleyError as e:
            report.skip(p, e)
    return report
