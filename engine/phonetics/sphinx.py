"""PocketSphinx plumbing shared by alignment and recognition: the frame grid, decoders, 16 kHz PCM,
decoding under a deadline, cutting long audio at quiet points, alignment sanity checks, and the
finalisation of raw phones into a contiguous, sorted list.

References: CMU PocketSphinx 5 (D. Huggins-Daines et al., ICASSP 2006) with its en-us acoustic model
(16 kHz, 10 ms frames, 3-state phone HMMs); cmusphinx/pocketsphinx#339 for digital silence at
utterance edges.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from collections.abc import Callable

import numpy as np

from engine.audio.load import Audio
from engine.phonetics.config import AlignmentMismatch, PhoneticsConfig
from rigs.core.errors import PhoneticsError
from rigs.core.phones import SIL, Phone

log = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 16000          # the en-us acoustic model's sample rate
FRAME_S = 0.01                  # PocketSphinx frame period (100 frames per second)
FRAME_SAMPLES = 160             # samples per frame at SAMPLE_RATE_HZ (SAMPLE_RATE_HZ * FRAME_S)
MIN_HMM_FRAMES = 3              # the shortest a phone can be: one frame per HMM state
TIME_LIMIT_BASE_S = 20.0        # default wall-clock limit: this plus ...
TIME_LIMIT_PER_AUDIO_S = 3.0    # ... this many seconds per second of audio
MIN_PHONES_SQUEEZE_CHECK = 4    # fewer aligned phones: the "squeezed to the minimum" check is skipped
MIN_SPEECH_FRAMES_CHECK = 20    # less detected speech: the "speech left in silence" check is skipped
_PCM_BLOCK = 1 << 20            # samples quantised at a time (bounds float copies of long signals)
_RMS_BLOCK_FRAMES = 4096        # frames measured at a time by chunk_bounds (no float copy of the signal)


# ----------------------------------------------------------------------------------------------
# decoding


def decoder(**kw):
    """A ``pocketsphinx.Decoder`` with logging silenced; ``kw`` are ``pocketsphinx.Config`` options."""
    import pocketsphinx as ps
    try:
        return ps.Decoder(ps.Config(loglevel="FATAL", **kw))
    except Exception as e:  # whatever the bindings raise for a bad model or option
        raise PhoneticsError(f"cannot start PocketSphinx: {e}") from None


def pcm16k(audio: Audio) -> np.ndarray:
    """(N,) little-endian int16 samples of ``audio`` at SAMPLE_RATE_HZ, digital silence dithered."""
    y = audio.samples
    if audio.sr != SAMPLE_RATE_HZ:
        import soxr
        y = soxr.resample(y, audio.sr, SAMPLE_RATE_HZ)
    # +-1 LSB deterministic dither: digital silence (exact zeros) breaks PocketSphinx's log-energy
    # features and makes alignment fail at utterance edges. Quantised block by block into one int16
    # array so an hour of audio needs 115 MB here, not several float copies of the signal.
    out = np.empty(y.size, "<i2")
    n_zero = 0
    for a in range(0, y.size, _PCM_BLOCK):
        q = np.clip(y[a:a + _PCM_BLOCK], -1.0, 1.0) * np.float32(32767.0)
        out[a:a + q.size] = np.round(q, out=q)
        n_zero += int(np.count_nonzero(out[a:a + q.size] == 0))
    if y.size and n_zero > 0.01 * y.size:  # only recordings with stretches of digital silence
        rng = np.random.default_rng(0)
        for a in range(0, y.size, _PCM_BLOCK):
            seg = out[a:a + _PCM_BLOCK]
            zero = seg == 0
            seg[zero] = rng.integers(-1, 2, size=int(zero.sum()))
    return out


def time_limit_s(audio: Audio, config: PhoneticsConfig) -> float:
    """Wall-clock budget of one phone-timing call: ``config.time_limit_s``, else grows with the audio."""
    if config.time_limit_s is not None:
        return config.time_limit_s
    return TIME_LIMIT_BASE_S + TIME_LIMIT_PER_AUDIO_S * audio.duration_s


@dataclass
class Budget:
    """The allowance of one phone-timing run: a ``time.monotonic()`` deadline, and a ``progress(fraction)``
    hook called after every decoded utterance (the caller's way to follow the work or cancel it: the hook
    may raise). ``total_samples`` is the PCM the run must decode at least once."""

    deadline: float
    total_samples: int
    progress: Callable[[float], None] | None = None
    decoded_samples: int = 0

    @classmethod
    def start(cls, limit_s: float, total_samples: int, progress: Callable[[float], None] | None = None) -> "Budget":
        return cls(time.monotonic() + limit_s, max(1, int(total_samples)), progress)

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise PhoneticsError("phone timing exceeded its time limit")

    def advance(self, n_samples: int) -> None:
        self.decoded_samples += int(n_samples)
        if self.progress is not None:
            self.progress(min(1.0, self.decoded_samples / self.total_samples))


def decode(dec, pcm: np.ndarray, budget: Budget, *, count: bool = True) -> None:
    """Decode one utterance in one full-utterance call (batch CMN, as PocketSphinx expects for
    alignment). Work is bounded by the caller: utterances are at most ``segment_s`` (recognition) or
    ``chunk_align_s`` (alignment) long, and the budget's deadline is checked before each. ``count=False``:
    the caller reports the progress itself (several passes over one utterance)."""
    budget.check()
    dec.start_utt()
    dec.process_raw(pcm.tobytes(), no_search=False, full_utt=True)
    dec.end_utt()
    if count:
        budget.advance(pcm.size)


# ----------------------------------------------------------------------------------------------
# cutting long audio at quiet points


def cut_at_quiet_points(n: int, max_len: int, quiet_point: Callable[[int, int], int]) -> list[tuple[int, int]]:
    """[(start, end)) ranges tiling [0, n): while more than ``max_len`` remains, the next cut is
    ``quiet_point(lo, hi)``, a quiet point of the window [lo, hi) that is the second half of the next
    ``max_len``. One walk for both segmenters below; they differ only in how they find the quiet point."""
    out, a = [], 0
    while n - a > max_len:
        cut = quiet_point(a + max_len // 2, a + max_len)
        out.append((a, cut))
        a = cut
    out.append((a, n))
    return out


def segments(pcm: np.ndarray, segment_s: float) -> list[tuple[int, int]]:
    """[(start, end)) sample ranges of at most ~segment_s, cut at the quietest 10 ms near each limit
    (energy of 10 ms blocks counted from the window start; the cut is the middle of the block)."""

    def quietest_block(lo: int, hi: int) -> int:
        win = pcm[lo:hi].astype(np.float32)
        e = np.add.reduceat(win * win, np.arange(0, win.size, FRAME_SAMPLES))
        return lo + int(np.argmin(e)) * FRAME_SAMPLES + FRAME_SAMPLES // 2

    return cut_at_quiet_points(pcm.size, int(segment_s * SAMPLE_RATE_HZ), quietest_block)


def chunk_bounds(pcm: np.ndarray, *, chunk_s: float, min_pause_s: float) -> list[tuple[int, int]]:
    """[(start, end)) 10 ms frame ranges of at most ``chunk_s``, cut in the middle of pauses.

    A pause is a run of at least ``min_pause_s`` of frames below an adaptive energy threshold (energy
    VAD with a short hangover); the last pause in the second half of the window is used, else the
    quietest frame there."""
    from engine.audio.vad import energy_vad
    T = pcm.size // FRAME_SAMPLES
    if T == 0:
        return [(0, 0)]
    x = pcm[: T * FRAME_SAMPLES].reshape(T, FRAME_SAMPLES)
    rms = np.empty(T, np.float32)
    for a in range(0, T, _RMS_BLOCK_FRAMES):
        b = x[a:a + _RMS_BLOCK_FRAMES].astype(np.float32) / 32768.0
        rms[a:a + b.shape[0]] = np.sqrt(np.mean(b * b, axis=1))
    speech = energy_vad(rms, fps=1 / FRAME_S, hangover_s=0.05)
    d = np.diff(np.concatenate([[1], speech.astype(np.int8), [1]]))
    starts, ends = np.flatnonzero(d == -1), np.flatnonzero(d == 1)
    k = int(round(min_pause_s / FRAME_S))
    mids = np.array([(s + e) // 2 for s, e in zip(starts, ends) if e - s >= k and s > 0 and e < T], np.int64)

    def last_pause_else_quietest(lo: int, hi: int) -> int:
        c = mids[(mids > lo) & (mids <= hi)]
        return int(c[-1]) if c.size else lo + int(np.argmin(rms[lo:hi]))

    return cut_at_quiet_points(T, max(1, int(chunk_s / FRAME_S)), last_pause_else_quietest)


# ----------------------------------------------------------------------------------------------
# alignment sanity checks


def speech_frames(audio: Audio) -> np.ndarray:
    """(T,) bool energy voice activity at the 10 ms aligner frame rate."""
    from engine.audio.prosody import frame_rms
    from engine.audio.vad import energy_vad
    T = int(np.ceil(audio.duration_s / FRAME_S))
    rms = frame_rms(audio.samples, sr=audio.sr, fps=1 / FRAME_S, n_frames=T)
    return energy_vad(rms, fps=1 / FRAME_S)


def check_alignment(entries, speech: np.ndarray, config: PhoneticsConfig) -> None:
    """Raise AlignmentMismatch when the alignment looks like a transcript/audio mismatch.

    ``entries``: aligner output (see ``align._Aligner.align``); ``speech``: (T,) bool energy voice
    activity of the aligned audio at 10 ms frames."""
    n_frames = sum(d for _, _, d, _, _ in entries)
    score = sum(sc for _, _, _, sc, _ in entries) / max(1, n_frames)
    if score < config.min_align_score_per_frame:
        raise AlignmentMismatch(f"acoustic score {score:.1f} per frame is implausibly low")
    phones = [(s, d) for name, _, _, _, pl in entries if not name.startswith(("<", "+")) for _, s, d in pl]
    if phones:
        short = sum(1 for _, d in phones if d <= MIN_HMM_FRAMES) / len(phones)
        if short > config.max_min_length_phones and len(phones) >= MIN_PHONES_SQUEEZE_CHECK:
            raise AlignmentMismatch(f"{short:.0%} of phones squeezed to the minimum length")
    T = speech.size
    sil = np.ones(T, bool)
    for name, s, d, _, _ in entries:
        if not name.startswith(("<", "+")):
            sil[s: s + d] = False
    if speech.sum() >= MIN_SPEECH_FRAMES_CHECK:
        frac = float((speech & sil).sum()) / float(speech.sum())
        if frac > config.max_speech_in_silence:
            raise AlignmentMismatch(f"{frac:.0%} of the detected speech falls outside the transcript's words")


# ----------------------------------------------------------------------------------------------
# finalisation


def finalize(phones: list[Phone], duration_s: float, min_phone_s: float) -> list[Phone]:
    """Sort, clip to [0, duration_s], fill gaps with SIL, merge tiny and repeated-SIL segments."""
    dur = float(duration_s)
    out = _fill_gaps(phones, dur)
    if not out:
        return [Phone(0.0, dur, SIL)]
    _merge_tiny(out, min_phone_s)
    return _exactly_contiguous(_join_repeats(out), dur)


def _fill_gaps(phones: list[Phone], dur: float) -> list[Phone]:
    """Non-empty phones sorted by start, overlaps and the part past ``dur`` cut off, gaps as SIL."""
    ph = sorted((p for p in phones if p.end_s > p.start_s), key=lambda p: p.start_s)
    out: list[Phone] = []
    t = 0.0
    for p in ph:
        s, e = max(p.start_s, t), min(p.end_s, dur)
        if s > t + 1e-9:
            out.append(Phone(t, s, SIL))
        if e > s:
            out.append(Phone(s, e, p.label, p.stress, p.word))
            t = e
        if t >= dur:
            break
    if t < dur - 1e-9:
        out.append(Phone(t, dur, SIL))
    return out


def _merge_tiny(out: list[Phone], min_phone_s: float) -> None:
    """In place: merge phones shorter than ``min_phone_s``, shortest first, into the longer neighbour,
    or the left one when it has the same label (the first phone goes into its right neighbour)."""
    while len(out) > 1:
        i = min(range(len(out)), key=lambda k: out[k].duration_s)
        if out[i].duration_s >= min_phone_s - 1e-9:
            break
        left = out[i - 1] if i > 0 else None
        right = out[i + 1] if i + 1 < len(out) else None
        if left is None or (right is not None and (right.duration_s > left.duration_s)
                            and left.label != out[i].label):
            out[i:i + 2] = [Phone(out[i].start_s, right.end_s, right.label, right.stress, right.word)]
        else:
            out[i - 1:i + 1] = [Phone(left.start_s, out[i].end_s, left.label, left.stress, left.word)]


def _join_repeats(out: list[Phone]) -> list[Phone]:
    """Join consecutive phones of one label without words (SILs, repeated recognised phones)."""
    merged: list[Phone] = [out[0]]
    for p in out[1:]:
        q = merged[-1]
        if p.label == q.label and p.word is None and q.word is None:
            merged[-1] = Phone(q.start_s, p.end_s, q.label, q.stress, None)
        else:
            merged.append(p)
    return merged


def _exactly_contiguous(merged: list[Phone], dur: float) -> list[Phone]:
    """Each phone starts where the previous ends; the first at 0, the last ends at ``dur``."""
    fixed = [merged[0]]
    for p in merged[1:]:
        fixed.append(Phone(fixed[-1].end_s, p.end_s, p.label, p.stress, p.word))
    fixed[0] = Phone(0.0, fixed[0].end_s, fixed[0].label, fixed[0].stress, fixed[0].word)
    fixed[-1] = Phone(fixed[-1].start_s, dur, fixed[-1].label, fixed[-1].stress, fixed[-1].word)
    return fixed
