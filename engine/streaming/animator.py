"""The streaming animator: PCM chunks in, animation frames out, with a fixed, documented look-ahead.

:class:`StreamingAnimator` takes chunks of any size (float32 in [-1, 1] or int16, mono or (n, channels), at
any sample rate: resampled to 16 kHz with soxr's streaming resampler) and returns every frame whose inputs
have arrived. Frame ``i`` is centred on ``i / fps`` seconds (the clip convention) and is emitted once the
stream holds the audio up to ``i / fps + lookahead_s``, where the look-ahead is the largest of

- the face model's: ``lookahead_frames / feature_fps`` plus half a log-mel window (``n_fft / 2 / sr``);
  with the stand-in :class:`~engine.streaming.model.EnergyFace` 4 rows / 120 + 256 / 16000 = 49.3 ms;
- the frame prosody's (RMS and YIN windows): ``prosody_lookahead_samples / sr`` = 27.8 ms at 16 kHz.

Input at another rate adds the resampler's delay (:class:`~engine.streaming.features.StreamResampler`: 21-23 ms
at 44.1/48 kHz with the default "HQ").

The stages that read the whole clip offline are causal here (their delays are reaction delays: they do not
hold frames back): loudness (:class:`engine.audio.causal.RunningLoudness`), accents
(:class:`engine.audio.causal.CausalAccents`, confirmed ~0.27 s after the peak), brows, blinks, head and eyes
(:mod:`engine.streaming.upper`) and the body (:mod:`engine.streaming.body`). Memory is bounded: the PCM
and feature buffers are trimmed to what the next frames read.

:meth:`StreamingAnimator.flush` ends the stream: the look-ahead is padded with silence (as the offline
analysis zero-pads at the end) and the frames up to ``num_frames(duration_s, fps)`` are returned, so a
stream cut mid-word ends cleanly, and the frame count equals the offline clip's.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import numpy as np

from engine.animators.body import BodyConfig
from engine.animators.phonetic.upper_face import UpperFaceConfig
from engine.audio.accents import SPEECH_LOUDNESS
from engine.audio.causal import (F0_REF_HZ, CausalAccentConfig, CausalAccents, RunningLoudness, RunningMedian,
                                 SEMITONE_BIN, SEMITONE_RANGE, frame_prosody_at, prosody_lookahead_samples,
                                 prosody_lookback_samples)
from engine.audio.prosody import FeatureConfig
from engine.streaming.body import StreamingBody
from engine.streaming.features import MODEL_SR, IncrementalLogMel, PcmBuffer, StreamResampler
from engine.streaming.model import (EnergyFace, FrameModel, check_model, log_mel_kwargs, pad_value,
                                    predict_frames, row_normalizer, stepper)
from engine.streaming.upper import CausalUpperFace, apply_channels
from engine.animators.emotion_presets import resolve_emotion
from rigs.core.errors import AudioError, ConfigError
from rigs.core.timebase import num_frames

log = logging.getLogger(__name__)

SPEECH_HANGOVER_S = 0.2        # the causal speech mask stays on this long after the last loud frame
VOICED_SPEECH_LOUDNESS = 0.05  # a voiced frame counts as speech above this loudness
MAX_CHUNK_S = 600.0            # one feed() call takes at most this much audio (bursts are fine below it)


@dataclass(frozen=True)
class StreamConfig:
    """Settings of :class:`StreamingAnimator` (the face model is passed separately)."""

    seed: int = 0
    emotion: tuple[tuple[str, float], ...] = ()
    body: bool = True
    procedural_upper_face: bool = True     # brows, blinks, head and eyes added by the front end
    features: FeatureConfig = field(default_factory=lambda: FeatureConfig(use_silero=False))
    accents: CausalAccentConfig = field(default_factory=CausalAccentConfig)
    upper_face: UpperFaceConfig = field(default_factory=UpperFaceConfig)
    body_config: BodyConfig = field(default_factory=BodyConfig)
    loudness_memory_s: float = 30.0
    resample_quality: str = "HQ"           # soxr quality for input rates other than 16 kHz (its delay: StreamResampler)


@dataclass(frozen=True)
class StreamFrame:
    """One animation frame: ``index`` at ``time_s = index / fps``; ``expression`` (52,) ARKit weights in
    canonical order; ``head_rad`` (3,) and ``eyes_rad`` (2, 3) as in :class:`engine.animators.base.FaceTrack`;
    ``joint_angles`` (J, 3) local axis-angle on the canonical skeleton (None without a body) and
    ``root_translation`` (3,) metres."""

    index: int
    time_s: float
    expression: np.ndarray
    head_rad: np.ndarray
    eyes_rad: np.ndarray
    joint_angles: np.ndarray | None
    root_translation: np.ndarray | None
    lip_offsets_mm: np.ndarray | None = None    # (L, 3) from a model that predicts its lips (NeuralFrameOutput)

    def to_json(self, *, digits: int = 4) -> dict:
        r = (lambda a: None if a is None else np.round(np.asarray(a, np.float64), digits).tolist())
        return {"index": self.index, "time_s": round(self.time_s, 6), "expression": r(self.expression),
                "head_rad": r(self.head_rad), "eyes_rad": r(self.eyes_rad), "joint_angles": r(self.joint_angles),
                "root_translation": r(self.root_translation)}


def to_float_pcm(chunk) -> np.ndarray:
    """(n,) float32 mono of a chunk: float in [-1, 1] or int16 (scaled by 1/32768), (n,) or (n, channels)."""
    x = np.asarray(chunk)
    if x.dtype == np.int16:
        x = x.astype(np.float32) / 32768.0
    elif x.dtype.kind == "f":
        x = x.astype(np.float32, copy=False)
    else:
        raise AudioError(f"PCM chunks must be float or int16, got dtype {x.dtype}")
    if x.ndim == 2:
        x = x.mean(axis=1, dtype=np.float32)
    elif x.ndim != 1:
        raise AudioError(f"a PCM chunk must be (n,) or (n, channels), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise AudioError("PCM chunk holds NaN or infinite samples")
    return np.clip(x, -1.0, 1.0)


class StreamingAnimator:
    """Audio chunks -> frames (module docstring). One instance per stream; ``feed`` then ``flush``."""

    def __init__(self, model: FrameModel | None = None, *, config: StreamConfig = StreamConfig()):
        self.model = model if model is not None else EnergyFace()
        self.hop = check_model(self.model)
        self.config = config
        self.fps = float(self.model.fps)
        self.sr = MODEL_SR
        self.mel = IncrementalLogMel(sr=self.sr, feature_fps=self.model.feature_fps, n_mels=self.model.n_mels,
                                     normalize=row_normalizer(self.model), pad_value=pad_value(self.model),
                                     **log_mel_kwargs(self.model))
        self.pcm = PcmBuffer()
        self.pros_ahead = prosody_lookahead_samples(self.sr, config.features)
        self.pros_back = prosody_lookback_samples(self.sr, config.features)
        self.loudness = RunningLoudness(fps=self.fps, memory_s=config.loudness_memory_s,
                                        low_pct=config.features.loudness_low_pct,
                                        high_pct=config.features.loudness_high_pct,
                                        range_db=config.features.loudness_range_db,
                                        min_range_db=config.features.loudness_min_range_db,
                                        silence_dbfs=config.features.silence_dbfs)
        self.accents = CausalAccents(fps=self.fps, config=config.accents)
        self.f0_median = RunningMedian(*SEMITONE_RANGE, SEMITONE_BIN, memory_s=config.accents.memory_s, fps=self.fps)
        emotion = dict(config.emotion)
        self.upper = CausalUpperFace(fps=self.fps, seed=config.seed, config=config.upper_face)
        self.body = StreamingBody(fps=self.fps, seed=config.seed, emotion=emotion,
                                  config=config.body_config) if config.body else None
        self.resampler: StreamResampler | None = None
        self.stepper = stepper(self.model)      # a stateful model's per-stream state (None: windows)
        self.rows_fed = 0                       # rows handed to the stepper so far
        self.next_frame = 0
        self.hangover = 0
        self.closed = False
        self.samples_in = 0
        self.accents_found: list[tuple[int, float]] = []   # (frame, strength) confirmed so far

    # -- timing ---------------------------------------------------------------------------------------
    @property
    def lookahead_s(self) -> float:
        """Audio past a frame's centre that must arrive before the frame is emitted (module docstring);
        a resampler's own delay (soxr, at rates other than 16 kHz) comes on top."""
        face = self.model.lookahead_frames / self.model.feature_fps + self.mel.lookahead_samples / self.sr
        return max(face, self.pros_ahead / self.sr)

    def _centre(self, i):
        return np.round(np.asarray(i) * (self.sr / self.fps)).astype(np.int64)

    def _ready(self, final: bool) -> int:
        """Frames [next_frame, returned) that can be produced now."""
        if final:
            return num_frames(self.pcm.end / self.sr, self.fps) if self.pcm.end else 0
        # feature rows up to hop * i + lookahead must exist, and prosody windows must be complete
        rows_ok = (self.mel.n_rows - 1 - self.model.lookahead_frames) // self.hop    # last frame by rows
        i = int(rows_ok)
        while i >= self.next_frame and int(self._centre(i)) + self.pros_ahead > self.pcm.end:
            i -= 1
        return max(self.next_frame, i + 1)

    # -- the stream -------------------------------------------------------------------------------------
    def feed(self, chunk, sample_rate: int = MODEL_SR) -> list[StreamFrame]:
        """Add a chunk of PCM (see :func:`to_float_pcm`) at ``sample_rate``; returns the frames it completes
        (possibly none, possibly many after a burst)."""
        if self.closed:
            raise ConfigError("this stream was flushed; start a new StreamingAnimator")
        if self.resampler is None:
            self.resampler = StreamResampler(sample_rate, self.sr, quality=self.config.resample_quality)
        elif int(sample_rate) != self.resampler.in_sr:
            raise ConfigError(f"the sample rate changed mid-stream ({self.resampler.in_sr} -> {sample_rate} Hz)")
        x = to_float_pcm(chunk)
        if x.size > MAX_CHUNK_S * sample_rate:
            raise AudioError(f"one chunk of {x.size / sample_rate:.0f} s is more than {MAX_CHUNK_S:.0f} s; feed it in parts")
        self.samples_in += x.size
        self.pcm.append(self.resampler(x))
        self.mel.update(self.pcm)
        return self._emit(self._ready(final=False))

    def flush(self) -> list[StreamFrame]:
        """End of stream: the remaining frames, the look-ahead padded with silence."""
        if self.closed:
            return []
        if self.resampler is not None:
            self.pcm.append(self.resampler(np.zeros(0, np.float32), last=True))
        self.closed = True
        self.mel.update(self.pcm, final=True)
        return self._emit(self._ready(final=True))

    @property
    def duration_s(self) -> float:
        """Seconds of (16 kHz) audio received so far."""
        return self.pcm.end / self.sr

    def _emit(self, stop: int) -> list[StreamFrame]:
        a = self.next_frame
        if stop <= a:
            return []
        idx = np.arange(a, stop)
        centres = self._centre(idx)
        lo = max(0, int(centres[0]) - self.pros_back - 1)
        if self.pcm.start > lo and self.pcm.start > 0:
            raise AudioError("streaming buffer trimmed too early (internal error)")
        y = self.pcm.y
        rms, f0, voiced = frame_prosody_at(y, centres - self.pcm.start, sr=self.sr, config=self.config.features)
        n = stop - a
        cfg = self.config
        # 1. the causal prosody stages, frame by frame
        loud_l, speech_l, acc_l, st_l, level_l = [], [], [], [], []
        for k in range(n):
            loud = self.loudness.push(float(rms[k]))
            if loud > SPEECH_LOUDNESS or (voiced[k] and loud > VOICED_SPEECH_LOUDNESS):
                self.hangover = int(round(SPEECH_HANGOVER_S * self.fps))
                sp = True
            else:
                sp = self.hangover > 0
                self.hangover = max(0, self.hangover - 1)
            acc = self.accents.push(loud, float(f0[k]), bool(voiced[k]), sp)
            self.accents_found += acc
            st = None
            if voiced[k] and f0[k] > 0:
                s = 12.0 * np.log2(float(f0[k]) / F0_REF_HZ)
                self.f0_median.push(s)
                med = self.f0_median.value()
                st = s - med if med is not None else None
            else:
                self.f0_median.push(None)
            loud_l.append(loud)
            speech_l.append(sp)
            acc_l.append(acc)
            st_l.append(st)
            level_l.append(self.loudness.level_db)
        # 2. the face model over its windows (rows [r - context, r + lookahead] of frame i, r = i * hop)
        ctx, la = self.model.context_frames, self.model.lookahead_frames
        if self.stepper is not None:        # a stateful model: the new rows only
            hi = (stop - 1) * self.hop + la + 1
            outs = self.stepper.step(self.mel.window(self.rows_fed, hi), n, level_db=level_l)
            self.rows_fed = hi
            if len(outs) != n:
                raise ConfigError(f"{type(self.model).__name__} stepper returned {len(outs)} frames for {n}")
        else:
            windows = np.stack([self.mel.window(i * self.hop - ctx, i * self.hop + la + 1) for i in range(a, stop)])
            outs = predict_frames(self.model, windows, level_l)
        # 3. the procedural upper face on top
        exprs, heads, eyes_l = [], [], []
        for k, out in enumerate(outs):
            e, head, eyes = np.asarray(out.expression, np.float32), np.asarray(out.head_rad), np.asarray(out.eyes_rad)
            if cfg.procedural_upper_face:
                ch, h2, e2 = self.upper.step(a + k, loudness=loud_l[k], speech=speech_l[k], st=st_l[k],
                                             accents=acc_l[k])
                e = apply_channels(e, ch)
                head, eyes = head + h2, eyes + e2
            exprs.append(e)
            heads.append(np.asarray(head, np.float32))
            eyes_l.append(np.asarray(eyes, np.float32))
        acc_l = [[s for _, s in acc] for acc in acc_l]
        if self.body is not None:
            joints, root = self.body.step(speech=np.asarray(speech_l), loudness=np.asarray(loud_l),
                                          head_rad=np.stack(heads), eyes_rad=np.stack(eyes_l), accents_at=acc_l)
        else:
            joints = root = [None] * n
        frames = [StreamFrame(index=a + k, time_s=(a + k) / self.fps, expression=exprs[k], head_rad=heads[k],
                              eyes_rad=eyes_l[k], joint_angles=None if joints[k] is None else np.asarray(joints[k]),
                              root_translation=None if root[k] is None else np.asarray(root[k]),
                              lip_offsets_mm=getattr(outs[k], "lip_offsets_mm", None))
                  for k in range(n)]
        self.next_frame = stop
        self._trim()
        return frames

    def _trim(self) -> None:
        """Forget samples and rows no future frame reads."""
        nxt_c = int(self._centre(self.next_frame))
        keep_s = min(nxt_c - self.pros_back - 1, self.mel.first_sample_needed(self.mel.n_rows))
        self.pcm.drop_before(max(0, keep_s))
        keep_rows = self.next_frame * self.hop - self.model.context_frames
        self.mel.trim(keep_rows if self.stepper is None else min(keep_rows, self.rows_fed))


def stream_config(*, seed: int = 0, emotion: str | None = None, body: bool = True) -> StreamConfig:
    """A :class:`StreamConfig` from command-line style values (emotion as ``NAME[:INTENSITY],...``); a preset's
    style code is dropped with a warning (it steers face diffusion, which streaming does not run)."""
    preset = resolve_emotion(emotion)
    if preset.style is not None:
        log.warning("%s: the style code is ignored while streaming (the fast path has no face diffusion)", emotion)
    return dataclasses.replace(StreamConfig(), seed=int(seed), emotion=preset.mix, body=bool(body))
