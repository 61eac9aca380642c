"""A :class:`~engine.training.readers.take.CapturedTake` cut into the corpus's fixed-length windows
(:class:`engine.training.corpus.shards.Window`, the shard contract): how fine-tuning and body training
consume real captures.

Per window of ``spec.window_s`` seconds (a hop of ``hop_s``, default one window, rounded to whole frames):
``audio`` int16 PCM at ``spec.sample_rate`` (resampled when the take's rate differs), ``mel`` the log-mel of
:func:`engine.audio.spectral.log_mel` at ``spec.feature_fps`` computed once over the whole take,
``expression``/``joint_angles``/``root_translation`` the take's labels at ``spec.fps`` (resampled with the time
base when the take's rate differs), ``mask`` the frames that hold real labels (False in the padded tail of the
last window). Targets the take lacks (lip offsets and phones always, the body for a face take, the face for a
body take) are zeros (phones -1) with their ``has`` flag False. A face capture whose channels are only partly
valid (FACEGOOD) records the valid channel indices in the window's ``expression_valid`` entry of
``windows.json``; trainers must mask the loss of the other channels.

A face take's head and eye rotations (Live Link Face's HeadYaw/... and eye columns) go into ``joint_angles`` at the
canonical ``head``, ``left_eye`` and ``right_eye`` joints, the rest zero; the joints it measured are recorded in
the window's ``joints_valid`` entry and the ``has`` flag of ``joint_angles`` stays False (it is not a body, so
body trainers pass it over; the face trainers read ``joints_valid``). A take with a whole body keeps its body.
"""
from __future__ import annotations

from math import gcd

import numpy as np

from engine.training.corpus.shards import SPLITS, TARGETS, CorpusSpec, Window
from rigs.core.arkit import NUM_CHANNELS
from rigs.core.emotions import EMOTIONS
from rigs.core.errors import ConfigError
from rigs.core.skeleton import canonical_skeleton
from rigs.core.timebase import num_frames

from .take import CapturedTake, resample_take_arrays

PCM_SCALE = 32767.0


