"""The phonetic face animator: timed phones + prosody + emotion -> ARKit expression, head and eye motion.

This is the no-training animator and also the teacher that labels training data for learned models, so
every rule is explicit and deterministic per seed:

1. mouth and jaw from phones with dominance-function coarticulation and JALI-style jaw/lip separation
   (:mod:`engine.animators.phonetic.mouth`), vowel jaw opening scaled by loudness;
2. the emotion overlay and speaking style (:mod:`engine.animators.phonetic.expression`);
3. brows on pitch accents (:mod:`engine.audio.accents`), blinks, head motion and eye saccades from prosody
   (:mod:`engine.animators.phonetic.upper_face`);
4. lip contacts (P B M closed, F V lower lip tucked) imposed last, so no overlay can part closed lips.

Inputs: ``phones`` are objects with ``start_s, end_s, label`` (ARPAbet, "SIL" for silence), e.g.
``rigs.core.phones.Phone``; ``prosody`` has per-frame ``rms, loudness (0..1), f0_hz, voiced, speech``
(``engine.audio.prosody.Prosody``); arrays of another length are resampled to ``n_frames``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.animators.phonetic import upper_face as pr
from engine.animators.phonetic.mouth import (CoarticulationConfig, apply_contacts, contact_kernels,
                                           mouth_curves, rest_kernel)
from engine.animators.phonetic.expression import emotion_style
from engine.animators.base import FaceTrack
from engine.audio.accents import AccentConfig, Accents, detect_accents, prosody_arrays
from rigs.core.arkit import ARKIT_INDEX, ARKIT_NAMES
from rigs.core.errors import ConfigError

A = ARKIT_INDEX
_MOUTH_OVERLAY_DAMP = ("mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
                       "mouthDimpleLeft", "mouthDimpleRight")


@dataclass(frozen=True)
class FaceConfig:
    coarticulation: CoarticulationConfig = field(default_factory=CoarticulationConfig)
    upper_face: pr.UpperFaceConfig = field(default_factory=pr.UpperFaceConfig)
    accents: AccentConfig = field(default_factory=AccentConfig)   # used when no accents are given


def animate_face(phones, prosody, *, fps: float, n_frames: int, emotion: dict | None = None, seed: int = 0,
                 config: FaceConfig = FaceConfig(), accents: Accents | None = None) -> FaceTrack:
    """Animate the face for one utterance. Deterministic for a given ``seed``. See the module docstring.

    accents: the shared pitch-accent stage's output (:func:`engine.audio.accents.detect_accents`); None
    detects them here with ``config.accents``."""
    if not (np.isfinite(fps) and fps > 0):
        raise ConfigError(f"fps must be positive, got {fps!r}")
    T = int(n_frames)
    if T < 1:
        raise ConfigError(f"n_frames must be >= 1, got {n_frames!r}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, 0x9A51E]))
    rng_blink, rng_head, rng_eye = (np.random.default_rng(s) for s in rng.bit_generator.seed_seq.spawn(3))
    style = emotion_style(emotion)
    pa = prosody_arrays(prosody, T)
    phones = sorted(phones or [], key=lambda p: float(p.start_s))
    pcfg, ccfg = config.upper_face, config.coarticulation
    if accents is None:
        accents = detect_accents(prosody, fps=fps, n_frames=T, config=config.accents)

    # 1. mouth and jaw
    x = mouth_curves(phones, pa["loudness"], fps=fps, n_frames=T, articulation=style.articulation, config=ccfg)
    # 2. emotion overlay: tonic, with the mouth parts that fight articulation damped by rounding
    rounding = np.clip(x[:, A["mouthPucker"]] + x[:, A["mouthFunnel"]], 0, 1)
    ov = np.broadcast_to(style.overlay, (T, len(ARKIT_NAMES))).copy()
    for n in _MOUTH_OVERLAY_DAMP:
        ov[:, A[n]] *= 1.0 - 0.7 * rounding
    x = x + ov
    # 3. upper face from prosody
    acc_f, acc_s = accents.frames, accents.strengths
    brow = pr.brow_curve(acc_f, acc_s, T, fps, pcfg.brow_raise * style.brow_gain)
    x[:, A["browInnerUp"]] += brow
    x[:, A["browOuterUpLeft"]] += 0.8 * brow
    x[:, A["browOuterUpRight"]] += 0.8 * brow
    duration_s = T / fps
    bounds = pr.pause_boundaries(pa["speech"], fps, pcfg.pause_min_s) / fps
    blinks = pr.blink_times(rng_blink, duration_s, bounds, pcfg.blinks_per_min * style.blink_rate, pcfg)
    bl = pr.blink_curve(blinks, T, fps, pcfg)
    for side in ("Left", "Right"):
        c = A["eyeBlink" + side]
        x[:, c] = x[:, c] + (1.0 - x[:, c]) * bl          # a blink closes fully whatever the tonic lid
        x[:, A["eyeWide" + side]] *= 1.0 - bl
    head = pr.head_angles(rng_head, pa, acc_f, acc_s, fps, style.head_energy, style.head_pitch_bias_rad, pcfg)
    eyes = pr.eye_angles(rng_eye, pa, fps, head, pcfg)
    for name, v in pr.eye_channels(eyes, pcfg).items():
        x[:, A[name]] = np.clip(x[:, A[name]] + v, 0, 1)
    # 4. lip contacts last
    kb, kl = contact_kernels(phones, fps=fps, n_frames=T, config=ccfg)
    rest = rest_kernel(phones, fps=fps, n_frames=T, config=ccfg) if phones else np.ones(T)
    x = apply_contacts(np.clip(x, 0, 1), kb, kl, ccfg, rest=rest)
    return FaceTrack(
        expression=np.clip(x, 0.0, 1.0).astype(np.float32),
        head_angles_rad=head.astype(np.float32),
        eye_angles_rad=eyes.astype(np.float32),
        blink_times_s=np.asarray(blinks, np.float64),
    )
