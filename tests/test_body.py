"""Tests of the procedural body (engine/animators/body) on the canonical SMPL-X skeleton."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from engine.animators.body import BodyConfig, animate_body
from rigs.core.errors import ConfigError
from rigs.core.rotations import axis_angle_to_matrix, matrix_to_euler
from rigs.core.skeleton import canonical_skeleton, joint_limits_rad

FPS = 30.0
SK = canonical_skeleton()
ARM_JOINTS = [SK.index(n) for n in ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow")]
DEFAULT_CONFIG = BodyConfig()


def prosody(speech, loudness=None, fps=FPS):
    """A duck-typed prosody fixture: per-frame rms, loudness, f0_hz, voiced, speech."""
    speech = np.asarray(speech, dtype=bool)
    if loudness is None:
        loudness = np.where(speech, 0.5, 0.02)
    loudness = np.asarray(loudness, dtype=np.float64)
    return SimpleNamespace(rms=0.1 * loudness, loudness=loudness, f0_hz=np.where(speech, 140.0, 0.0),
                           voiced=speech.copy(), speech=speech)


def run(T, *, speech=True, loudness=None, accents=(), emotion=None, seed=0, config=DEFAULT_CONFIG,
        head=None, eyes=None):
    sp = np.full(T, speech, dtype=bool) if np.isscalar(speech) else np.asarray(speech, bool)
    return animate_body(fps=FPS, n_frames=T, prosody=prosody(sp, loudness), head_angles_rad=head,
                        eye_angles_rad=eyes, accent_times_s=list(accents), emotion=emotion or {}, seed=seed,
                        config=config)


def euler(aa):
    return matrix_to_euler(axis_angle_to_matrix(aa))


def angular_speed(aa, joints=None):
    """(T-1, J) geodesic angle between consecutive local rotations, radians per frame."""
    R = axis_angle_to_matrix(aa.astype(np.float64))
    if joints is not None:
        R = R[:, joints]
    rel = np.einsum("tjik,tjil->tjkl", R[:-1], R[1:])
    cos = np.clip((np.trace(rel, axis1=-2, axis2=-1) - 1.0) / 2.0, -1.0, 1.0)
    return np.arccos(cos)


ACCENTS = (1.0, 2.6, 4.1, 5.5, 7.2, 8.8)


def test_shapes_dtypes_and_edge_cases():
    aa, root = run(300, accents=ACCENTS)
    assert aa.shape == (300, 25, 3) and aa.dtype == np.float32
    assert root.shape == (300, 3) and root.dtype == np.float32
    aa1, root1 = run(1)
    assert aa1.shape == (1, 25, 3) and root1.shape == (1, 3)
    aa2, root2 = animate_body(fps=24, n_frames=48, prosody=None, head_angles_rad=None, eye_angles_rad=None,
                              accent_times_s=None, emotion=None, seed=3)
    assert aa2.shape == (48, 25, 3) and np.isfinite(aa2).all() and np.isfinite(root2).all()


def test_idle_pose_lowers_arms_from_t_pose():
    aa, root = run(60, speech=False)
    _, pos = SK.forward_kinematics(aa, root)
    for side in ("left", "right"):
        sh, wr = pos[:, SK.index(f"{side}_shoulder")], pos[:, SK.index(f"{side}_wrist")]
        drop = sh[:, 1] - wr[:, 1]
        assert (drop > 0.4).all(), "wrists should hang well below the shoulders, not in a T-pose"
    e = euler(aa)
    assert (e[:, SK.index("left_elbow"), 1] < -np.deg2rad(5)).all()   # elbows softly bent
    assert (e[:, SK.index("right_elbow"), 1] > np.deg2rad(5)).all()


def test_deterministic_per_seed_and_different_across_seeds():
    a1, r1 = run(300, accents=ACCENTS, seed=7)
    a2, r2 = run(300, accents=ACCENTS, seed=7)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(r1, r2)
    a3, r3 = run(300, accents=ACCENTS, seed=8)
    assert np.abs(a1 - a3).max() > np.deg2rad(3)
    assert np.abs(r1 - r3).max() > 1e-3


def test_feet_stay_planted_under_strong_sway():
    cfg = BodyConfig(sway_m=0.05, sway_roll_deg=6.0, sway_yaw_deg=5.0, sway_period_s=(3.0, 4.0))
    for seed in (0, 1):
        aa, root = run(300, accents=ACCENTS, emotion={"anger": 1.0}, seed=seed, config=cfg)
        assert np.ptp(root[:, 0]) > 0.04, "the pelvis should actually sway"
        _, pos = SK.forward_kinematics(aa, root)
        for n in ("left_ankle", "right_ankle", "left_foot", "right_foot"):
            p = pos[:, SK.index(n)]
            move = np.linalg.norm(p - p[0], axis=-1).max()
            assert move < 0.005, f"{n} slides {move * 1000:.2f} mm"
        pelvis = pos[:, SK.index("pelvis")]
        assert np.ptp(pelvis[:, 0]) > 0.04


def test_joint_limits_respected_even_when_pushed():
    lim = joint_limits_rad()
    lo = np.stack([lim[n][:, 0] for n in SK.names])
    hi = np.stack([lim[n][:, 1] for n in SK.names])
    T = 300
    head = np.tile(np.deg2rad([[60.0, 120.0, 50.0]]), (T, 1))  # far beyond neck+head limits
    eyes = np.tile(np.deg2rad([[[50.0, 50.0, 10.0]]]), (T, 2, 1))
    cfg = BodyConfig(gesture_amp=4.0)
    aa, _ = run(T, accents=ACCENTS, emotion={"anger": 1.0}, config=cfg, head=head, eyes=eyes)
    e = euler(aa)
    # XYZ Euler is ambiguous: (a, b, c) and (a + pi, pi - b, c + pi) are the same rotation (elbows bend
    # past 90 degrees about Y); a joint is within limits if either decomposition is
    alt = (np.stack([e[..., 0] + np.pi, np.pi - e[..., 1], e[..., 2] + np.pi], -1) + np.pi) % (2 * np.pi) - np.pi
    tol = 1e-4
    ok = ((e >= lo - tol) & (e <= hi + tol)).all(-1) | ((alt >= lo - tol) & (alt <= hi + tol)).all(-1)
    assert ok.all(), [SK.names[j] for j in np.unique(np.argwhere(~ok)[:, 1])]
    # the clamp is active (the inputs asked for more), i.e. the test exercises the limits
    assert np.isclose(e[:, SK.index("head"), 1], hi[SK.index("head"), 1], atol=1e-3).any()
    assert np.abs(e[:, SK.index("left_eye"), 2]).max() < 1e-4


def test_head_shared_between_neck_and_head_eyes_applied_jaw_at_rest():
    T = 90
    rng = np.random.default_rng(0)
    head = np.deg2rad(np.cumsum(rng.normal(0, 0.3, (T, 3)), axis=0))
    eyes = np.deg2rad(rng.uniform(-10, 10, (T, 2, 3)))
    eyes[..., 2] = 0.0
    aa, _ = run(T, head=head, eyes=eyes, config=BodyConfig(neck_share=0.4))
    e = euler(aa)
    np.testing.assert_allclose(e[:, SK.index("head")], 0.6 * head, atol=1e-5)
    np.testing.assert_allclose(e[:, SK.index("left_eye")], eyes[:, 0], atol=1e-5)
    np.testing.assert_allclose(e[:, SK.index("right_eye")], eyes[:, 1], atol=1e-5)
    assert np.abs(aa[:, SK.index("jaw")]).max() == 0.0
    # the neck carries the rest of the head turn (yaw is not used by breathing or nods)
    np.testing.assert_allclose(e[:, SK.index("neck"), 1], 0.4 * head[:, 1], atol=1e-5)


def test_a_total_head_is_not_added_to_the_bodys_own_neck_and_head_motion():
    """A learned face's head already holds the body's neck and head motion (it was trained on the teacher's
    neck + head total): with head_is_total the two joints carry the face's head alone, split by neck_share."""
    T = 240
    rng = np.random.default_rng(1)
    head = np.deg2rad(np.cumsum(rng.normal(0, 0.3, (T, 3)), axis=0))
    own, _ = run(T, accents=ACCENTS, head=head)
    total, _ = run(T, accents=ACCENTS, head=head, config=BodyConfig(head_is_total=True))
    ids = [SK.index("neck"), SK.index("head")]
    np.testing.assert_allclose(euler(total)[:, ids[0]], 0.4 * head, atol=1e-5)
    np.testing.assert_allclose(euler(total)[:, ids[1]], 0.6 * head, atol=1e-5)
    assert np.abs(euler(own)[:, ids[0]] - 0.4 * head).max() > np.deg2rad(1.0)     # posture, nods, sway on top
    others = [j for j in range(own.shape[1]) if j not in ids]
    np.testing.assert_array_equal(own[:, others], total[:, others])                # the rest of the body unchanged
    from engine.animators.neural.animator import NeuralConfig

    assert NeuralConfig().body.head_is_total and not BodyConfig().head_is_total


