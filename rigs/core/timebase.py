"""The one time base: seconds are canonical, frames are computed at the edges.

A clip of ``duration_s`` seconds at ``fps`` has ``num_frames(duration_s, fps) = max(1, round(duration_s *
fps))`` frames and frame ``i`` is at ``i / fps`` seconds. Every layer (features, animators, formats, the
bake) counts frames and resamples through this module.
"""
from __future__ import annotations

import numpy as np

from .rotations import axis_angle_to_quaternion, continuous_quaternions, quaternion_to_axis_angle


def num_frames(duration_s: float, fps: float) -> int:
    """Frames of a clip of ``duration_s`` seconds at ``fps``: ``max(1, round(duration_s * fps))``."""
    return max(1, int(round(float(duration_s) * float(fps))))


def frame_times_s(n_frames: int, fps: float) -> np.ndarray:
    """(n_frames,) float64 time of each frame in seconds: ``i / fps``."""
    return np.arange(int(n_frames), dtype=np.float64) / float(fps)


def resample_linear(values: np.ndarray, fps: float, t_s: np.ndarray) -> np.ndarray:
    """(T, ...) samples at ``fps`` -> (K, ...) float64 at times ``t_s`` by linear interpolation, held at the ends."""
    values = np.asarray(values, dtype=np.float64)
    T = values.shape[0]
    x = np.clip(np.asarray(t_s, dtype=np.float64) * fps, 0, T - 1)
    i0 = np.floor(x).astype(int)
    i1 = np.minimum(i0 + 1, T - 1)
    w = (x - i0).reshape((-1,) + (1,) * (values.ndim - 1))
    return values[i0] * (1 - w) + values[i1] * w


def timeline_samples(duration_s: float, scene_fps: float, *, latency_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Frame offsets (K,) and the clip time (K,) shown at each, for a clip laid on a ``scene_fps`` timeline.

    K = ``num_frames(duration_s, scene_fps)``; frame k shows the clip at ``k / scene_fps - latency_s`` (a
    positive latency delays the motion), clamped to the clip.
    """
    K = num_frames(duration_s, scene_fps)
    t = frame_times_s(K, scene_fps) - latency_s
    return np.arange(K), np.clip(t, 0.0, duration_s)


def resample_axis_angle(aa: np.ndarray, fps: float, t_s: np.ndarray) -> np.ndarray:
    """(T, J, 3) axis-angle at ``fps`` -> (K, J, 3) at ``t_s`` by normalised quaternion lerp."""
    aa = np.asarray(aa, dtype=np.float64)
    if len(t_s) == aa.shape[0] and np.allclose(np.asarray(t_s) * fps, np.arange(aa.shape[0])):
        return aa
    q = axis_angle_to_quaternion(aa)  # (T, J, 4)
    q = np.stack([continuous_quaternions(q[:, j]) for j in range(q.shape[1])], axis=1)
    qi = resample_linear(q, fps, t_s)
    qi /= np.linalg.norm(qi, axis=-1, keepdims=True)
    return quaternion_to_axis_angle(qi)


def smooth_gaussian(values: np.ndarray, fps: float, sigma_s: float) -> np.ndarray:
    """Gaussian smoothing along time (axis 0) with ``sigma_s`` seconds; edges padded by reflection."""
    if sigma_s <= 0 or values.shape[0] < 3:
        return np.asarray(values, dtype=np.float64)
    sig = sigma_s * fps
    r = max(1, int(np.ceil(3 * sig)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sig) ** 2)
    k /= k.sum()
    v = np.asarray(values, dtype=np.float64)
    pad = np.pad(v, [(r, r)] + [(0, 0)] * (v.ndim - 1), mode="reflect" if v.shape[0] > r else "edge")
    out = np.zeros_like(v)
    for j, kj in enumerate(k):
        out += kj * pad[j:j + v.shape[0]]
    return out
