"""Forced alignment of a transcript to a recording with PocketSphinx: a word-level pass followed by
the phone-level second pass (``Decoder.set_alignment``), in one pass or, for long recordings, chunk
by chunk.

- Words are looked up in CMUdict, else given espeak-ng pronunciations (:mod:`.lexicon`); the aligned
  result is checked for signs of a transcript/audio mismatch (:func:`.sphinx.check_alignment`), which
  raise :class:`AlignmentMismatch`.
- Long recordings (> ``chunk_align_s``) are aligned in chunks cut in pauses, since PocketSphinx's
  state alignment needs memory of order frames x HMM states (~7 GB for 10 minutes in one pass). Words
  go to chunks in order, each chunk's count estimated from its share of speech and refined by the
  chunk's alignment score (see :func:`_align_chunked`); a chunk that does not align is recognised
  instead (:mod:`.recognize`).

Reference: cmusphinx/pocketsphinx#339 (the fake one-frame ``</s>`` that breaks the second pass).
"""
from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType

import numpy as np

from engine.audio.load import Audio
from engine.phonetics.config import DEFAULT_CONFIG, AlignmentMismatch, PhoneticsConfig
from engine.phonetics.lexicon import Pronunciation, normalize_transcript, pronunciations, word_stress
from engine.phonetics.recognize import recognition_stress, recognize_pcm
from engine.phonetics.sphinx import (Budget, FRAME_S, FRAME_SAMPLES, check_alignment, chunk_bounds, decode, decoder,
                                     finalize, pcm16k, speech_frames, time_limit_s)
from rigs.core.phones import SIL, Phone, normalize_label

log = logging.getLogger(__name__)

WIDE_BEAMS = MappingProxyType({"beam": 1e-80, "wbeam": 1e-60, "pbeam": 1e-80})  # the retry's beams


def align(audio: Audio, transcript: str, *, config: PhoneticsConfig = DEFAULT_CONFIG,
          progress: Callable[[float], None] | None = None) -> list[Phone]:
    """Forced alignment of ``transcript`` to ``audio``. Raises AlignmentMismatch / PhoneticsError.
    ``progress(fraction)`` follows the decoding (it may raise to cancel).

    Recordings up to ``chunk_align_s`` are aligned in one pass; longer ones in chunks cut at pauses
    (:func:`_align_chunked`), so memory stays bounded by the chunk length."""
    words = normalize_transcript(transcript)
    if not words:
        raise AlignmentMismatch("transcript has no words")
    if audio.duration_s > config.max_align_s:
        raise AlignmentMismatch(f"recording longer than {config.max_align_s:g} s is not force-aligned")
    pcm = pcm16k(audio)
    budget = Budget.start(time_limit_s(audio, config), pcm.size, progress)
    prons = pronunciations(words)
    speech = speech_frames(audio)
    with tempfile.TemporaryDirectory(prefix="parley-ps-") as tmp:
        dic = Path(tmp) / "words.dict"
        dic.write_text(_dictionary_text(words, prons), encoding="utf-8")
        aligner = _Aligner(str(dic), budget)
        if audio.duration_s <= config.chunk_align_s:
            entries = aligner.align(pcm, words)
            check_alignment(entries, speech, config)
            phones = entry_phones(entries, prons, 0)
        else:
            phones = _align_chunked(pcm, words, prons, speech, aligner, budget, config)
    return finalize(phones, audio.duration_s, config.min_phone_s)


def _dictionary_text(words: list[str], prons: dict[str, list[Pronunciation]]) -> str:
    """A PocketSphinx dictionary of ``words`` (variants as "word(2)", ...)."""
    lines = []
    for w in sorted(set(words)):
        for k, (phs, _) in enumerate(prons[w]):
            lines.append(f"{w if k == 0 else f'{w}({k + 1})'} {' '.join(phs)}")
    return "\n".join(lines) + "\n"


