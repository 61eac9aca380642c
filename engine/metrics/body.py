"""Body-motion metrics: distribution distances and diversity on joint-angle vectors, beat consistency, and
physical measures of a pose sequence (arm carriage, torso and head motion) in degrees.

Distribution metrics follow Audio2Photoreal (Ng et al. 2024, "From Audio to Photoreal Embodiment"), which
takes them from Bailando/AIST++ (Siyao et al. 2022; Li et al. 2021):

* :func:`frechet_distance`: the Frechet (2-Wasserstein) distance between Gaussians fitted to two sets of
  vectors, ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))`` (Dowson & Landau 1982; Heusel et al. 2017).
* :func:`fd_g` (static poses, ``FD_g``) and :func:`fd_k` (per-frame velocities, ``FD_k``) on (T, D) joint-angle
  vectors (axis-angle radians of the chosen joints, flattened).
* :func:`div_g` / :func:`div_k`: average pairwise Euclidean distance within one set of poses / velocities.
* :func:`cross_sample_diversity`: several samples of the same audio, aligned frame by frame: the average
  pairwise distance between samples at the same frame (how different the seeds' performances are).
* :func:`beat_consistency`: for every motion beat (a local minimum of the mean joint speed),
  ``exp(-d^2 / (2 sigma^2))`` with ``d`` the distance to the nearest audio onset, averaged (AIST++'s
  definition, sigma 0.3 s as in the gesture literature). Jitter creates many speed minima and inflates it,
  so it is reported, not optimised.

Physical measures (:func:`body_kinematics`) on the canonical skeleton, in the torso's (``spine3``) frame:
upper-arm abduction (the upper arm's angle away from the torso's down axis in the frontal plane) and elevation
(its 3-D angle from that axis), elbow flexion (0 = straight arm), torso and head angular speed (deg/s, world
rotations) and range (deg), and the share of frames with a hand in the gesture space in front of the torso
(McNeill 1992: centre/centre-centre, between the hips and the shoulders, in front of the chest).

numpy/scipy only; audio onsets are computed by the caller.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg

from rigs.core.errors import ConfigError

__all__ = ["frechet_distance", "fd_g", "fd_k", "div_g", "div_k", "cross_sample_diversity", "motion_beats",
           "beat_consistency", "BodyKinematics", "body_kinematics", "BEAT_SIGMA_S", "GESTURE_SPACE_FORWARD_M"]

BEAT_SIGMA_S = 0.3             # tolerance of beat consistency
MAX_PAIRS = 20000              # pairwise distances beyond this many pairs are estimated on random pairs
GESTURE_SPACE_FORWARD_M = 0.12  # a wrist this far in front of the torso (spine3) is in the gesture space
MOTION_BEAT_MIN_GAP_S = 0.2    # motion beats (speed minima) at least this far apart


def _as_2d(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim > 2:
        a = a.reshape(a.shape[0], -1)
    if a.ndim != 2 or a.shape[0] < 2 or not np.isfinite(a).all():
        raise ConfigError(f"{name} must be finite (N >= 2, D) vectors, got shape {a.shape}")
    return a


def frechet_distance(x, y) -> float:
    """Frechet distance between Gaussians fitted to vectors ``x`` (N, D) and ``y`` (M, D) (any (N, ...) is
    flattened per row). Squared units of the vectors (radians^2 for joint angles)."""
    x, y = _as_2d(x, "x"), _as_2d(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ConfigError(f"frechet_distance: dimensions differ ({x.shape[1]} vs {y.shape[1]})")
    mu1, mu2 = x.mean(0), y.mean(0)
    s1, s2 = np.atleast_2d(np.cov(x, rowvar=False)), np.atleast_2d(np.cov(y, rowvar=False))
    # tr((S1 S2)^(1/2)) = tr((R S2 R)^(1/2)) with R = S1^(1/2): symmetric PSD, so eigenvalues are real and
    # the result is stable for the rank-deficient covariances of few or constant poses
    w1, v1 = linalg.eigh(s1)
    r = (v1 * np.sqrt(np.clip(w1, 0.0, None))) @ v1.T
    tr_covmean = float(np.sqrt(np.clip(linalg.eigvalsh(r @ s2 @ r), 0.0, None)).sum())
    d = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)
    return max(d, 0.0)


def _velocities(x) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    a = a.reshape(a.shape[0], -1)
    return np.diff(a, axis=0)


def fd_g(poses_a, poses_b) -> float:
    """FD_g: Frechet distance of the static pose vectors (T, ...) of two sets."""
    return frechet_distance(poses_a, poses_b)


def fd_k(poses_a, poses_b) -> float:
    """FD_k: Frechet distance of the per-frame velocities (pose differences) of two pose sequences (T, ...).

    Concatenated clips should be passed as lists through :func:`fd_k_sets` so no velocity spans two clips."""
    return frechet_distance(_velocities(poses_a), _velocities(poses_b))


def fd_k_sets(clips_a, clips_b) -> float:
    """FD_k over lists of pose sequences (each (T_i, ...)): velocities within each clip, pooled."""
    va = np.concatenate([_velocities(c) for c in clips_a])
    vb = np.concatenate([_velocities(c) for c in clips_b])
    return frechet_distance(va, vb)


def _mean_pairwise(x: np.ndarray, *, seed: int = 0) -> float:
    x = _as_2d(x, "x")
    n = len(x)
    if n * (n - 1) // 2 <= MAX_PAIRS:
        i, j = np.triu_indices(n, k=1)
    else:
        rng = np.random.default_rng(seed)
        i = rng.integers(0, n, MAX_PAIRS)
        j = (i + rng.integers(1, n, MAX_PAIRS)) % n  # j != i
    return float(np.linalg.norm(x[i] - x[j], axis=1).mean())


def div_g(poses, *, seed: int = 0) -> float:
    """Div_g: average Euclidean distance between pairs of static pose vectors (T, ...) of one set
    (random pairs, deterministic per ``seed``, when there are more than ``MAX_PAIRS``)."""
    return _mean_pairwise(poses, seed=seed)


def div_k(poses, *, seed: int = 0) -> float:
    """Div_k: average Euclidean distance between pairs of per-frame velocities of a pose sequence (T, ...)."""
    return _mean_pairwise(_velocities(poses), seed=seed)


def cross_sample_diversity(samples) -> float:
    """Several samples (S, T, ...) of the same audio: average over frames of the mean pairwise distance between
    the samples' pose vectors at that frame (0 when all samples are the same)."""
    s = np.asarray(samples, dtype=np.float64)
    if s.ndim < 3 or s.shape[0] < 2:
        raise ConfigError(f"cross_sample_diversity needs (S >= 2, T, ...) samples, got shape {s.shape}")
    s = s.reshape(s.shape[0], s.shape[1], -1)
    i, j = np.triu_indices(s.shape[0], k=1)
    return float(np.linalg.norm(s[i] - s[j], axis=-1).mean())