def test_gestures_concentrate_near_accents():
    T = 300
    t = np.arange(T - 1) / FPS + 0.5 / FPS
    acc = np.asarray(ACCENTS)
    mids = (acc[:-1] + acc[1:]) / 2
    near = np.min(np.abs(t[:, None] - acc[None]), axis=1) < 0.3
    between = np.min(np.abs(t[:, None] - mids[None]), axis=1) < 0.3
    r_between, r_rest = [], []
    for seed in range(5):
        aa, _ = run(T, accents=ACCENTS, seed=seed)
        v = angular_speed(aa, ARM_JOINTS).sum(axis=1)
        r_between.append(v[near].mean() / v[between].mean())
        r_rest.append(v[near].mean() / v[~near].mean())
    # arms move fastest around the accents (strokes), slowest half-way between them (holds)
    assert np.median(r_between) > 2.5, r_between
    assert np.median(r_rest) > 1.3, r_rest


def test_stroke_apex_on_the_accent():
    cfg = BodyConfig(accent_prob=1.0, peak_prob=0.0)
    accent = 3.0
    for seed in range(4):
        aa, _ = run(180, accents=[accent], seed=seed, config=cfg)
        v = angular_speed(aa, ARM_JOINTS).sum(axis=1)
        t = np.arange(len(v)) / FPS + 0.5 / FPS
        win = (t > accent - 0.5) & (t < accent + 0.15)
        # the fast stroke ends on the accent: fastest frame just before it, nearly still at it
        t_peak = t[win][np.argmax(v[win])]
        assert accent - 0.25 <= t_peak <= accent, (seed, t_peak)
        at = np.argmin(np.abs(t - accent))
        assert v[at] < 0.35 * v[win].max()


