"""Listening: what the character does while a conversation partner speaks (the dyadic input).

A shared stage of :class:`engine.animators.compose.ComposedAnimator`, so every face model and body get it.
Given the partner's recording (``AnimateRequest.partner``), :func:`analyze_partner` finds the partner's
speech, pitch accents and phrase ends at the clip's frames (the same prosody and accent stages as the
character's own audio: :mod:`engine.audio.prosody`, :mod:`engine.audio.accents`), and :func:`apply_listening`
overlays listener behaviour on the finished face and body tracks:

- **Nods** after the partner's phrase ends and on some of the partner's pitch accents, about 0.2 s late,
  sometimes doubled: listener backchannels come at the end of the speaker's phrases and at prosodic cues
  (Yngve 1970; Ward & Tsukahara 2000, "Prosodic features which cue back-channel responses in English and
  Japanese"; Poppe et al. 2010 on listener nods timed to speaker prosody).
- **Backchannel smiles** (mouthSmile, cheekSquint) at some phrase ends and a faint engaged smile; the jaw is
  never touched, so the mouth stays closed.
- **Gaze toward the partner**: the head turns part of the way (``head_gaze_share``) and the eyes the rest;
  listeners look at the speaker far more than speakers look at listeners (Kendon 1967; Argyle & Cook 1976).
  The face's own small saccades are damped, not removed, and its blinks are left alone.
- **Posture**: a slight forward lean and torso turn toward the partner during the partner's turns, with a
  small seeded posture shift at each new partner turn (Condon & Ogston 1966 on listener posture shifts at
  speaker boundaries).

Overlap: the character's own speech wins. The listening weight is zero wherever the character speaks, and it
fades in and out with a raised-cosine ramp (``ramp_s``) placed entirely outside the character's speech, so
the mouth, head and eyes while the character speaks are exactly those of a run without a partner and nothing
pops. Angles follow the face and body conventions (pitch + looks down, yaw + toward the character's left).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

from engine.animators.base import AnimateRequest, Analysis, BodyTrack, FaceTrack
from engine.animators.phonetic.upper_face import UpperFaceConfig, eye_channels
from engine.audio.accents import SPEECH_LOUDNESS, AccentConfig, Accents, detect_accents, prosody_arrays
from engine.audio.load import Audio
from engine.audio.prosody import FeatureConfig, analyze
from engine.audio.vad import dilate
from rigs.core.arkit import ARKIT_INDEX
from rigs.core.errors import ConfigError
from rigs.core.rotations import axis_angle_to_matrix, euler_to_axis_angle, matrix_to_euler
from rigs.core.skeleton import joint_limits_rad
from rigs.core.timebase import smooth_gaussian

log = logging.getLogger(__name__)

__all__ = ["LISTENING_MODEL_ID", "ListeningConfig", "ListeningTrack", "PartnerAnalysis", "analyze_partner",
           "apply_listening", "listening_track", "partner_meta"]

LISTENING_MODEL_ID = "listening-v1"
PARTNER_DIRECTION_RANGE_DEG = (-90.0, 90.0)
RNG_STREAM = 0x11573   # the listening stage's own random stream next to the seed
SPINE_JOINTS = ("spine1", "spine2", "spine3")
SMILE_CHANNELS = ("mouthSmileLeft", "mouthSmileRight")
CHEEK_CHANNELS = ("cheekSquintLeft", "cheekSquintRight")
CHEEK_PER_SMILE = 0.4          # cheek raise per unit of backchannel smile (Duchenne-like)
# a partner phrase is where the loudness is above floor + PHRASE_LEVEL * (peak - floor) of the partner's turns
PHRASE_FLOOR_PCT, PHRASE_PEAK_PCT, PHRASE_LEVEL = 10.0, 90.0, 0.4
LENGTH_TOLERANCE_S = 0.05      # partner/character length differences above this are reported


@dataclass(frozen=True)
class ListeningConfig:
    """Tuning of the listener. Angles in degrees, times in seconds, smile weights in [0, 1]."""

    # turns and fades
    turn_gap_s: float = 1.2          # partner pauses shorter than this stay inside the partner's turn
    turn_tail_s: float = 0.6         # the character keeps listening this long after the partner's turn ends
    ramp_s: float = 0.35             # fade in/out of listening (half the raised-cosine width)
    min_phrase_s: float = 0.5        # a partner phrase at least this long can draw a phrase-end nod
    phrase_pause_s: float = 0.2      # pauses shorter than this do not end a partner phrase
    # nods (head pitch, + down)
    phrase_nod_deg: float = 7.0
    phrase_nod_prob: float = 0.85
    accent_nod_deg: float = 3.5
    accent_nod_prob: float = 0.45
    double_nod_prob: float = 0.3
    nod_duration_s: float = 0.55     # one down-and-up
    nod_latency_s: float = 0.2       # after the cue
    min_nod_gap_s: float = 0.8
    # gaze
    head_gaze_share: float = 0.6     # of the partner direction taken by the head (the eyes take the rest)
    max_eye_yaw_deg: float = 25.0
    saccade_damping: float = 0.5     # the face's own eye motion is scaled by 1 - this while listening
    # smiles
    smile: float = 0.35              # backchannel smile peak
    smile_prob: float = 0.5          # at a partner phrase end
    smile_hold_s: float = 1.2
    engaged_smile: float = 0.06      # while listening at all
    # posture (body)
    lean_deg: float = 3.0            # forward lean over the spine during the partner's turns
    torso_turn_share: float = 0.15   # of the partner direction taken by the spine
    posture_shift_deg: float = 1.5   # seeded lean/roll change at each partner turn
    posture_ramp_s: float = 0.8      # smoothing of the posture (sigma)

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if not np.isfinite(v) or v < 0:
                raise ConfigError(f"ListeningConfig.{f.name} must be a finite number >= 0, got {v!r}")
        for name in ("phrase_nod_prob", "accent_nod_prob", "double_nod_prob", "head_gaze_share",
                     "saccade_damping", "smile", "smile_prob", "engaged_smile", "torso_turn_share"):
            if getattr(self, name) > 1:
                raise ConfigError(f"ListeningConfig.{name} must be in [0, 1], got {getattr(self, name)!r}")


@dataclass(frozen=True)
class PartnerAnalysis:
    """What the character heard of the partner at the clip's frames: ``prosody``, ``accents``, ``speech``
    (T,) bool, and the recording's ``name``/``sha256``/``sample_rate`` for the clip's meta."""

    prosody: object
    accents: Accents
    speech: np.ndarray
    name: str | None
    sha256: str | None
    sample_rate: int | None


@dataclass(frozen=True)
class ListeningTrack:
    """The listener overlay, all (T,): ``weight`` (fast, zero while the character speaks), ``posture_weight``
    (slow), ``nod_deg`` head pitch, ``smile`` weight, ``head_yaw_deg``/``eye_yaw_deg`` toward the partner,
    ``lean_deg``/``roll_deg``/``torso_yaw_deg`` of the spine; ``nod_times_s`` (N,) when the nods start."""

    weight: np.ndarray
    posture_weight: np.ndarray
    nod_deg: np.ndarray
    smile: np.ndarray
    head_yaw_deg: np.ndarray
    eye_yaw_deg: np.ndarray
    lean_deg: np.ndarray
    roll_deg: np.ndarray
    torso_yaw_deg: np.ndarray
    nod_times_s: np.ndarray


# -- the partner's audio ----------------------------------------------------------------------------------
def conform_partner(partner: Audio, audio: Audio) -> Audio:
    """``partner`` at ``audio``'s sample rate and length: resampled (soxr) and zero-padded or cut, with a
    warning for each change; never raises for a mismatch."""
    y = np.asarray(partner.samples, np.float32)
    sr = int(partner.sr)
    name = partner.source_name
    if sr != int(audio.sr):
        import soxr

        log.warning("partner %s: sample rate %d Hz resampled to the character's %d Hz", name, sr, audio.sr)
        y = np.asarray(soxr.resample(y, sr, int(audio.sr), quality="HQ"), np.float32)
        sr = int(audio.sr)
    elif getattr(partner, "original_sr", sr) != getattr(audio, "original_sr", sr):
        log.warning("partner %s was recorded at %d Hz and %s at %d Hz; both were resampled to %d Hz", name,
                    partner.original_sr, audio.source_name, audio.original_sr, sr)
    n = int(audio.samples.size)
    if abs(y.size - n) > LENGTH_TOLERANCE_S * sr:
        how = "padded with silence" if y.size < n else "cut"
        log.warning("partner %s is %.2f s long and %s %.2f s: %s to %.2f s", name, y.size / sr,
                    audio.source_name, n / sr, how, n / sr)
    if y.size < n:
        y = np.concatenate([y, np.zeros(n - y.size, np.float32)])
    y = np.clip(y[:n], -1.0, 1.0)
    return dataclasses.replace(partner, samples=y, sr=sr, duration_s=float(audio.duration_s))


def analyze_partner(partner: Audio, audio: Audio, *, fps: float, n_frames: int,
                    features: FeatureConfig | None = None, accents: AccentConfig | None = None) -> PartnerAnalysis:
    """The partner's prosody, accents and (T,) speech mask at the character's ``n_frames`` frames at ``fps``."""
    features = features or FeatureConfig(use_silero=False)
    accents = accents or AccentConfig()
    p = conform_partner(partner, audio)
    if p.is_silent(threshold_dbfs=features.silence_dbfs):
        log.warning("partner %s is silent; the character does not listen", partner.source_name)
    prosody = analyze(p, fps=fps, config=features)
    pa = prosody_arrays(prosody, n_frames)
    return PartnerAnalysis(prosody=prosody, accents=detect_accents(prosody, fps=fps, n_frames=n_frames, config=accents),
                           speech=pa["speech"].copy(), name=partner.source_name,
                           sha256=getattr(partner, "source_sha256", None),
                           sample_rate=getattr(partner, "original_sr", partner.sr))


def with_partner(analysis: Analysis, audio, request: AnimateRequest, *, features: FeatureConfig,
                 accents: AccentConfig) -> Analysis:
    """``analysis`` with the partner's analysis added when the request has a partner (else unchanged)."""
    if request.partner is None:
        return analysis
    return dataclasses.replace(analysis, partner=analyze_partner(
        request.partner, audio, fps=float(request.fps), n_frames=analysis.n_frames, features=features,
        accents=accents))


