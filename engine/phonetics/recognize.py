"""Phone recognition without a transcript: PocketSphinx "allphone" search (the *phone loop*) with the
en-us phonetic trigram language model, in segments of at most ``segment_s`` cut at quiet points; the
plausibility rules every recognised phone sequence goes through; and the stress of recognised vowels.

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
from engine.phonetics.plausibility import frication_frames, guard_dentals, limit_durations
from engine.phonetics.sphinx import (Budget, FRAME_S, SAMPLE_RATE_HZ, decode, decoder, finalize, pcm16k, segments,
                                     time_limit_s)
from rigs.core.errors import PhoneticsError
from rigs.core.phones import VOWELS, Phone, normalize_label

STRESSED_VOWEL_RATIO = 1.2      # a recognised vowel this many times the median vowel is stressed


def recognize(audio: Audio, *, config: PhoneticsConfig = DEFAULT_CONFIG,
              progress: Callable[[float], None] | None = None) -> list[Phone]:
    """Phoneme recognition (PocketSphinx allphone search). Contiguous phones over [0, duration_s], made
    plausible (:func:`plausible`). ``progress(fraction)`` follows the decoding (it may raise to cancel)."""
    pcm = pcm16k(audio)
    budget = Budget.start(time_limit_s(audio, config), pcm.size, progress)
    return plausible(recognize_pcm(pcm, budget, config), pcm, audio.duration_s, config)


def phone_loop_decoder(config: PhoneticsConfig):
    """A decoder whose one search is the phone loop (allphone with the en-us phonetic trigram LM)."""
    import pocketsphinx as ps
    with tempfile.TemporaryDirectory(prefix="parley-ps-") as tmp:
        dic = Path(tmp) / "none.dict"
        dic.write_text("a AH\n", encoding="utf-8")
        return decoder(dict=str(dic), lm=None, allphone=ps.get_model_path("en-us/en-us-phone.lm.bin"),
                       lw=config.allphone_lw, pip=config.allphone_pip)


def recognize_pcm(pcm: np.ndarray, budget: Budget, config: PhoneticsConfig) -> list[Phone]:
    """Raw recognised phones (not finalised) of 16 kHz int16 ``pcm``, times from its start."""
    dec = phone_loop_decoder(config)
    phones: list[Phone] = []
    for a, b in segments(pcm, config.segment_s):
        t0 = a / SAMPLE_RATE_HZ
        phones.extend(Phone(p.start_s + t0, p.end_s + t0, p.label) for p in decode_phone_loop(dec, pcm[a:b], budget))
    return phones


def decode_phone_loop(dec, pcm: np.ndarray, budget: Budget, *, count: bool = True) -> list[Phone]:
    """Phones of one utterance decoded with ``dec``'s active (phone-loop) search, times from its start
    (``count``: see :func:`.sphinx.decode`)."""
    try:
        decode(dec, pcm, budget, count=count)
        segs = [(s.word, s.start_frame, s.end_frame) for s in dec.seg()]
    except RuntimeError as e:
        raise PhoneticsError(f"phone recogniser failed: {e}") from None
    return [Phone(s * FRAME_S, (e + 1) * FRAME_S, normalize_label(w)) for w, s, e in segs]


def plausible(raw: list[Phone], pcm: np.ndarray, duration_s: float, config: PhoneticsConfig) -> list[Phone]:
    """Finalised recognised phones with the plausibility rules of :mod:`.plausibility` applied (consonant
    durations limited, TH/DH only with frication) and vowel stress from duration."""
    phones = finalize(raw, duration_s, config.min_phone_s)
    phones = limit_durations(phones, max_consonant_s=config.max_consonant_s)
    fricated = frication_frames(pcm, min_ratio=config.frication_min_ratio, min_above_floor_db=config.frication_min_db)
    phones = guard_dentals(phones, fricated)
    return recognition_stress(finalize(phones, duration_s, config.min_phone_s))


def recognition_stress(phones: list[Phone]) -> list[Phone]:
    """Vowels longer than STRESSED_VOWEL_RATIO x the median vowel get stress 1, others 0 (a duration
    proxy for lexical stress)."""
    vd = [p.duration_s for p in phones if p.label in VOWELS]
    if not vd:
        return phones
    med = float(np.median(vd))
    return [Phone(p.start_s, p.end_s, p.label, (1 if p.duration_s > STRESSED_VOWEL_RATIO * med else 0), None)
            if p.label in VOWELS else p for p in phones]