def test_listening_is_calmer_than_speaking():
    T = 600
    speech = np.arange(T) < T // 2
    accents = np.arange(0.7, 20.0, 0.9)  # accents everywhere: silence must still suppress gestures
    for seed in range(3):
        aa, root = run(T, speech=speech, accents=accents, seed=seed)
        v = angular_speed(aa).sum(axis=1)
        speak = v[30:T // 2 - 30].mean()
        listen = v[T // 2 + 30:].mean()
        assert speak > 2.0 * listen, (seed, speak, listen)


def test_breathing_rate_in_band():
    T = int(60 * FPS)
    for seed in range(4):
        aa, _ = run(T, speech=False, seed=seed)
        x = euler(aa)[:, SK.index("spine3"), 0]
        x = x - np.polyval(np.polyfit(np.arange(T), x, 1), np.arange(T))
        spec = np.abs(np.fft.rfft(x * np.hanning(T)))
        f = np.fft.rfftfreq(T, 1 / FPS)
        spec[f < 0.05] = 0
        f_peak = f[np.argmax(spec)]
        assert 12 / 60 <= f_peak <= 18 / 60, (seed, f_peak * 60)
        # the breath is visible in the chest (about a degree) but not more than a few degrees
        assert np.deg2rad(0.5) < np.ptp(x) < np.deg2rad(6)


def test_deeper_breaths_after_a_long_utterance():
    T = int(20 * FPS)
    t = np.arange(T) / FPS
    long_ = t < 12.0
    short = (t > 11.0) & (t < 12.0)
    amps = {}
    for name, sp in (("long", long_), ("short", short)):
        aa, _ = run(T, speech=sp, loudness=np.zeros(T), seed=5)
        x = euler(aa)[:, SK.index("spine3"), 0]
        amps[name] = np.ptp(x[(t > 12.5) & (t < 18.0)])
    assert amps["long"] > 1.3 * amps["short"], amps


def test_emotion_energy_and_posture():
    T = 300
    energy, flex = {}, {}
    for emo in ("anger", "sadness", "joy"):
        vs, fs = [], []
        for seed in range(3):
            aa, _ = run(T, accents=ACCENTS, emotion={emo: 1.0}, seed=seed)
            vs.append(angular_speed(aa, ARM_JOINTS).sum(axis=1).mean())
            e = euler(aa)
            fs.append(sum(e[:, SK.index(n), 0].mean() for n in ("spine1", "spine2", "spine3")))
        energy[emo], flex[emo] = np.mean(vs), np.mean(fs)
    assert energy["anger"] > 1.5 * energy["sadness"]
    assert energy["joy"] > 1.5 * energy["sadness"]
    assert flex["sadness"] > flex["joy"] + np.deg2rad(4)   # slumped
    # fear closes the arms: wrists nearer the body's midline than neutral
    x = {}
    for emo in ("neutral", "fear"):
        aa, root = run(60, speech=False, emotion={emo: 1.0})
        _, pos = SK.forward_kinematics(aa, root)
        x[emo] = np.abs(pos[:, [SK.index("left_wrist"), SK.index("right_wrist")], 0]).mean()
    assert x["fear"] < x["neutral"] - 0.02


def test_no_nans_and_smooth():
    T = 450
    loud = np.full(T, np.nan)
    loud[::2] = 0.6
    aa, root = run(T, loudness=loud, accents=[a * 1.5 for a in ACCENTS], emotion={"anger": 1.0})
    assert np.isfinite(aa).all() and np.isfinite(root).all()
    for emo in ({"anger": 1.0}, {"joy": 1.0}, {}):
        for seed in range(3):
            aa, root = run(T, accents=np.arange(0.5, 15, 0.55), emotion=emo, seed=seed)
            v = angular_speed(aa)
            # under 10 rad/s (about 570 deg/s, a brisk human arm) for every joint and frame
            assert v.max() * FPS < 10.0, (emo, seed, v.max() * FPS)
            acc = np.abs(np.diff(aa.astype(np.float64), n=2, axis=0)).max()
            assert acc < 0.25, acc                           # no kinks: bounded second difference
            assert np.abs(np.diff(root, axis=0)).max() < 0.003  # root moves < 3 mm per frame


def test_bad_input_is_a_config_error():
    with pytest.raises(ConfigError):
        run(0)
    with pytest.raises(ConfigError):
        animate_body(fps=0, n_frames=10, prosody=None, head_angles_rad=None, eye_angles_rad=None,
                     accent_times_s=(), emotion={}, seed=0)
    with pytest.raises(ConfigError):
        run(30, head=np.zeros((29, 3)))
    with pytest.raises(ConfigError):
        run(30, emotion={"boredom": 1.0})
    with pytest.raises(ConfigError):
        animate_body(fps=30, n_frames=100, prosody=prosody(np.ones(50, bool)), head_angles_rad=None,
                     eye_angles_rad=None, accent_times_s=(), emotion={}, seed=0)
    with pytest.raises(ConfigError):
        BodyConfig(breaths_per_min=(20.0, 10.0))
    for bad in (0, 2.5, True):
        with pytest.raises(ConfigError):
            BodyConfig(block_frames=bad)
    with pytest.raises(ConfigError):
        run(30, head=np.full((30, 3), "x"))


def _distance_from_spine_axis(pos, joint):
    """(T,) horizontal distance of ``joint`` from the spine polyline (pelvis..neck) at the joint's height."""
    ids = [SK.index(n) for n in ("pelvis", "spine1", "spine2", "spine3", "neck")]
    ax = pos[:, ids]
    p = pos[:, joint]
    out = np.empty(len(p))
    for t in range(len(p)):
        x = np.interp(p[t, 1], ax[t, :, 1], ax[t, :, 0])
        z = np.interp(p[t, 1], ax[t, :, 1], ax[t, :, 2])
        out[t] = np.hypot(p[t, 0] - x, p[t, 2] - z)
    return out


def test_hands_stay_in_gesture_space_outside_the_torso():
    """Over a long lively clip the wrists never enter the torso (the mannequin is ~0.35 m wide, so a
    0.175 m radius around the spine), stay below the shoulders in calm speech and below the head
    always, the elbows stay below the shoulders, and the moving hands work between waist and chest."""
    T = int(40 * FPS)
    rng = np.random.default_rng(1)
    acc = np.cumsum(rng.uniform(0.35, 1.3, 150))
    acc = acc[acc < 39.0]
    loud = np.clip(0.45 + 0.3 * np.sin(np.arange(T) / 17.0) + 0.15 * rng.standard_normal(T), 0, 1)
    head_y = SK.rest_positions_m()[SK.index("head")][1]
    for emo in ({}, {"joy": 0.4}, {"anger": 1.0}, {"surprise": 1.0}, {"fear": 1.0}):
        aa, root = run(T, loudness=loud, accents=acc, emotion=emo, seed=3)
        _, pos = SK.forward_kinematics(aa, root)
        for sd in ("left", "right"):
            w, e = pos[:, SK.index(f"{sd}_wrist")], pos[:, SK.index(f"{sd}_elbow")]
            sh_y = pos[:, SK.index(f"{sd}_shoulder"), 1]
            d = _distance_from_spine_axis(pos, SK.index(f"{sd}_wrist"))
            assert d.min() > 0.175, (emo, sd, d.min())
            assert (w[:, 1] < head_y).all(), (emo, sd, w[:, 1].max())
            above = np.mean(w[:, 1] > sh_y)
            assert above <= (0.0 if emo.get("anger", 0) + emo.get("surprise", 0) == 0 else 0.03), (emo, sd)
            assert np.mean(e[:, 1] > sh_y - 0.1) < 0.01, (emo, sd)   # elbows stay low
            # while the hand is raised into gesture space it is in front of the body, waist to chest
            up = w[:, 1] > 0.98
            assert up.mean() > 0.15, (emo, sd, up.mean())          # the hands do gesture
            assert np.median(w[up, 1]) < 1.2 and np.median(w[up, 2] - pos[up, SK.index("spine3"), 2]) > 0.15


def _long_inputs(minutes, seed=0):
    """Speech runs of 1-8 s with 0.3-3 s pauses, varying loudness, ~2.5 accents/s while speaking,
    float32 head/eye rotations (as the face hands them over)."""
    T = int(minutes * 60 * FPS)
    rng = np.random.default_rng(seed)
    speech = np.zeros(T, bool)
    i = 0
    while i < T:
        n = int(rng.uniform(1, 8) * FPS)
        speech[i:i + n] = True
        i += n + int(rng.uniform(0.3, 3) * FPS)
    t = np.arange(T) / FPS
    loud = np.where(speech, 0.4 + 0.3 * np.abs(np.sin(2 * np.pi * 2.3 * t)) + 0.1 * rng.random(T), 0.02)
    acc = np.sort(rng.uniform(0, T / FPS, size=int(T / FPS * 2.5)))
    acc = acc[speech[np.minimum((acc * FPS).astype(int), T - 1)]]
    head = (0.05 * np.sin(t[:, None] * np.array([0.7, 0.4, 0.3]))).astype(np.float32)
    eyes = np.repeat((0.02 * np.sin(t[:, None] * np.array([1.1, 0.9, 0.0])))[:, None], 2, axis=1)
    return dict(fps=FPS, n_frames=T, prosody=prosody(speech, loud), head_angles_rad=head,
                eye_angles_rad=eyes.astype(np.float32), accent_times_s=acc, emotion={"joy": 0.5}, seed=5)


def test_long_clip_deterministic_and_independent_of_the_block_size():
    kw = _long_inputs(3)
    T = kw["n_frames"]
    aa, root = animate_body(**kw)
    aa2, root2 = animate_body(**kw)
    assert np.array_equal(aa, aa2) and np.array_equal(root, root2)
    assert aa.shape == (T, 25, 3) and np.isfinite(aa).all()
    # one block over the whole clip (the unblocked computation) and tiny blocks that do not divide T
    for B in (T, 7, 1000):
        aa_b, root_b = animate_body(**kw, config=BodyConfig(block_frames=B))
        assert np.abs(aa_b - aa).max() < 1e-5, B
        assert np.abs(root_b - root).max() < 1e-7, B
    # and the clip is not trivially constant: gestures and sway move the arms and the root
    assert np.ptp(aa[:, ARM_JOINTS], axis=0).max() > 0.3 and np.ptp(root[:, 0]) > 0.01


def test_long_clip_memory_is_flat():
    """A 30-minute clip: the peak of traced allocations stays near the size of the result (the old
    whole-clip computation peaked at ~12x it), so an hour of animation fits the CLI's memory budget."""
    import tracemalloc
    kw = _long_inputs(30, seed=1)
    out_mb = kw["n_frames"] * (25 * 3 + 3) * 4 / 1e6
    tracemalloc.start()
    try:
        animate_body(**kw)
        peak_mb = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    assert peak_mb < out_mb + 50.0, (peak_mb, out_mb)  # the whole-clip version: ~367 MB