def motion_beats(poses, *, fps: float, min_gap_s: float = MOTION_BEAT_MIN_GAP_S) -> np.ndarray:
    """Times (s) of motion beats: local minima of the mean per-joint speed of a pose sequence (T, J, 3) or
    (T, D), at least ``min_gap_s`` apart (the lower minimum wins)."""
    from scipy.signal import find_peaks

    a = np.asarray(poses, dtype=np.float64)
    a = a.reshape(a.shape[0], -1, 3) if a.ndim == 3 or a.shape[-1] % 3 == 0 else a.reshape(a.shape[0], -1, 1)
    if len(a) < 3:
        return np.zeros(0)
    speed = np.linalg.norm(np.diff(a, axis=0), axis=-1).mean(axis=1) * fps   # (T-1,) between frames
    idx, _ = find_peaks(-speed, distance=max(1, int(round(min_gap_s * fps))))
    return (idx + 0.5) / fps


def beat_consistency(motion_beat_times_s, audio_onset_times_s, *, sigma_s: float = BEAT_SIGMA_S) -> float:
    """Mean over motion beats of ``exp(-d^2 / (2 sigma^2))``, d the distance to the nearest audio onset
    (AIST++'s BC). 0 when there are no motion beats or no onsets."""
    m = np.asarray(motion_beat_times_s, dtype=np.float64).reshape(-1)
    a = np.sort(np.asarray(audio_onset_times_s, dtype=np.float64).reshape(-1))
    if sigma_s <= 0:
        raise ConfigError(f"sigma_s must be > 0, got {sigma_s}")
    if len(m) == 0 or len(a) == 0:
        return 0.0
    k = np.clip(np.searchsorted(a, m), 1, len(a) - 1) if len(a) > 1 else np.zeros(len(m), int)
    d = np.abs(m - a[k]) if len(a) == 1 else np.minimum(np.abs(m - a[k - 1]), np.abs(m - a[k]))
    return float(np.mean(np.exp(-d ** 2 / (2 * sigma_s ** 2))))


# ------------------------------------------------------------------------------------------ physical measures

