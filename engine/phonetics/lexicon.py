"""Words and their pronunciations: transcript normalisation (number words), CMUdict lookup, espeak-ng
letter-to-sound for words CMUdict lacks (a letter-by-letter guess when espeak-ng is missing), and the
stress of an aligned word.

References: the CMU Pronouncing Dictionary as shipped with PocketSphinx (``en-us/cmudict-en-us.dict``,
no stress digits); espeak-ng's IPA output mapped to ARPAbet by ``rigs.core.phones``.
Stress: vowels of dictionary words get 1 for the longest vowel of the word, 0 for the others (a
duration proxy: lexical stress lengthens vowels); espeak pronunciations keep espeak's stress marks;
consonants and SIL have ``None``.
"""
from __future__ import annotations

import functools
import logging
import re
import shutil
import subprocess
from pathlib import Path

from engine.phonetics.text import spell_out
from rigs.core.phones import SIL, VOWELS, ipa_to_arpabet_stress, normalize_label

log = logging.getLogger(__name__)

ESPEAK_BATCH_TIMEOUT_S = 20     # one espeak-ng call for all missing words
ESPEAK_WORD_TIMEOUT_S = 10      # each call of the one-word-at-a-time fallback

Pronunciation = tuple[list[str], list[int | None]]   # (ARPAbet phones, stress per phone)

# ----------------------------------------------------------------------------------------------
# transcripts

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen " \
        "sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


_SCALES = ((10 ** 12, "trillion"), (10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand"))
MAX_SPOKEN_DIGITS = 15   # longer integers are read digit by digit


def number_words(n: int) -> list[str]:
    """English words of ``n`` (up to 15 digits; longer numbers digit by digit)."""
    if n < 20:
        return [_ONES[n]]
    if n < 100:
        return [_TENS[n // 10]] + ([_ONES[n % 10]] if n % 10 else [])
    if n < 1000:
        return [_ONES[n // 100], "hundred"] + (number_words(n % 100) if n % 100 else [])
    for scale, name in _SCALES:
        if n >= scale and n < scale * 1000:
            return number_words(n // scale) + [name] + (number_words(n % scale) if n % scale else [])
    return [d for c in str(n) for d in number_words(int(c))]


def normalize_transcript(text: str) -> list[str]:
    """Lower-case words of ``text``: written forms spelled out (:func:`engine.phonetics.text.spell_out`:
    "Dr.", "$5", "14th", "100%", "1961", "2.5", "10:30"...), punctuation dropped (apostrophes kept), numbers
    spelled out."""
    out: list[str] = []
    for tok in re.findall(r"[0-9]+|[^\W\d_]+(?:'[^\W\d_]+)*", spell_out(text, number_words).lower()):
        if not tok.isdigit():
            out.append(tok)
            continue
        digits = tok.lstrip("0") or "0"  # long numbers are read digit by digit: no int() of 4300+ digits
        out.extend(number_words(int(digits)) if len(digits) <= MAX_SPOKEN_DIGITS else [_ONES[int(c)] for c in digits])
    return out


# ----------------------------------------------------------------------------------------------
# pronunciations


def pronunciations(words: list[str]) -> dict[str, list[Pronunciation]]:
    """{word: [(phones, stresses), ...]} from CMUdict-en-us, espeak-ng letter-to-sound for the rest."""
    need = sorted(set(words))
    cmu = _cmudict_text()
    found: dict[str, list[Pronunciation]] = {w: [] for w in need}
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
                           capture_output=True, text=True, timeout=ESPEAK_BATCH_TIMEOUT_S, check=False)
        lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    except (subprocess.TimeoutExpired, OSError):
        lines = []
    if len(lines) != len(words):  # one espeak call per word as a fallback
        lines = []
        for w in words:
            try:
                r = subprocess.run([exe, "-q", "--ipa", "-v", "en-us", w], capture_output=True, text=True,
                                   timeout=ESPEAK_WORD_TIMEOUT_S, check=False)
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


def word_stress(labels: list[str], durs: list[int], prons: list[Pronunciation]) -> list[int | None]:
    """Stress per phone of an aligned word (``labels`` with durations ``durs`` in frames): the stress
    marks of a matching pronunciation that has any, else 1 for the longest vowel and 0 for the others."""
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