def partner_meta(analysis: Analysis) -> dict:
    """The clip meta keys of the partner (empty without one)."""
    p = analysis.partner
    if p is None:
        return {}
    return {"partner_audio": p.name, "partner_sha256": p.sha256, "partner_sample_rate": p.sample_rate,
            "partner_speech_found": bool(np.any(p.speech))}


# -- the listener's signals ------------------------------------------------------------------------------
def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


def close_gaps(mask: np.ndarray, *, max_gap_frames: int) -> np.ndarray:
    """(T,) bool ``mask`` with False runs shorter than ``max_gap_frames`` between True runs filled."""
    out = mask.copy()
    runs = _runs(mask)
    for (_, e), (s, _) in zip(runs[:-1], runs[1:]):
        if s - e < max_gap_frames:
            out[e:s] = True
    return out


def raised_cosine_fade(mask: np.ndarray, radius_frames: int) -> np.ndarray:
    """(T,) float in [0, 1]: ``mask`` convolved with a normalised raised-cosine window of half-width
    ``radius_frames``; zero wherever ``mask`` is False for ``radius_frames`` frames either side."""
    x = mask.astype(np.float64)
    if radius_frames < 1:
        return x
    k = np.hanning(2 * radius_frames + 3)[1:-1]       # 2r+1 taps, all > 0
    k /= k.sum()
    return np.clip(np.convolve(np.pad(x, radius_frames, mode="edge"), k, mode="valid"), 0.0, 1.0)


