"""Phone timing of a recording: forced alignment to a transcript, or phoneme recognition without one.

Both use CMU PocketSphinx 5 (D. Huggins-Daines et al., "PocketSphinx: a free, real-time continuous
speech recognition system for hand-held devices", ICASSP 2006) with the en-us acoustic model, the
CMU Pronouncing Dictionary and the en-us phonetic language model that the PyPI package ships.

- With a transcript: words are normalised (lower case, digits spelled out), looked up in CMUdict;
  words it lacks get a pronunciation from espeak-ng's letter-to-sound rules (IPA mapped to ARPAbet,
  ``rigs.core.phones``). A word-level alignment pass is followed by PocketSphinx's phone-level second
  pass (``Decoder.set_alignment``). If alignment fails, or its result is implausible (acoustic score per
  frame far below normal, most detected speech left in silence, phones squeezed to the minimum
  HMM length), a warning is logged and recognition is used instead.
- Without: "allphone" phoneme recognition with the phonetic trigram LM, in segments of at most
  ``segment_s`` cut at quiet points; tiny phones (< ``min_phone_s``) are merged into neighbours. This
  also gives plausible phone-like segments for non-English speech (the phone set is English's).

- Long recordings (> ``chunk_align_s``) are aligned in chunks cut in pauses, since PocketSphinx's
  state alignment needs memory of order frames x HMM states (~7 GB for 10 minutes in one pass). Words
  go to chunks in order, each chunk's count estimated from its share of speech and refined by the
  chunk's alignment score (see ``_align_chunked``); a chunk that does not align is recognised instead.
Work is bounded: one decoding pass is at most ``segment_s`` (recognition) or ``chunk_align_s``
(alignment) of audio (PocketSphinx is linear in frames), and a wall-clock deadline is checked between
passes; exceeding it raises PhoneticsError (no hangs).
Stress: vowels of dictionary words get 1 for the longest vowel of the word, 0 for the others (a
duration proxy: lexical stress lengthens vowels; CMUdict-en-us carries no stress digits); espeak
pronunciations keep espeak's stress marks; consonants and SIL have ``None``.
"""
from __future__ import annotations

import functools
import logging
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rigs.core.phones import SIL, VOWELS, Phone, ipa_to_arpabet_stress, normalize_label
from engine.audio.load import Audio
from rigs.core.errors import PhoneticsError

log = logging.getLogger(__name__)

FRAME_S = 0.01  # PocketSphinx frame period (100 frames per second)


@dataclass(frozen=True)
class PhoneticsConfig:
    """Parameters of :func:`phone_timing`."""

    min_phone_s: float = 0.03
    segment_s: float = 30.0                  # recognition segment length (cut at quiet points)
    time_limit_s: float | None = None        # default: 20 s + 3 x the audio duration
    max_align_s: float = 4 * 3600.0          # longer recordings are recognised, not aligned
    chunk_align_s: float = 45.0              # longer recordings are aligned in chunks of at most this
    chunk_min_pause_s: float = 0.3           # chunks are cut in pauses at least this long
    chunk_word_search: int = 3               # words a chunk boundary moves by hill climbing
    chunk_word_spread: float = 0.2           # fraction of a chunk's words searched when its estimate fails
    min_align_score_per_frame: float = -60.0 # below: transcript judged not to match
    max_speech_in_silence: float = 0.5       # fraction of detected speech the alignment calls silence
    max_min_length_phones: float = 0.6       # fraction of phones at the 3-frame HMM minimum
    allphone_lw: float = 2.0
    allphone_pip: float = 0.5


class AlignmentMismatch(PhoneticsError):
    """The transcript does not fit the audio (alignment failed or is implausible)."""


# ----------------------------------------------------------------------------------------------
# public API


def phone_timing(audio: Audio, *, transcript: str | None = None,
                 config: PhoneticsConfig = PhoneticsConfig()) -> list[Phone]:
    """Phones covering [0, audio.duration_s] contiguously, sorted, SIL in pauses.

    With ``transcript``: forced alignment; falls back to recognition with a logged warning when the
    transcript does not match the audio. Raises PhoneticsError when the recogniser fails or times out.
    """
    if transcript is not None and normalize_transcript(transcript):
        try:
            return align(audio, transcript, config=config)
        except AlignmentMismatch as e:
            log.warning("transcript does not match the audio (%s); using phone recognition instead", e)
    elif transcript is not None:
        log.warning("transcript has no words; using phone recognition instead")
    return recognize(audio, config=config)


