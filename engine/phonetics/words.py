"""Phones without a transcript, through words: recognise words with PocketSphinx's en-us language model and
CMUdict, force-align the hypothesis to phones, and fall back to the phone loop where the words are unsure.

Recognising words first (the route of Rhubarb Lip Sync, D. Wolf 2016-2024) puts the lexicon's knowledge
into the phones: a bilabial inside a recognised word is where the word has one, which a free phone loop
misses about half the time on real speech (bench/bench_lipsync.py). Per segment (at most ``segment_s``,
cut at quiet points):

1. n-gram decoding (forward tree search, then the lattice's best path, which gives each word a posterior
   probability);
2. the hypothesis is aligned to phones by PocketSphinx's phone-level second pass (``set_alignment``); a
   hypothesis that cannot be aligned is replaced by the phone loop;
3. words whose posterior is below ``min_word_posterior``, and ``[SPEECH]`` fillers, are *unsure*: their
   stretch is decoded again by the phone loop (:mod:`.recognize`, with ``fallback_context_s`` of audio either
   side for context) and those phones replace the word's. When the segment's words are unlikely on the
   whole (posterior averaged over their duration below ``min_segment_posterior``: non-English speech,
   mumbling, singing), the whole segment is the phone loop's.

The thresholds were chosen on the benchmark's dev clips only. On English, replacing words costs more than
it gains: bilabials found where the reference has one fall from 0.82 to 0.75 when every word below
posterior 0.3 is replaced. On Mandarin (FACEGOOD clips 01-03) the phone loop is a little closer to the
capture than English words (LVE 3.52 against 3.64 mm). Posteriors separate the two only roughly (segment
means 0.28-0.82 for English read speech, 0.28-0.48 for Mandarin), so the thresholds are low (0.02 per word,
0.25 per segment): the fallback takes what is plainly not English words, and some Mandarin keeps English
words.

Recognised words keep their (upper-case) spelling in ``Phone.word``; phone-loop phones have none.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable

import numpy as np

from engine.audio.load import Audio
from engine.phonetics.config import DEFAULT_CONFIG, PhoneticsConfig
from engine.phonetics.recognize import decode_phone_loop, plausible
from engine.phonetics.sphinx import FRAME_S, SAMPLE_RATE_HZ, Budget, decode, decoder, pcm16k, segments, time_limit_s
from rigs.core.errors import PhoneticsError
from rigs.core.phones import SIL, Phone, normalize_label

log = logging.getLogger(__name__)

PHONE_LOOP = "phones"                  # name of the phone-loop search added to the word decoder
SILENT_WORDS = ("<s>", "</s>", "<sil>", "[NOISE]")
UNSURE_FILLERS = ("[SPEECH]",)         # speech the language model could not match


PASSES = 2                             # decoding passes over the audio: words, then their phones


def recognize_words(audio: Audio, *, config: PhoneticsConfig = DEFAULT_CONFIG,
                    progress: Callable[[float], None] | None = None) -> list[Phone]:
    """Phones through recognised words (see the module docstring): contiguous over [0, duration_s], made
    plausible (:func:`.recognize.plausible`). ``progress(fraction)`` follows the decoding (it may raise)."""
    pcm = pcm16k(audio)
    budget = Budget.start(time_limit_s(audio, config), PASSES * pcm.size, progress)
    return plausible(recognize_words_pcm(pcm, budget, config), pcm, audio.duration_s, config)


def word_decoder(config: PhoneticsConfig):
    """One decoder for the whole run: the n-gram search over CMUdict (the default search) and the phone
    loop (search ``PHONE_LOOP``)."""
    import pocketsphinx as ps

    dec = decoder(fwdflat=False, bestpath=True)
    try:
        dec.add_allphone_file(PHONE_LOOP, ps.get_model_path("en-us/en-us-phone.lm.bin"))
    except (RuntimeError, ValueError) as e:
        raise PhoneticsError(f"cannot start the phone loop: {e}") from None
    dec.activate_search()
    return dec


def recognize_words_pcm(pcm: np.ndarray, budget: Budget, config: PhoneticsConfig, dec=None) -> list[Phone]:
    """Raw phones (not finalised) of 16 kHz int16 ``pcm`` through words, times from its start."""
    dec = dec if dec is not None else word_decoder(config)
    phones: list[Phone] = []
    for a, b in segments(pcm, config.segment_s):
        t0 = a / SAMPLE_RATE_HZ
        phones.extend(Phone(p.start_s + t0, p.end_s + t0, p.label, p.stress, p.word)
                      for p in _segment_phones(dec, pcm[a:b], budget, config))
        budget.advance(PASSES * (b - a))      # one report per segment, whatever its passes
    return phones


def _segment_phones(dec, pcm: np.ndarray, budget: Budget, config: PhoneticsConfig) -> list[Phone]:
    dec.activate_search()
    try:
        decode(dec, pcm, budget, count=False)
        segs = dec.seg()
        words = [(s.word, s.start_frame, s.end_frame + 1, float(s.prob)) for s in segs or ()]
    except RuntimeError as e:
        raise PhoneticsError(f"word recogniser failed: {e}") from None
    if segs is None:                 # the search ended without any hypothesis (pruned away)
        log.info("segment of %.1f s: no word hypothesis, using the phone loop", pcm.size / SAMPLE_RATE_HZ)
        return _phone_loop(dec, pcm, budget, config)
    spoken = [w for w in words if _base(w[0]) not in SILENT_WORDS]
    if not spoken:
        return []
    unsure = [(s, e) for w, s, e, prob in spoken if _base(w) in UNSURE_FILLERS or prob < config.min_word_posterior]
    frames = np.array([e - s for _, s, e, _ in spoken], np.float64)
    mean_posterior = float(np.dot(frames, [0.0 if _base(w) in UNSURE_FILLERS else p for w, _, _, p in spoken])
                           / max(1.0, frames.sum()))
    if mean_posterior < config.min_segment_posterior:
        log.info("segment of %.1f s: words unsure (mean posterior %.2f), using the phone loop",
                 pcm.size / SAMPLE_RATE_HZ, mean_posterior)
        return _phone_loop(dec, pcm, budget, config)
    try:
        phones = _aligned_phones(dec, pcm, budget)
    except RuntimeError as e:  # PocketSphinx could not align its own hypothesis (cmusphinx/pocketsphinx#339)
        log.info("hypothesis did not align (%s); using the phone loop", e)
        return _phone_loop(dec, pcm, budget, config)
    for s, e in _merge_spans(unsure):
        phones = replace_span(phones, s * FRAME_S, e * FRAME_S, _loop_span(dec, pcm, s, e, budget, config))
    return phones


def _base(word: str) -> str:
    return re.sub(r"\(\d+\)$", "", word)


def _aligned_phones(dec, pcm: np.ndarray, budget: Budget) -> list[Phone]:
    """The phone-level second pass over the hypothesis just decoded."""
    dec.set_alignment()
    decode(dec, pcm, budget, count=False)
    alignment = dec.get_alignment()
    if alignment is None:
        raise RuntimeError("no alignment of the hypothesis")
    phones = []
    for w in alignment:
        base = _base(w.name)
        silent = base in SILENT_WORDS or base.startswith(("+", "<", "["))
        for p in w:
            phones.append(Phone(p.start * FRAME_S, (p.start + p.duration) * FRAME_S,
                                SIL if silent else normalize_label(p.name), None, None if silent else base.upper()))
    return phones


def _phone_loop(dec, pcm: np.ndarray, budget: Budget, config: PhoneticsConfig) -> list[Phone]:
    dec.activate_search(PHONE_LOOP)
    try:
        return decode_phone_loop(dec, pcm, budget, count=False)
    finally:
        dec.activate_search()


def _loop_span(dec, pcm: np.ndarray, s: int, e: int, budget: Budget, config: PhoneticsConfig) -> list[Phone]:
    """Phone-loop phones of frames [s, e) decoded with context either side, times from the segment start."""
    ctx = int(round(config.fallback_context_s / FRAME_S))
    a, b = max(0, s - ctx), min(pcm.size // int(FRAME_S * SAMPLE_RATE_HZ), e + ctx)
    n = int(FRAME_S * SAMPLE_RATE_HZ)
    t0 = a * FRAME_S
    return [Phone(p.start_s + t0, p.end_s + t0, p.label) for p in _phone_loop(dec, pcm[a * n:b * n], budget, config)]


def _merge_spans(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def replace_span(phones: list[Phone], start_s: float, end_s: float, loop: list[Phone]) -> list[Phone]:
    """``phones`` with [start_s, end_s) taken from ``loop`` (clipped to it); phones straddling an edge are cut."""
    out = []
    for p in phones:
        if p.end_s <= start_s or p.start_s >= end_s:
            out.append(p)
            continue
        if p.start_s < start_s:
            out.append(Phone(p.start_s, start_s, p.label, p.stress, p.word))
        if p.end_s > end_s:
            out.append(Phone(end_s, p.end_s, p.label, p.stress, p.word))
    for q in loop:
        s, e = max(q.start_s, start_s), min(q.end_s, end_s)
        if e > s:
            out.append(Phone(s, e, q.label))
    return sorted(out, key=lambda p: p.start_s)