def _pulse(t: np.ndarray, start_s: float, duration_s: float) -> np.ndarray:
    """(T,) sin^2 bump from ``start_s`` over ``duration_s``, peak 1 (smooth at both ends)."""
    u = (t - start_s) / duration_s
    return np.where((u >= 0) & (u <= 1), np.sin(np.pi * np.clip(u, 0, 1)) ** 2, 0.0)


def listening_track(own_speech: np.ndarray, partner: PartnerAnalysis, *, fps: float, direction_deg: float,
                    seed: int, config: ListeningConfig = ListeningConfig()) -> ListeningTrack:
    """The listener overlay (:class:`ListeningTrack`) for the character's (T,) ``own_speech`` mask and the
    partner's analysis; ``direction_deg`` is where the partner is (yaw, + toward the character's left)."""
    cfg = config
    T = len(own_speech)
    own = np.asarray(own_speech, bool)
    speech = np.asarray(partner.speech, bool)[:T]
    t = np.arange(T) / fps
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, RNG_STREAM])
    r = int(round(cfg.ramp_s * fps))           # 0: no fade

    turn = close_gaps(speech, max_gap_frames=int(round(cfg.turn_gap_s * fps)))
    turn = dilate(turn, radius_frames=int(round(cfg.turn_tail_s * fps))) & (np.cumsum(turn) > 0)
    weight = raised_cosine_fade(turn & ~dilate(own, radius_frames=r), r)
    weight[own] = 0.0                                    # exact: the ramp lies outside own speech already
    posture = smooth_gaussian(turn.astype(np.float64), fps, cfg.posture_ramp_s) if T else np.zeros(0)

    # cues: partner phrase ends (speech runs, short pauses bridged) and pitch accents
    # phrases from the loudness, not the voice-activity mask: its hangover hides the short pauses between phrases
    # (relative to the partner's own floor and peak: room noise in the pauses can be louder than SPEECH_LOUDNESS)
    loud = prosody_arrays(partner.prosody, T)["loudness"]
    if turn.any():
        floor, peak = np.percentile(loud[turn], [PHRASE_FLOOR_PCT, PHRASE_PEAK_PCT])
        level = max(SPEECH_LOUDNESS, floor + PHRASE_LEVEL * (peak - floor))
    else:
        level = SPEECH_LOUDNESS
    phrases = close_gaps((loud > level) & turn, max_gap_frames=int(round(cfg.phrase_pause_s * fps)))
    phrase_ends = [e for s, e in _runs(phrases) if (e - s) >= cfg.min_phrase_s * fps]
    # phrase ends first (the stronger backchannel cue), then accents, each nod at least min_nod_gap_s from the others
    cues = [(e / fps, cfg.phrase_nod_deg, cfg.phrase_nod_prob, True) for e in phrase_ends]
    cues += [(f / fps, cfg.accent_nod_deg * float(st), cfg.accent_nod_prob, False)
             for f, st in zip(partner.accents.frames, partner.accents.strengths)]
    draws = rng.random((len(cues), 3))                   # one row per cue whatever is taken: stable streams
    nod = np.zeros(T)
    smile = np.zeros(T)
    nod_times: list[float] = []
    for (cue_s, amp_deg, prob, phrase_end), (u_nod, u_double, u_smile) in zip(cues, draws):
        start = cue_s + cfg.nod_latency_s
        if u_nod < prob and all(abs(start - s) >= cfg.min_nod_gap_s for s in nod_times):
            nod += amp_deg * _pulse(t, start, cfg.nod_duration_s)
            if u_double < cfg.double_nod_prob:
                nod += 0.7 * amp_deg * _pulse(t, start + cfg.nod_duration_s, cfg.nod_duration_s)
            nod_times.append(start)
        if phrase_end and u_smile < cfg.smile_prob:
            smile = np.maximum(smile, cfg.smile * _pulse(t, cue_s, 2.0 * cfg.smile_hold_s))

    # posture shifts: a new seeded lean/roll at each partner turn, smoothed
    shift = np.zeros((T, 2))
    for s, _ in _runs(turn):
        shift[s:] = rng.normal(0.0, cfg.posture_shift_deg, 2)
    shift = smooth_gaussian(shift, fps, cfg.posture_ramp_s) if T else shift

    direction = float(direction_deg)
    torso_yaw = cfg.torso_turn_share * direction * posture
    head_yaw = cfg.head_gaze_share * direction * weight
    eye_yaw = np.clip((1.0 - cfg.head_gaze_share) * direction, -cfg.max_eye_yaw_deg, cfg.max_eye_yaw_deg) * weight
    return ListeningTrack(
        weight=weight, posture_weight=posture, nod_deg=nod * weight,
        smile=np.clip(cfg.engaged_smile + smile, 0.0, 1.0) * weight, head_yaw_deg=head_yaw, eye_yaw_deg=eye_yaw,
        lean_deg=(cfg.lean_deg + shift[:, 0]) * posture, roll_deg=shift[:, 1] * posture, torso_yaw_deg=torso_yaw,
        nod_times_s=np.sort(np.asarray(nod_times, np.float64)))