def align(audio: Audio, transcript: str, *, config: PhoneticsConfig = PhoneticsConfig()) -> list[Phone]:
    """Forced alignment of ``transcript`` to ``audio``. Raises AlignmentMismatch / PhoneticsError.

    Recordings up to ``chunk_align_s`` are aligned in one pass; longer ones in chunks cut at pauses
    (:func:`_align_chunked`), so memory stays bounded by the chunk length."""
    words = normalize_transcript(transcript)
    if not words:
        raise AlignmentMismatch("transcript has no words")
    if audio.duration_s > config.max_align_s:
        raise AlignmentMismatch(f"recording longer than {config.max_align_s:g} s is not force-aligned")
    pcm = _pcm16k(audio)
    deadline = time.monotonic() + _limit(audio, config)
    prons = pronunciations(words)
    speech = _speech_frames(audio)
    with tempfile.TemporaryDirectory(prefix="parley-ps-") as tmp:
        dic = Path(tmp) / "words.dict"
        lines = []
        for w in sorted(set(words)):
            for k, (phs, _) in enumerate(prons[w]):
                lines.append(f"{w if k == 0 else f'{w}({k + 1})'} {' '.join(phs)}")
        dic.write_text("\n".join(lines) + "\n", encoding="utf-8")
        aligner = _Aligner(str(dic), deadline, config)
        if audio.duration_s <= config.chunk_align_s:
            entries = aligner.align(pcm, words)
            _check_alignment(entries, speech, config)
            phones = _entry_phones(entries, prons, 0)
        else:
            phones = _align_chunked(pcm, words, prons, speech, aligner, deadline, config)
    return _finalize(phones, audio.duration_s, config.min_phone_s)


class _Aligner:
    """PocketSphinx word + phone alignment of one utterance; decoders are built once per beam setting."""

    def __init__(self, dic: str, deadline: float, config: PhoneticsConfig):
        self.dic, self.deadline, self.config = dic, deadline, config
        self.decoders: dict[int, object] = {}

    def align(self, pcm: np.ndarray, words: list[str]) -> list:
        """[(name, start_frame, n_frames, score, [(phone, start_frame, n_frames)])] of one utterance."""
        entries = []
        # bestpath=False: the lattice best path can end in a fake one-frame </s> that squeezes the last
        # word's phones below the 3-frame HMM minimum, and the second (phone-level) pass, which keeps
        # every phone inside its word's first-pass window, then fails with "Failed to stop utterance
        # processing" (cmusphinx/pocketsphinx#339). Retry once with wide beams before giving up.
        for i, beams in enumerate(({}, {"beam": 1e-80, "wbeam": 1e-60, "pbeam": 1e-80})):
            if i not in self.decoders:
                self.decoders[i] = _decoder(dict=self.dic, lm=None, bestpath=False, **beams)
            dec = self.decoders[i]
            try:
                dec.set_align_text(" ".join(words))
                _decode(dec, pcm, self.deadline, self.config)
                if dec.hyp() is None:
                    raise AlignmentMismatch("aligner found no path through the transcript")
                dec.set_alignment()
                _decode(dec, pcm, self.deadline, self.config)
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


def _entry_phones(entries, prons, offset_frames: int) -> list[Phone]:
    """Phones of aligner entries, times shifted by ``offset_frames`` (10 ms frames)."""
    phones: list[Phone] = []
    o = offset_frames
    for name, _, _, _, plist in entries:
        base = re.sub(r"\(\d+\)$", "", name)
        if base in ("<sil>", "<s>", "</s>") or base.startswith("+"):
            phones.extend(Phone((o + s) * FRAME_S, (o + s + d) * FRAME_S, SIL) for _, s, d in plist)
            continue
        labels = [normalize_label(p) for p, _, _ in plist]
        stresses = _word_stress(labels, [d for _, _, d in plist], prons.get(base, []))
        phones.extend(Phone((o + s) * FRAME_S, (o + s + d) * FRAME_S, lab, st, base.upper())
                      for (_, s, d), lab, st in zip(plist, labels, stresses))
    return phones