class _Aligner:
    """PocketSphinx word + phone alignment of one utterance; decoders are built once per beam setting."""

    def __init__(self, dic: str, budget: Budget):
        self.dic, self.budget = dic, budget
        self.decoders: dict[int, object] = {}

    def align(self, pcm: np.ndarray, words: list[str]) -> list:
        """[(name, start_frame, n_frames, score, [(phone, start_frame, n_frames)])] of one utterance."""
        entries = []
        # bestpath=False: the lattice best path can end in a fake one-frame </s> that squeezes the last
        # word's phones below the 3-frame HMM minimum, and the second (phone-level) pass, which keeps
        # every phone inside its word's first-pass window, then fails with "Failed to stop utterance
        # processing" (cmusphinx/pocketsphinx#339). Retry once with wide beams before giving up.
        for i, beams in enumerate(({}, WIDE_BEAMS)):
            if i not in self.decoders:
                self.decoders[i] = decoder(dict=self.dic, lm=None, bestpath=False, **beams)
            dec = self.decoders[i]
            try:
                dec.set_align_text(" ".join(words))
                decode(dec, pcm, self.budget)
                if dec.hyp() is None:
                    raise AlignmentMismatch("aligner found no path through the transcript")
                dec.set_alignment()
                decode(dec, pcm, self.budget)
                al = dec.get_alignment()
                entries = [(w.name, w.start, w.duration, w.score,
                            [(p.name, p.start, p.duration) for p in w]) for w in al] if al is not None else []
                break
            except (RuntimeError, AlignmentMismatch) as e:
                if beams:
                    raise AlignmentMismatch(f"aligner failed: {e}") from None
                log.info("alignment failed with default beams (%s); retrying with wide beams", e)
        if not entries:
            raise AlignmentMismatch("aligner returned no alignment")
        return entries


def entry_phones(entries, prons: dict[str, list[Pronunciation]], offset_frames: int) -> list[Phone]:
    """Phones of aligner entries, times shifted by ``offset_frames`` (10 ms frames)."""
    phones: list[Phone] = []
    o = offset_frames
    for name, _, _, _, plist in entries:
        base = re.sub(r"\(\d+\)$", "", name)
        if base in ("<sil>", "<s>", "</s>") or base.startswith("+"):
            phones.extend(Phone((o + s) * FRAME_S, (o + s + d) * FRAME_S, SIL) for _, s, d in plist)
            continue
        labels = [normalize_label(p) for p, _, _ in plist]
        stresses = word_stress(labels, [d for _, _, d in plist], prons.get(base, []))
        phones.extend(Phone((o + s) * FRAME_S, (o + s + d) * FRAME_S, lab, st, base.upper())
                      for (_, s, d), lab, st in zip(plist, labels, stresses))
    return phones


# ----------------------------------------------------------------------------------------------
# long recordings


def _align_chunked(pcm, words, prons, speech, aligner: _Aligner, budget: Budget,
                   config: PhoneticsConfig) -> list[Phone]:
    """Align a long recording chunk by chunk (chunks cut at pauses, see :func:`.sphinx.chunk_bounds`).

    Words are given to chunks in order: a chunk's word count starts from its share of the remaining
    speech (measured in expected phones: pronunciation lengths), then is refined by hill climbing on
    the total acoustic score of the chunk's alignment (all candidates cover the same frames, so the
    scores compare directly), moving at most ``chunk_word_search`` words; candidates must pass the
    mismatch checks; if the estimate does not align at all, the nearest count that does (within
    ``chunk_word_spread`` of it) is the start. The last chunk takes all remaining words. A chunk that
    cannot be aligned is recognised instead (warning), and its estimated words are skipped."""
    bounds = chunk_bounds(pcm, chunk_s=config.chunk_align_s, min_pause_s=config.chunk_min_pause_s)
    n_ph = np.array([len(prons[w][0][0]) for w in words], np.float64)
    cum = np.concatenate([[0.0], np.cumsum(n_ph)])
    sp_cum = np.concatenate([[0], np.cumsum(speech.astype(np.int64))])
    T = speech.size
    phones: list[Phone] = []
    p = 0
    W = len(words)
    log.info("aligning %d words in %d chunks", W, len(bounds))
    for ci, (a, b) in enumerate(bounds):
        chunk = pcm[a * FRAME_SAMPLES: b * FRAME_SAMPLES]
        fits = _ChunkFits(aligner, chunk, speech[min(a, T): min(b, T)], words, p, config, ci)
        if ci == len(bounds) - 1:             # the last chunk takes all remaining words
            k, fit = fits.best(W - p)
        else:
            rem_speech = max(1, sp_cum[min(T, bounds[-1][1])] - sp_cum[min(a, T)])
            share = (sp_cum[min(b, T)] - sp_cum[min(a, T)]) / rem_speech
            k, fit = fits.best(_search_word_count(fits, _estimate_word_count(cum, p, share), config))
        if fit is None:
            log.warning("chunk %.1f-%.1f s does not match its transcript words; using phone recognition "
                        "there", a * FRAME_S, b * FRAME_S)
            raw = recognize_pcm(chunk, budget, config)
            phones.extend(recognition_stress([Phone(q.start_s + a * FRAME_S, q.end_s + a * FRAME_S, q.label)
                                              for q in raw]))
        else:
            phones.extend(entry_phones(fit[1], prons, a))
        p += k
    return phones