def resample_audio(y: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """(N,) float32 at ``sr_in`` -> (round(N * sr_out / sr_in),) float32 at ``sr_out`` (polyphase)."""
    if sr_in == sr_out:
        return np.asarray(y, np.float32)
    from scipy.signal import resample_poly
    g = gcd(int(sr_in), int(sr_out))
    out = resample_poly(np.asarray(y, np.float64), int(sr_out) // g, int(sr_in) // g)
    n = int(round(len(y) * sr_out / sr_in))
    return np.pad(out, (0, max(0, n - out.size)))[:n].astype(np.float32)


def _part(a: np.ndarray | None, start: int, n: int, W: int, tail: tuple[int, ...]) -> np.ndarray:
    """(W, *tail) float32: frames start..start+n of ``a`` then zeros (all zeros when ``a`` is None)."""
    buf = np.zeros((W,) + tail, np.float32)
    if a is not None:
        buf[:n] = a[start:start + n]
    return buf


def head_and_eye_joints(take: CapturedTake, num_joints: int) -> tuple[np.ndarray, list[int]]:
    """(T, num_joints, 3) float32 joint rotations holding only a face take's head and eye rotations (zeros
    elsewhere) and the indices of the joints it measured, sorted."""
    sk = canonical_skeleton()
    if num_joints != sk.num_joints:
        raise ConfigError(f"{take.source}: the corpus spec has {num_joints} joints but the canonical skeleton "
                          f"{sk.num_joints}; the head and eyes are placed on the canonical skeleton")
    joints = np.zeros((take.num_frames, num_joints, 3), np.float32)
    valid = []
    if take.head_rotation is not None:
        joints[:, sk.index("head")] = take.head_rotation
        valid.append(sk.index("head"))
    if take.eye_rotations is not None:
        eyes = [sk.index("left_eye"), sk.index("right_eye")]
        joints[:, eyes] = take.eye_rotations
        valid += eyes
    return joints, sorted(valid)


def to_windows(take: CapturedTake, spec: CorpusSpec, *, row: int, split: str, hop_s: float | None = None,
               voice: str | None = None) -> list[Window]:
    """The take's windows (see the module docstring), in time order, covering every labelled frame.

    ``row``: the take's manifest row; ``split``: one of SPLITS; ``voice``: the window's voice/speaker label
    (default the take's speaker). Raises ConfigError for a take without audio, a bad split or hop, or a spec
    whose joint count is not the canonical skeleton's when the take has body labels.
    """
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {SPLITS}, got {split!r}")
    if take.audio is None:
        raise ConfigError(f"{take.source}: the take has no audio; windows need it (pass the take's wav)")
    W, Wf, ratio = spec.frames, spec.feature_frames, spec.feature_ratio
    hop = W if hop_s is None else int(round(hop_s * spec.fps))
    if hop < 1:
        raise ConfigError(f"hop_s must be at least one frame (1/{spec.fps:g} s), got {hop_s!r}")
    if take.joint_angles is not None and take.joint_angles.shape[1] != spec.num_joints:
        raise ConfigError(f"{take.source}: the take has {take.joint_angles.shape[1]} joints but the corpus spec "
                          f"{spec.num_joints}; build the spec with num_joints=len(canonical_skeleton().names)")
    joints, joints_valid = take.joint_angles, None
    if joints is None and spec.num_joints and (take.head_rotation is not None or take.eye_rotations is not None):
        joints, joints_valid = head_and_eye_joints(take, spec.num_joints)
    labels = resample_take_arrays(take.fps, spec.fps, take.num_frames,
                                  linear={"expression": take.expression, "root_translation": take.root_translation},
                                  rotations={"joint_angles": joints})
    T = num_frames(take.duration_s, spec.fps)
    starts = list(range(0, max(T - W, 0) + 1, hop))
    if starts[-1] + W < T:
        starts.append(starts[-1] + hop)
    span = starts[-1] + W                                        # frames covered by all windows
    y = resample_audio(take.audio, take.sample_rate, spec.sample_rate)
    n_samples = int(round(span / spec.fps * spec.sample_rate))
    y = np.pad(y, (0, max(0, n_samples - y.size)))[:max(n_samples, y.size)]
    from engine.audio.spectral import log_mel
    mel = log_mel(y, sr=spec.sample_rate, fps=spec.feature_fps, n_mels=spec.n_mels, n_frames=span * ratio)
    pcm = np.round(np.clip(y, -1.0, 1.0) * PCM_SCALE).astype(np.int16)
    has = np.array([take.expression is not None, take.joint_angles is not None, take.root_translation is not None,
                    False, False])
    assert len(has) == len(TARGETS)
    valid = np.flatnonzero(take.expression_valid).tolist() if take.expression is not None else []
    extra = {"format": str(take.meta.get("format", "")), "source": take.source.name}
    if take.expression is not None and len(valid) < NUM_CHANNELS:
        extra["expression_valid"] = valid
    if joints_valid is not None:
        extra["joints_valid"] = joints_valid
    L = spec.num_lip_vertices
    out = []
    for s in starts:
        n = min(W, T - s)                                        # real frames in this window
        s0 = int(round(s / spec.fps * spec.sample_rate))

        arrays = {
            "audio": pcm[s0:s0 + spec.samples],
            "mel": mel[s * ratio:s * ratio + Wf],
            "expression": _part(labels["expression"], s, n, W, (NUM_CHANNELS,)),
            "joint_angles": _part(labels["joint_angles"], s, n, W, (spec.num_joints, 3)),
            "root_translation": _part(labels["root_translation"], s, n, W, (3,)),
            "lip_offsets_mm": np.zeros((W, L, 3), np.float32),
            "phones": np.full(W, -1, np.int8),
            "emotion": np.zeros(len(EMOTIONS), np.float32),
            "mask": np.arange(W) < n,
            "has": has.copy(),
        }
        if arrays["audio"].size < spec.samples:                  # rounding at the very end
            arrays["audio"] = np.pad(arrays["audio"], (0, spec.samples - arrays["audio"].size))
        out.append(Window(arrays=arrays, row=row, item=take.take_id, start_s=s / spec.fps,
                          voice=take.speaker if voice is None else voice, split=split, extra=dict(extra)))
    return out