# -- applying it ---------------------------------------------------------------------------------------------
def _face_with(face: FaceTrack, lt: ListeningTrack, cfg: ListeningConfig) -> FaceTrack:
    w = lt.weight
    head = np.asarray(face.head_angles_rad, np.float64).copy()
    head[:, 0] += np.deg2rad(lt.nod_deg)
    head[:, 1] += np.deg2rad(lt.head_yaw_deg)
    eyes0 = np.asarray(face.eye_angles_rad, np.float64)
    eyes = eyes0 * (1.0 - cfg.saccade_damping * w)[:, None, None]   # steadier gaze on the speaker
    eyes[:, :, 1] += np.deg2rad(lt.eye_yaw_deg)[:, None]
    x = np.asarray(face.expression, np.float32).copy()
    ufc = UpperFaceConfig()
    before, after = eye_channels(eyes0, ufc), eye_channels(eyes, ufc)
    for name in before:
        x[:, ARKIT_INDEX[name]] += (after[name] - before[name]).astype(np.float32)
    for name in SMILE_CHANNELS:
        x[:, ARKIT_INDEX[name]] += lt.smile.astype(np.float32)
    for name in CHEEK_CHANNELS:
        x[:, ARKIT_INDEX[name]] += (CHEEK_PER_SMILE * lt.smile).astype(np.float32)
    return dataclasses.replace(face, expression=np.clip(x, 0.0, 1.0),
                               head_angles_rad=head.astype(np.float32), eye_angles_rad=eyes.astype(np.float32))