def _estimate_word_count(cum: np.ndarray, p: int, share) -> int:
    """Words from ``p`` on whose expected phones (``cum``: (W+1,) cumulative phone counts) come
    nearest to ``share`` of the remaining ones, within [0, W - p]."""
    W = cum.size - 1
    target = cum[p] + share * (cum[W] - cum[p])
    k0 = int(np.searchsorted(cum, target)) - p
    if k0 > 0 and abs(cum[p + k0 - 1] - target) < abs(cum[min(W, p + k0)] - target):
        k0 -= 1
    return min(max(k0, 0), W - p)


class _ChunkFits:
    """Memoised alignments of one chunk to the next ``k`` transcript words (from ``first``):
    k -> (total acoustic score, aligner entries), or None where k is out of range or the alignment
    fails or fails the mismatch checks."""

    def __init__(self, aligner: _Aligner, pcm: np.ndarray, speech: np.ndarray, words: list[str], first: int,
                 config: PhoneticsConfig, index: int):
        self.aligner, self.pcm, self.speech, self.config = aligner, pcm, speech, config
        self.words, self.first, self.index = words, first, index
        self.results: dict[int, tuple[float, list] | None] = {}

    def __call__(self, k: int) -> tuple[float, list] | None:
        if k in self.results:
            return self.results[k]
        r = None
        if 0 < k <= len(self.words) - self.first:
            try:
                ent = self.aligner.align(self.pcm, self.words[self.first:self.first + k])
                check_alignment(ent, self.speech, self.config)
                r = (float(sum(e[3] for e in ent)), ent)
            except AlignmentMismatch as e:
                log.debug("chunk %d with %d words: %s", self.index, k, e)
        self.results[k] = r
        return r

    def best(self, k: int) -> tuple[int, tuple[float, list] | None]:
        """(k, its fit) if ``k`` words fit; else the best-scoring count tried so far; else (k, None)."""
        r = self(k)
        if r is None:
            ok = [j for j, v in self.results.items() if v is not None]
            if ok:
                k = max(ok, key=lambda j: self.results[j][0])
                r = self.results[k]
        return k, r


def _search_word_count(fits: _ChunkFits, estimate: int, config: PhoneticsConfig) -> int:
    """The nearest count to ``estimate`` that aligns at all (too many words usually finds no path;
    searched within max(``chunk_word_search``, ``chunk_word_spread`` x estimate) words of it), then
    hill climbing on the score from there, at most ``chunk_word_search`` words either way."""
    far = max(config.chunk_word_search, int(round(config.chunk_word_spread * estimate)))
    order = [estimate] + [estimate + s * d for d in range(1, far + 1) for s in (-1, 1)]
    start = next((k for k in order if fits(k) is not None), estimate)
    for step in (-1, 1):
        k = start
        while abs(k + step - start) <= config.chunk_word_search:
            cur, nxt = fits(k), fits(k + step)
            if nxt is not None and (cur is None or nxt[0] > cur[0]):
                k += step
            else:
                break
        if k != start:
            return k
    return start