@dataclass(frozen=True)
class BodyKinematics:
    """Physical summary of a canonical-skeleton pose sequence over the selected frames (see module docstring).
    Arm figures are means over both arms and the frames."""

    abduction_deg: float         # upper arm away from the torso's down axis, frontal plane
    elevation_deg: float         # upper arm's 3-D angle from the torso's down axis
    elbow_flexion_deg: float     # 0 = straight
    torso_speed_deg_s: float     # mean angular speed of spine3's world rotation
    head_speed_deg_s: float      # mean angular speed of the head's world rotation
    torso_range_deg: float       # 5-95 percentile range of spine3's world pitch + yaw + roll (sum)
    head_range_deg: float        # same for the head
    gesture_space_share: float   # frames with at least one wrist in the gesture space

    def row(self) -> dict[str, float]:
        return {k: round(float(v), 3) for k, v in self.__dict__.items()}


def _angle_deg(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    c = np.einsum("...i,...i->...", u, v) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1) + 1e-12)
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


def _speed_deg_s(R: np.ndarray, fps: float) -> np.ndarray:
    rel = np.einsum("tik,til->tkl", R[:-1], R[1:])
    c = np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    return np.degrees(np.arccos(c)) * fps


def _range_deg(R: np.ndarray) -> float:
    from rigs.core.rotations import matrix_to_euler

    e = np.degrees(matrix_to_euler(R))
    return float(np.sum(np.percentile(e, 95, axis=0) - np.percentile(e, 5, axis=0)))


def body_kinematics(joint_angles_rad, root_translation_m=None, *, fps: float, frames=None) -> BodyKinematics:
    """:class:`BodyKinematics` of a canonical clip (T, 25, 3) axis-angle; ``frames`` (T,) bool selects the
    frames summarised (e.g. speech), all by default. Speeds use consecutive selected-frame pairs only."""
    from rigs.core.skeleton import canonical_skeleton

    sk = canonical_skeleton()
    aa = np.asarray(joint_angles_rad, dtype=np.float64)
    if aa.ndim != 3 or aa.shape[1:] != (sk.num_joints, 3):
        raise ConfigError(f"joint_angles_rad must be (T, {sk.num_joints}, 3), got {aa.shape}")
    T = len(aa)
    sel = np.ones(T, bool) if frames is None else np.asarray(frames, bool).reshape(-1)
    if len(sel) != T or sel.sum() < 2:
        raise ConfigError("frames must be a (T,) mask selecting at least 2 frames")
    R, pos = sk.forward_kinematics(aa, None if root_translation_m is None else np.asarray(root_translation_m))
    i = sk.index
    Rt = R[:, i("spine3")]                                    # torso frame (T, 3, 3), columns = axes
    to_torso = lambda v: np.einsum("tji,tj->ti", Rt, v)       # noqa: E731  world -> torso frame
    abd, elev, flex, inside = [], [], [], np.zeros(T, bool)
    for sd, out_sign in (("left", 1.0), ("right", -1.0)):
        sh, el, wr = pos[:, i(f"{sd}_shoulder")], pos[:, i(f"{sd}_elbow")], pos[:, i(f"{sd}_wrist")]
        up = to_torso(el - sh)                                # upper arm in the torso frame
        abd.append(np.degrees(np.arctan2(out_sign * up[:, 0], -up[:, 1])))
        elev.append(_angle_deg(up, np.array([0.0, -1.0, 0.0])))
        flex.append(_angle_deg(el - sh, wr - el))
        w = to_torso(wr - pos[:, i("spine3")])
        h = wr[:, 1]
        inside |= (w[:, 2] > GESTURE_SPACE_FORWARD_M) & (h > pos[:, i("pelvis"), 1]) & (h < sh[:, 1])
    pair = sel[:-1] & sel[1:]
    ts = _speed_deg_s(Rt, fps)[pair]
    hs = _speed_deg_s(R[:, i("head")], fps)[pair]
    return BodyKinematics(
        abduction_deg=float(np.mean([a[sel] for a in abd])), elevation_deg=float(np.mean([e[sel] for e in elev])),
        elbow_flexion_deg=float(np.mean([f[sel] for f in flex])),
        torso_speed_deg_s=float(ts.mean()) if len(ts) else 0.0, head_speed_deg_s=float(hs.mean()) if len(hs) else 0.0,
        torso_range_deg=_range_deg(Rt[sel]), head_range_deg=_range_deg(R[sel, i("head")]),
        gesture_space_share=float(inside[sel].mean()))