def _body_with(body: BodyTrack, lt: ListeningTrack, *, neck_share: float) -> BodyTrack:
    """Add the listener's Euler deltas (XYZ, the body's convention) to the joints it moves; limits kept."""
    idx = {n: i for i, n in enumerate(body.joint_names)}
    deltas: dict[str, np.ndarray] = {}

    def add(name: str, pitch, yaw, roll) -> None:
        if name in idx:
            d = deltas.setdefault(name, np.zeros((len(lt.weight), 3)))
            d += np.deg2rad(np.stack(np.broadcast_arrays(pitch, yaw, roll), axis=1))

    spine_share = 1.0 / len(SPINE_JOINTS)
    for n in SPINE_JOINTS:
        add(n, spine_share * lt.lean_deg, spine_share * lt.torso_yaw_deg, spine_share * lt.roll_deg)
    # the head keeps its gaze: the neck takes back the lean and the torso's turn, then nods and turns
    head_pitch, head_yaw = lt.nod_deg, lt.head_yaw_deg - lt.torso_yaw_deg
    add("neck", neck_share * head_pitch - 0.5 * lt.lean_deg, neck_share * head_yaw, 0.0)
    add("head", (1.0 - neck_share) * head_pitch - 0.5 * lt.lean_deg, (1.0 - neck_share) * head_yaw, 0.0)
    for n in ("left_eye", "right_eye"):
        add(n, 0.0, lt.eye_yaw_deg, 0.0)
    if not deltas:
        return body
    joints = np.asarray(body.joint_angles_rad, np.float32).copy()
    limits = joint_limits_rad()
    for name, d in deltas.items():
        j = idx[name]
        e = matrix_to_euler(axis_angle_to_matrix(joints[:, j].astype(np.float64)), "XYZ") + d
        lim = limits.get(name)
        if lim is not None:
            e = np.clip(e, lim[:, 0], lim[:, 1])
        joints[:, j] = euler_to_axis_angle(e, "XYZ").astype(np.float32)
    return dataclasses.replace(body, joint_angles_rad=joints)


def apply_listening(analysis: Analysis, face: FaceTrack, body: BodyTrack, request: AnimateRequest, *,
                    config: ListeningConfig = ListeningConfig(), neck_share: float = 0.4,
                    body_enabled: bool = True) -> tuple[FaceTrack, BodyTrack]:
    """Face and body with the listener overlay when the analysis has a partner (else unchanged)."""
    if analysis.partner is None:
        return face, body
    lo, hi = PARTNER_DIRECTION_RANGE_DEG
    direction = float(request.partner_direction_deg)
    if not lo <= direction <= hi:
        raise ConfigError(f"--partner-direction must be between {lo:g} and {hi:g} degrees, got {direction:g}")
    own = prosody_arrays(analysis.prosody, analysis.n_frames)["speech"]
    lt = listening_track(own, analysis.partner, fps=float(request.fps), direction_deg=direction,
                         seed=request.seed, config=config)
    face = _face_with(face, lt, config)
    if body_enabled:
        body = _body_with(body, lt, neck_share=neck_share)
    return face, body