def _speech_frames(audio: Audio) -> np.ndarray:
    """(T,) bool energy voice activity at the 10 ms aligner frame rate."""
    from engine.audio.prosody import frame_rms
    from engine.audio.vad import energy_vad
    T = int(np.ceil(audio.duration_s / FRAME_S))
    rms = frame_rms(audio.samples, sr=audio.sr, fps=1 / FRAME_S, n_frames=T)
    return energy_vad(rms, fps=1 / FRAME_S)


def _chunk_bounds(pcm: np.ndarray, *, chunk_s: float, min_pause_s: float) -> list[tuple[int, int]]:
    """[(start, end)) 10 ms frame ranges of at most ``chunk_s``, cut in the middle of pauses.

    A pause is a run of at least ``min_pause_s`` of frames below an adaptive energy threshold (energy
    VAD with a short hangover); the last pause in the second half of the window is used, else the
    quietest frame there."""
    from engine.audio.vad import energy_vad
    T = pcm.size // 160
    if T == 0:
        return [(0, 0)]
    x = pcm[: T * 160].reshape(T, 160)
    rms = np.empty(T, np.float32)
    for a in range(0, T, 4096):        # block by block: no float copy of the whole signal
        b = x[a:a + 4096].astype(np.float32) / 32768.0
        rms[a:a + b.shape[0]] = np.sqrt(np.mean(b * b, axis=1))
    speech = energy_vad(rms, fps=1 / FRAME_S, hangover_s=0.05)
    d = np.diff(np.concatenate([[1], speech.astype(np.int8), [1]]))
    starts, ends = np.flatnonzero(d == -1), np.flatnonzero(d == 1)
    k = int(round(min_pause_s / FRAME_S))
    mids = np.array([(s + e) // 2 for s, e in zip(starts, ends) if e - s >= k and s > 0 and e < T], np.int64)
    n = max(1, int(chunk_s / FRAME_S))
    out, a = [], 0
    while T - a > n:
        lo, hi = a + n // 2, a + n
        c = mids[(mids > lo) & (mids <= hi)]
        cut = int(c[-1]) if c.size else lo + int(np.argmin(rms[lo:hi]))
        out.append((a, cut))
        a = cut
    out.append((a, T))
    return out


def _align_chunked(pcm, words, prons, speech, aligner: _Aligner, deadline: float,
                   config: PhoneticsConfig) -> list[Phone]:
    """Align a long recording chunk by chunk (chunks cut at pauses, see :func:`_chunk_bounds`).

    Words are given to chunks in order: a chunk's word count starts from its share of the remaining
    speech (measured in expected phones: pronunciation lengths), then is refined by hill climbing on
    the total acoustic score of the chunk's alignment (all candidates cover the same frames, so the
    scores compare directly), moving at most ``chunk_word_search`` words; candidates must pass the
    mismatch checks; if the estimate does not align at all, the nearest count that does (within
    ``chunk_word_spread`` of it) is the start. The last chunk takes all remaining words. A chunk that cannot be aligned is
    recognised instead (warning), and its estimated words are skipped."""
    bounds = _chunk_bounds(pcm, chunk_s=config.chunk_align_s, min_pause_s=config.chunk_min_pause_s)
    n_ph = np.array([len(prons[w][0][0]) for w in words], np.float64)
    cum = np.concatenate([[0.0], np.cumsum(n_ph)])
    sp_cum = np.concatenate([[0], np.cumsum(speech.astype(np.int64))])
    T = speech.size
    phones: list[Phone] = []
    p = 0
    W = len(words)
    log.info("aligning %d words in %d chunks", W, len(bounds))
    for ci, (a, b) in enumerate(bounds):
        chunk = pcm[a * 160: b * 160]
        sp = speech[min(a, T): min(b, T)]
        last = ci == len(bounds) - 1
        if last:
            cands = [W - p]
        else:
            rem_speech = max(1, sp_cum[min(T, bounds[-1][1])] - sp_cum[min(a, T)])
            share = (sp_cum[min(b, T)] - sp_cum[min(a, T)]) / rem_speech
            target = cum[p] + share * (cum[W] - cum[p])
            k0 = int(np.searchsorted(cum, target)) - p
            if k0 > 0 and abs(cum[p + k0 - 1] - target) < abs(cum[min(W, p + k0)] - target):
                k0 -= 1
            cands = [min(max(k0, 0), W - p)]
        results: dict[int, tuple[float, list] | None] = {}

        def score(k: int):
            if k in results:
                return results[k]
            r = None
            if 0 < k <= W - p:
                try:
                    ent = aligner.align(chunk, words[p:p + k])
                    _check_alignment(ent, sp, config)
                    r = (float(sum(e[3] for e in ent)), ent)
                except AlignmentMismatch as e:
                    log.debug("chunk %d with %d words: %s", ci, k, e)
                    r = None
            results[k] = r
            return r

        best_k = cands[0]
        if not last:
            # nearest candidate that aligns at all (too many words usually finds no path), then hill
            # climbing on the score from there
            far = max(config.chunk_word_search, int(round(config.chunk_word_spread * best_k)))
            order = [best_k] + [best_k + s * d for d in range(1, far + 1) for s in (-1, 1)]
            best_k = next((k for k in order if score(k) is not None), best_k)
            for step in (-1, 1):
                k = best_k
                while abs(k + step - best_k) <= config.chunk_word_search:
                    cur, nxt = score(k), score(k + step)
                    if nxt is not None and (cur is None or nxt[0] > cur[0]):
                        k += step
                    else:
                        break
                if k != best_k:
                    best_k = k
                    break
        else:
            score(best_k)
        r = results.get(best_k)
        if r is None:
            ok = [k for k, v in results.items() if v is not None]
            if ok:
                best_k = max(ok, key=lambda k: results[k][0])
                r = results[best_k]
        if r is None:
            log.warning("chunk %.1f-%.1f s does not match its transcript words; using phone recognition "
                        "there", a * FRAME_S, b * FRAME_S)
            raw = _recognize_pcm(chunk, deadline, config)
            phones.extend(_recognition_stress([Phone(q.start_s + a * FRAME_S, q.end_s + a * FRAME_S, q.label)
                                               for q in raw]))
        else:
            phones.extend(_entry_phones(r[1], prons, a))
        p += best_k
    return phones


def recognize(audio: Audio, *, config: PhoneticsConfig = PhoneticsConfig()) -> list[Phone]:
    """Phoneme recognition (PocketSphinx allphone search). Contiguous phones over [0, duration_s]."""
    pcm = _pcm16k(audio)
    deadline = time.monotonic() + _limit(audio, config)
    phones = _finalize(_recognize_pcm(pcm, deadline, config), audio.duration_s, config.min_phone_s)
    return _recognition_stress(phones)


def _recognize_pcm(pcm: np.ndarray, deadline: float, config: PhoneticsConfig) -> list[Phone]:
    """Raw recognised phones (not finalised) of 16 kHz int16 ``pcm``, times from its start."""
    import pocketsphinx as ps
    with tempfile.TemporaryDirectory(prefix="parley-ps-") as tmp:
        dic = Path(tmp) / "none.dict"
        dic.write_text("a AH\n", encoding="utf-8")
        dec = _decoder(dict=str(dic), lm=None, allphone=ps.get_model_path("en-us/en-us-phone.lm.bin"),
                       lw=config.allphone_lw, pip=config.allphone_pip)
        phones: list[Phone] = []
        for a, b in _segments(pcm, config.segment_s):
            try:
                _decode(dec, pcm[a:b], deadline, config)
                segs = [(s.word, s.start_frame, s.end_frame) for s in dec.seg()]
            except RuntimeError as e:
                raise PhoneticsError(f"phone recogniser failed: {e}") from None
            t0 = a / 16000.0
            for w, s, e in segs:
                phones.append(Phone(t0 + s * FRAME_S, t0 + (e + 1) * FRAME_S, normalize_label(w)))
    return phones


# ----------------------------------------------------------------------------------------------
# text and pronunciations

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen " \
        "sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _number_words(n: int) -> list[str]:
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [_ONES[n // 100], "hundred"] + (_number_words(n % 100) if n % 100 else [])
    if n < 1_000_000:
        return _number_words(n // 1000) + ["thousand"] + (_number_words(n % 1000) if n % 1000 else [])
    return [d for c in str(n) for d in _number_words(int(c))]


def normalize_transcript(text: str) -> list[str]:
    """Lower-case words of ``text``: punctuation dropped (apostrophes kept), numbers spelled out."""
    out: list[str] = []
    for tok in re.findall(r"[0-9]+|[^\W\d_]+(?:'[^\W\d_]+)*", text.lower()):
        if not tok.isdigit():
            out.append(tok)
            continue
        digits = tok.lstrip("0") or "0"  # a million and up is read digit by digit: no int() of 4300+ digits
        out.extend(_number_words(int(digits)) if len(digits) <= 6 else [_ONES[int(c)] for c in digits])
    return out


def pronunciations(words: list[str]) -> dict[str, list[tuple[list[str], list[int | None]]]]:
    """{word: [(phones, stresses), ...]} from CMUdict-en-us, espeak-ng letter-to-sound for the rest."""
    need = sorted(set(words))
    cmu = _cmudict_text()
    found: dict[str, list[tuple[list[str], list[int | None]]]] = {w: [] for w in need}
    for w in need:
        for pron in _cmu_lookup(cmu, w):
            phs = [normalize_label(p) for p in pron.split()]
            found[w].append((phs, [None] * len(phs)))
    missing = [w for w in need if not found[w]]
    if missing:
        for w, pron in zip(missing, g2p(missing)):
            if not pron:
                pron = _spell_fallback(w)
            found[w].append(([p for p, _ in pron], [s for _, s in pron]))
            log.info("pronunciation of %r from letter-to-sound: %s", w, " ".join(p for p, _ in pron))
    return found


@functools.lru_cache(maxsize=1)
def _cmudict_text() -> str:
    """CMUdict-en-us as one string starting with a newline, read once per process (~3.5 MB)."""
    import pocketsphinx as ps
    return "\n" + Path(ps.get_model_path("en-us/cmudict-en-us.dict")).read_text(encoding="utf-8",
                                                                                   errors="replace")


def _cmu_lookup(text: str, word: str) -> list[str]:
    """Pronunciation strings ("PH PH ...") of ``word`` in the CMUdict ``text``, variants in file order.

    The file is sorted by headword (variants "word(2)" follow "word"), so a binary search over line
    starts finds the first entry without building a 126k-entry dictionary (cold lookups stay ~1 ms).
    """
    def key_at(pos: int) -> tuple[int, str]:
        start = text.rfind("\n", 0, pos + 1) + 1
        end = text.find(" ", start)
        k = text[start:end]
        i = k.find("(")
        return start, (k[:i] if i > 0 else k)

    lo, hi = 0, len(text)
    while lo < hi:          # first line start whose headword >= word
        mid = (lo + hi) // 2
        start, k = key_at(mid)
        if k < word:
            nxt = text.find("\n", start)
            lo = len(text) if nxt < 0 else nxt + 1
        else:
            hi = start if start < hi else hi - 1
    out = []
    pos = key_at(lo)[0] if lo < len(text) else len(text)
    while pos < len(text):
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        head, _, pron = text[pos:end].partition(" ")
        i = head.find("(")
        if (head[:i] if i > 0 else head) != word:
            break
        if pron.strip():
            out.append(pron)
        pos = end + 1
    return out


def g2p(words: list[str]) -> list[list[tuple[str, int | None]]]:
    """Letter-to-sound with espeak-ng (en-us): one [(phone, stress)] list per word ([] if unavailable)."""
    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    if exe is None or not words:
        return [[] for _ in words]
    try:
        r = subprocess.run([exe, "-q", "--ipa", "-v", "en-us"], input="\n".join(w + "." for w in words),
                           capture_output=True, text=True, timeout=20, check=False)
        lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    except (subprocess.TimeoutExpired, OSError):
        lines = []
    if len(lines) != len(words):  # one espeak call per word as a fallback
        lines = []
        for w in words:
            try:
                r = subprocess.run([exe, "-q", "--ipa", "-v", "en-us", w], capture_output=True, text=True,
                                   timeout=10, check=False)
                lines.append(r.stdout.strip())
            except (subprocess.TimeoutExpired, OSError):
                lines.append("")
    return [[(p, s) for p, s in ipa_to_arpabet_stress(ln) if p != SIL] for ln in lines]


_LETTERS = {"a": "AE", "b": "B", "c": "K", "d": "D", "e": "EH", "f": "F", "g": "G", "h": "HH", "i": "IH",
            "j": "JH", "k": "K", "l": "L", "m": "M", "n": "N", "o": "AA", "p": "P", "q": "K", "r": "R",
            "s": "S", "t": "T", "u": "AH", "v": "V", "w": "W", "x": "K", "y": "Y", "z": "Z"}


def _spell_fallback(word: str) -> list[tuple[str, int | None]]:
    """Crude one-letter-one-phone pronunciation when espeak-ng is missing."""
    phs = [_LETTERS[c] for c in word if c in _LETTERS] or ["AH"]
    return [(p, 0 if p in VOWELS else None) for p in phs]


def _word_stress(labels, durs, prons) -> list[int | None]:
    """Stress per phone of an aligned word (see module docstring)."""
    for phs, st in prons:
        if phs == labels and any(s is not None for s in st):
            return list(st)
    vow = [i for i, lab in enumerate(labels) if lab in VOWELS]
    out: list[int | None] = [None] * len(labels)
    if vow:
        best = max(vow, key=lambda i: durs[i])
        for i in vow:
            out[i] = 1 if i == best else 0
    return out


def _recognition_stress(phones: list[Phone]) -> list[Phone]:
    """Vowels longer than 1.2x the median vowel get stress 1, others 0 (duration proxy)."""
    vd = [p.duration_s for p in phones if p.label in VOWELS]
    if not vd:
        return phones
    med = float(np.median(vd))
    return [Phone(p.start_s, p.end_s, p.label, (1 if p.duration_s > 1.2 * med else 0), None)
            if p.label in VOWELS else p for p in phones]


# ----------------------------------------------------------------------------------------------
# decoding helpers


def _decoder(**kw):
    import pocketsphinx as ps
    try:
        return ps.Decoder(ps.Config(loglevel="FATAL", **kw))
    except Exception as e:
        raise PhoneticsError(f"cannot start PocketSphinx: {e}") from None


def _pcm16k(audio: Audio) -> np.ndarray:
    y = audio.samples
    if audio.sr != 16000:
        import soxr
        y = soxr.resample(y, audio.sr, 16000)
    # +-1 LSB deterministic dither: digital silence (exact zeros) breaks PocketSphinx's log-energy
    # features and makes alignment fail at utterance edges. Quantised block by block into one int16
    # array so an hour of audio needs 115 MB here, not several float copies of the signal.
    out = np.empty(y.size, "<i2")
    block = 1 << 20
    n_zero = 0
    for a in range(0, y.size, block):
        q = np.clip(y[a:a + block], -1.0, 1.0) * np.float32(32767.0)
        out[a:a + q.size] = np.round(q, out=q)
        n_zero += int(np.count_nonzero(out[a:a + q.size] == 0))
    if y.size and n_zero > 0.01 * y.size:  # only recordings with stretches of digital silence
        rng = np.random.default_rng(0)
        for a in range(0, y.size, block):
            seg = out[a:a + block]
            zero = seg == 0
            seg[zero] = rng.integers(-1, 2, size=int(zero.sum()))
    return out


def _limit(audio: Audio, config: PhoneticsConfig) -> float:
    return config.time_limit_s if config.time_limit_s is not None else 20.0 + 3.0 * audio.duration_s


def _decode(dec, pcm: np.ndarray, deadline: float, config: PhoneticsConfig) -> None:
    """Decode one utterance in one full-utterance call (batch CMN, as PocketSphinx expects for
    alignment). Work is bounded by the caller: utterances are at most ``segment_s`` (recognition) or
    ``chunk_align_s`` (alignment) long, and the deadline is checked before each one."""
    if time.monotonic() > deadline:
        raise PhoneticsError("phone timing exceeded its time limit")
    dec.start_utt()
    dec.process_raw(pcm.tobytes(), no_search=False, full_utt=True)
    dec.end_utt()


def _segments(pcm: np.ndarray, segment_s: float) -> list[tuple[int, int]]:
    """[(start, end)) sample ranges of at most ~segment_s, cut at the quietest 10 ms near each limit."""
    n = pcm.size
    seg = int(segment_s * 16000)
    if n <= seg:
        return [(0, n)]
    out, a = [], 0
    while n - a > seg:
        lo, hi = a + seg // 2, a + seg
        win = pcm[lo:hi].astype(np.float32)
        e = np.add.reduceat(win * win, np.arange(0, win.size, 160))
        cut = lo + int(np.argmin(e)) * 160 + 80
        out.append((a, cut))
        a = cut
    out.append((a, n))
    return out


def _check_alignment(entries, speech: np.ndarray, config: PhoneticsConfig) -> None:
    """Raise AlignmentMismatch when the alignment looks like a transcript/audio mismatch.

    ``speech``: (T,) bool energy voice activity of the aligned audio at 10 ms frames."""
    n_frames = sum(d for _, _, d, _, _ in entries)
    score = sum(sc for _, _, _, sc, _ in entries) / max(1, n_frames)
    if score < config.min_align_score_per_frame:
        raise AlignmentMismatch(f"acoustic score {score:.1f} per frame is implausibly low")
    phones = [(s, d) for name, _, _, _, pl in entries if not name.startswith("<")
              and not name.startswith("+") for _, s, d in pl]
    if phones:
        short = sum(1 for _, d in phones if d <= 3) / len(phones)
        if short > config.max_min_length_phones and len(phones) >= 4:
            raise AlignmentMismatch(f"{short:.0%} of phones squeezed to the minimum length")
    T = speech.size
    sil = np.ones(T, bool)
    for name, s, d, _, _ in entries:
        if not (name.startswith("<") or name.startswith("+")):
            sil[s: s + d] = False
    if speech.sum() >= 20:
        frac = float((speech & sil).sum()) / float(speech.sum())
        if frac > config.max_speech_in_silence:
            raise AlignmentMismatch(f"{frac:.0%} of the detected speech falls outside the transcript's words")


def _finalize(phones: list[Phone], duration_s: float, min_phone_s: float) -> list[Phone]:
    """Sort, clip to [0, duration_s], fill gaps with SIL, merge tiny and repeated-SIL segments."""
    dur = float(duration_s)
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
    if not out:
        return [Phone(0.0, dur, SIL)]
    # merge tiny phones into the neighbour that shares their word (else the longer neighbour)
    changed = True
    while changed and len(out) > 1:
        changed = False
        i = min(range(len(out)), key=lambda k: out[k].duration_s)
        if out[i].duration_s >= min_phone_s - 1e-9:
            break
        left = out[i - 1] if i > 0 else None
        right = out[i + 1] if i + 1 < len(out) else None
        if left is None or (right is not None and (right.duration_s > left.duration_s)
                            and not (left.label == out[i].label)):
            j = i + 1
            out[i:i + 2] = [Phone(out[i].start_s, right.end_s, right.label, right.stress, right.word)]
        else:
            j = i - 1
            out[j:j + 2] = [Phone(left.start_s, out[i].end_s, left.label, left.stress, left.word)]
        changed = True
    # join consecutive SILs (and identical recognised phones without words)
    merged: list[Phone] = [out[0]]
    for p in out[1:]:
        q = merged[-1]
        if p.label == q.label and p.word is None and q.word is None:
            merged[-1] = Phone(q.start_s, p.end_s, q.label, q.stress, None)
        else:
            merged.append(p)
    # exact contiguity
    fixed = [merged[0]]
    for p in merged[1:]:
        fixed.append(Phone(fixed[-1].end_s, p.end_s, p.label, p.stress, p.word))
    fixed[0] = Phone(0.0, fixed[0].end_s, fixed[0].label, fixed[0].stress, fixed[0].word)
    fixed[-1] = Phone(fixed[-1].start_s, dur, fixed[-1].label, fixed[-1].stress, fixed[-1].word)
    return fixed
