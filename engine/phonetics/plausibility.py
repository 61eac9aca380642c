"""Making recognised phones plausible: duration limits per phone, and TH/DH only where the audio shows
frication.

Recognisers hallucinate: a free phone loop emits long consonants over hums and pauses, and both the phone
loop and the word recogniser put TH/DH (the one class the face shows with the tongue between the teeth)
where nothing fricated. Real captures of speech almost never show the tongue (ARKit ``tongueOut`` stays
below 0.01 in the FACEGOOD capture), and in connected speech /ð/ is mostly realised without audible
frication (dental stopping or approximation; Zhao, "The stop-like modification of the dental fricative
/ð/", JASA 128(4), 2010).

- :func:`frication_frames`: per 10 ms frame, whether the spectrum is dominated by energy above
  ``FRICATION_LOW_HZ`` (the frication band of /θ s f/) and that energy stands above the recording's noise
  floor (its 10th percentile). On the benchmark's dev references (48 utterances), 91% of reference TH
  phones hold such a frame, 29% of DH (mostly unfricated, as above), 13% of vowels, 8% of nasals.
- :func:`guard_dentals`: a recognised TH (DH) with no fricated frame is relabelled T (D): the same
  place of articulation without the tongue showing.
- :func:`limit_durations`: a recognised consonant longer than ``max_consonant_s`` keeps that much (next to
  the vowel it leads into or comes from) and the rest becomes silence.
"""
from __future__ import annotations

import numpy as np

from engine.phonetics.sphinx import FRAME_SAMPLES, SAMPLE_RATE_HZ
from rigs.core.phones import CONSONANTS, SIL, Phone

FRICATION_LOW_HZ = 3000.0       # the frication band starts here
WINDOW_SAMPLES = 400            # 25 ms analysis window at 16 kHz, hop FRAME_SAMPLES (10 ms)
NOISE_FLOOR_PCT = 10.0          # the noise floor of the band level: this percentile over the recording
_BLOCK_FRAMES = 2048            # frames analysed at a time (bounds the FFT working set)
DENTAL_STAND_IN = {"TH": "T", "DH": "D"}


def frication_frames(pcm: np.ndarray, *, min_ratio: float, min_above_floor_db: float) -> np.ndarray:
    """(T,) bool per 10 ms frame of 16 kHz int16 ``pcm`` (T = len // FRAME_SAMPLES): the share of the
    frame's energy above ``FRICATION_LOW_HZ`` is at least ``min_ratio`` and that band's level is at least
    ``min_above_floor_db`` above the recording's noise floor."""
    T = pcm.size // FRAME_SAMPLES
    if T == 0:
        return np.zeros(0, bool)
    x = pcm.astype(np.float32) / 32768.0
    pad = (WINDOW_SAMPLES - FRAME_SAMPLES) // 2
    x = np.pad(x, (pad, WINDOW_SAMPLES))
    win = np.hanning(WINDOW_SAMPLES).astype(np.float32)
    freqs = np.fft.rfftfreq(WINDOW_SAMPLES, 1.0 / SAMPLE_RATE_HZ)
    high, audible = freqs >= FRICATION_LOW_HZ, freqs >= 100.0
    band = np.empty(T, np.float64)
    ratio = np.empty(T, np.float64)
    for a in range(0, T, _BLOCK_FRAMES):
        n = min(_BLOCK_FRAMES, T - a)
        idx = (a + np.arange(n))[:, None] * FRAME_SAMPLES + np.arange(WINDOW_SAMPLES)[None, :]
        spec = np.abs(np.fft.rfft(x[idx] * win, axis=1)) ** 2          # (n, F)
        hi = spec[:, high].sum(axis=1)
        band[a:a + n] = hi
        ratio[a:a + n] = hi / (spec[:, audible].sum(axis=1) + 1e-12)
    level_db = 10.0 * np.log10(band + 1e-12)
    floor_db = float(np.percentile(level_db, NOISE_FLOOR_PCT))
    return (ratio >= min_ratio) & (level_db - floor_db >= min_above_floor_db)


def guard_dentals(phones: list[Phone], fricated: np.ndarray) -> list[Phone]:
    """``phones`` with every TH/DH that holds no fricated 10 ms frame (``fricated`` (T,) bool) relabelled
    to its stand-in (T/D)."""
    out = []
    for p in phones:
        if p.label in DENTAL_STAND_IN:
            a = int(p.start_s * SAMPLE_RATE_HZ) // FRAME_SAMPLES
            b = max(a + 1, int(np.ceil(p.end_s * SAMPLE_RATE_HZ / FRAME_SAMPLES)))
            if not fricated[a:b].any():
                p = Phone(p.start_s, p.end_s, DENTAL_STAND_IN[p.label], p.stress, p.word)
        out.append(p)
    return out


def limit_durations(phones: list[Phone], *, max_consonant_s: float) -> list[Phone]:
    """Sorted, contiguous ``phones`` with consonants longer than ``max_consonant_s`` cut to it; the rest
    becomes SIL on the side away from the neighbouring vowel (the far side of a phone between two
    non-silences is the end)."""
    out: list[Phone] = []
    for i, p in enumerate(phones):
        if p.label not in CONSONANTS or p.duration_s <= max_consonant_s:
            out.append(p)
            continue
        before_sil = i == 0 or phones[i - 1].label == SIL
        after_sil = i + 1 == len(phones) or phones[i + 1].label == SIL
        if before_sil and not after_sil:     # it leads into speech: keep its end
            cut = p.end_s - max_consonant_s
            out += [Phone(p.start_s, cut, SIL), Phone(cut, p.end_s, p.label, p.stress, p.word)]
        else:
            cut = p.start_s + max_consonant_s
            out += [Phone(p.start_s, cut, p.label, p.stress, p.word), Phone(cut, p.end_s, SIL)]
    return out
