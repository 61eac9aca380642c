"""Phone recognition without a transcript: PocketSphinx "allphone" search with the en-us phonetic
trigram language model, in segments of at most ``segment_s`` cut at quiet points, and the stress of
recognised vowels.

This also gives plausible phone-like segments for non-English speech (the phone set is English's).
Reference: PocketSphinx 5 allphone mode (``allphone=en-us/en-us-phone.lm.bin``).
"""
from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.audio.load import Audio
from engine.phonetics.config import DEFAULT_CONFIG, PhoneticsConfig
from engine.phonetics.sphinx import (Budget, FRAME_S, SAMPLE_RATE_HZ, decode, decoder, finalize, pcm16k, segments,
                                     time_limit_s)
from rigs.core.errors import PhoneticsError
from rigs.core.phones import VOWELS, Phone, normalize_label

STRESSED_VOWEL_RATIO = 1.2      # a recognised vowel this many times the median vowel is stressed


def recognize(audio: Audio, *, config: PhoneticsConfig = DEFAULT_CONFIG,
              progress: Callable[[float], None] | None = None) -> list[Phone]:
    """Phoneme recognition (PocketSphinx allphone search). Contiguous phones over [0, duration_s].
    ``progress(fraction)`` follows the decoding (it may raise to cancel)."""
    pcm = pcm16k(audio)
    budget = Budget.start(time_limit_s(audio, config), pcm.size, progress)
    phones = finalize(recognize_pcm(pcm, budget, config), audio.duration_s, config.min_phone_s)
    return recognition_stress(phones)


def recognize_pcm(pcm: np.ndarray, budget: Budget, config: PhoneticsConfig) -> list[Phone]:
    """Raw recognised phones (not finalised) of 16 kHz int16 ``pcm``, times from its start."""
    import pocketsphinx as ps
    with tempfile.TemporaryDirectory(prefix="parley-ps-") as tmp:
        dic = Path(tmp) / "none.dict"
        dic.write_text("a AH\n", encoding="utf-8")
        dec = decoder(dict=str(dic), lm=None, allphone=ps.get_model_path("en-us/en-us-phone.lm.bin"),
                      lw=config.allphone_lw, pip=config.allphone_pip)
        phones: list[Phone] = []
        for a, b in segments(pcm, config.segment_s):
            try:
                decode(dec, pcm[a:b], budget)
                segs = [(s.word, s.start_frame, s.end_frame) for s in dec.seg()]
            except RuntimeError as e:
                raise PhoneticsError(f"phone recogniser failed: {e}") from None
            t0 = a / SAMPLE_RATE_HZ
            for w, s, e in segs:
                phones.append(Phone(t0 + s * FRAME_S, t0 + (e + 1) * FRAME_S, normalize_label(w)))
    return phones


def recognition_stress(phones: list[Phone]) -> list[Phone]:
    """Vowels longer than STRESSED_VOWEL_RATIO x the median vowel get stress 1, others 0 (a duration
    proxy for lexical stress)."""
    vd = [p.duration_s for p in phones if p.label in VOWELS]
    if not vd:
        return phones
    med = float(np.median(vd))
    return [Phone(p.start_s, p.end_s, p.label, (1 if p.duration_s > STRESSED_VOWEL_RATIO * med else 0), None)
            if p.label in VOWELS else p for p in phones]
