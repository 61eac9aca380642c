"""A seeded, phonetically balanced English sentence generator for synthetic speech.

Sentences come from templates of five kinds (statements, questions, exclamations, lists and long
two-clause sentences) filled from a small hand-written vocabulary chosen so that every one of the 39 ARPAbet
phones occurs in several words (ZH: measure, vision, usual...; OY: boy, voice...; UH: book, sugar...).
Balance is greedy: each sentence is the best of :data:`CANDIDATES` random candidates, scored by how rare
(so far) its phones and diphones are (CMUdict pronunciations, :func:`engine.phonetics.pronunciations`), the
usual way of building phonetically rich prompt sets (cf. the CMU ARCTIC prompt selection: J. Kominek and
A. Black, "The CMU Arctic speech databases", SSW5 2004). The same seed gives the same sentences.
"""
from __future__ import annotations

import functools
import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from rigs.core.phones import ARPABET

CANDIDATES = 12               # random candidates per sentence; the best-scoring one is kept
DIPHONE_WEIGHT = 0.3          # weight of diphone rarity against phone rarity
KINDS = ("statement", "question", "exclamation", "list", "long")
KIND_WEIGHTS = (0.35, 0.2, 0.1, 0.15, 0.2)

NAMES = ("George", "Judy", "Charles", "Joyce", "Theo", "Ruth", "Zoe", "Hugo", "Yusuf", "Martha", "Vivian",
         "Roy", "Nathan", "Sheila", "Quentin", "Beth", "Dwight", "Agatha", "Paul", "Chloe")
NOUNS = ("measure", "vision", "treasure", "garage", "television", "decision", "boy", "voice", "coin", "toy",
         "oyster", "book", "sugar", "wool", "woman", "cushion", "bush", "cookie", "thumb", "feather",
         "leather", "mouth", "house", "cloud", "flower", "owl", "crowd", "judge", "bridge", "cheese",
         "church", "kitchen", "orange", "jacket", "engine", "village", "machine", "ocean", "fish", "shadow",
         "window", "yellow", "yard", "valley", "wheel", "whale", "ring", "song", "king", "finger", "anchor",
         "uncle", "birthday", "earth", "girl", "bird", "nurse", "mirror", "hour", "fire", "tiger", "pilot",
         "guitar", "garden", "pizza", "zebra", "puzzle", "azure sky", "beige chair", "usual route",
         "boat", "road", "stone", "tooth", "spoon", "juice", "blue shoe", "cat", "apple", "bag", "hat",
         "pen", "bed", "egg", "map", "dog", "clock", "box", "cup", "bus", "sun", "lake", "train", "day",
         "key", "tree", "sea", "ship", "hill", "kid", "ball", "dawn", "saw", "lawyer", "employee",
         "thunder", "theatre", "health", "pleasure", "leisure", "seizure", "closure", "explosion")
ADJECTIVES = ("huge", "usual", "casual", "visual", "joyful", "noisy", "moist", "good", "wooden", "full",
              "thick", "thin", "smooth", "rough", "cheap", "sharp", "shiny", "yellow", "vivid", "quiet",
              "loud", "proud", "brown", "round", "ugly", "young", "strong", "long", "hungry", "angry",
              "zealous", "lazy", "busy", "dizzy", "early", "eager", "heavy", "happy", "sad", "calm",
              "gorgeous", "genuine", "rich", "fresh", "thirsty", "curious", "awkward", "bright", "cold",
              "old", "new", "blue", "cool")
VERBS_PAST = ("measured", "enjoyed", "pushed", "pulled", "cooked", "took", "shook", "found", "bought",
              "brought", "caught", "thought about", "watched", "chose", "judged", "changed", "washed",
              "showed", "threw", "drew", "moved", "loved", "joined", "pointed at", "avoided", "noticed",
              "visited", "played with", "fixed", "mixed", "carried", "buried", "hugged", "jumped over",
              "looked at", "painted", "received", "gathered", "admired", "examined", "rang", "sang about",
              "stood by", "wrote about", "read about", "forgot", "remembered", "delivered", "borrowed")
VERBS_BASE = ("measure", "enjoy", "push", "pull", "cook", "take", "shake", "find", "buy", "bring", "catch",
              "watch", "choose", "judge", "change", "wash", "show", "throw", "draw", "move", "join", "avoid",
              "notice", "visit", "fix", "carry", "hug", "paint", "gather", "examine", "ring", "sing about")
PLACES = ("in the garage", "near the church", "by the ocean", "under the bridge", "at the theatre",
          "on the yellow boat", "behind the house", "in the kitchen", "through the village", "beside the lake",
          "on Thursday", "at dawn", "this evening", "in June", "yesterday", "at the zoo", "in the woods",
          "with great pleasure", "without a sound", "in the pouring rain", "at the usual hour")
CONNECTIVES = ("because", "although", "while", "and then", "but", "so", "even though", "until", "whenever")
QUESTION_WORDS = ("Why", "Where", "When", "How")
EXCLAIM_OPENERS = ("What a", "Oh, what a", "Look at that", "Such a", "Wow, what a")
NUMBERS = ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "twelve", "thirty")


@dataclass(frozen=True)
class Sentence:
    """A generated sentence, its kind and its phones (CMUdict's first pronunciations, no silences)."""

    text: str
    kind: str
    phones: tuple[str, ...]


def _pick(rng: np.random.Generator, words) -> str:
    return words[int(rng.integers(len(words)))]


def plural(noun: str) -> str:
    """The plural of the last word of ``noun`` (the vocabulary's nouns are regular or end in s/sh/ch/x/y)."""
    if noun.endswith(("s", "sh", "ch", "x", "z")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in ("a", "e", "o", "u"):
        return noun[:-1] + "ies"
    if noun.endswith("man"):
        return noun[:-3] + "men"
    if noun.endswith("tooth"):
        return noun[:-5] + "teeth"
    return noun + "s"


def _noun_phrase(rng: np.random.Generator) -> str:
    r = rng.random()
    if r < 0.15:
        return _pick(rng, NAMES)
    if r < 0.3:
        return f"{_pick(rng, NUMBERS)} {plural(_pick(rng, NOUNS))}"
    det = _pick(rng, ("the", "a", "my", "your", "this", "that", "our", "their"))
    noun = _pick(rng, NOUNS)
    if det == "a" and noun[0] in "aeiou":
        det = "an"
    if rng.random() < 0.6:
        adj = _pick(rng, ADJECTIVES)
        if det == "an" and adj[0] not in "aeiou":
            det = "a"
        elif det == "a" and adj[0] in "aeiou":
            det = "an"
        return f"{det} {adj} {noun}"
    return f"{det} {noun}"


def _clause(rng: np.random.Generator) -> str:
    s = f"{_noun_phrase(rng)} {_pick(rng, VERBS_PAST)} {_noun_phrase(rng)}"
    return s + (f" {_pick(rng, PLACES)}" if rng.random() < 0.6 else "")


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:]


def make_sentence(kind: str, rng: np.random.Generator) -> str:
    """One sentence of ``kind`` (one of :data:`KINDS`)."""
    if kind == "statement":
        return _cap(_clause(rng)) + "."
    if kind == "question":
        r = rng.random()
        if r < 0.4:
            return f"Did {_noun_phrase(rng)} {_pick(rng, VERBS_BASE)} {_noun_phrase(rng)}?"
        if r < 0.7:
            return f"{_pick(rng, QUESTION_WORDS)} did {_noun_phrase(rng)} {_pick(rng, VERBS_BASE)} " \
                   f"{_noun_phrase(rng)}?"
        return f"Would you {_pick(rng, VERBS_BASE)} {_noun_phrase(rng)} {_pick(rng, PLACES)}?"
    if kind == "exclamation":
        if rng.random() < 0.5:
            return f"{_pick(rng, EXCLAIM_OPENERS)} {_pick(rng, ADJECTIVES)} {_pick(rng, NOUNS)}!"
        return _cap(_clause(rng)) + "!"
    if kind == "list":
        k = int(rng.integers(3, 6))
        items = [_noun_phrase(rng) for _ in range(k)]
        opener = _pick(rng, ("We need", "Please bring", "I saw", "She packed", "They sold", "Remember"))
        return f"{opener} {', '.join(items[:-1])} and {items[-1]}."
    if kind == "long":
        return _cap(f"{_clause(rng)}, {_pick(rng, CONNECTIVES)} {_clause(rng)}") + "."
    raise ValueError(f"unknown sentence kind {kind!r}")


class PhoneCounter:
    """Phones and diphones seen so far; scores candidates by the rarity of what they add."""

    def __init__(self) -> None:
        self.phones: Counter = Counter()
        self.diphones: Counter = Counter()

    def score(self, phones) -> float:
        s = sum(1.0 / (1.0 + self.phones[p]) for p in phones)
        s += DIPHONE_WEIGHT * sum(1.0 / (1.0 + self.diphones[d]) for d in zip(phones, phones[1:]))
        return s / max(1, len(phones))

    def add(self, phones) -> None:
        self.phones.update(phones)
        self.diphones.update(zip(phones, phones[1:]))


def sentence_phones(text: str) -> tuple[str, ...]:
    """The phones of ``text`` from CMUdict (first pronunciation; espeak-ng letter-to-sound for the rest)."""
    from engine.phonetics import normalize_transcript

    return tuple(p for w in normalize_transcript(text) for p in word_phones(w))


@functools.lru_cache(maxsize=4096)
def word_phones(word: str) -> tuple[str, ...]:
    """The first pronunciation of one normalised word (cached: the vocabulary is small)."""
    from engine.phonetics import pronunciations

    prons = pronunciations([word])[word]
    return tuple(prons[0][0]) if prons else ()


def iter_sentences(*, seed: int) -> Iterator[Sentence]:
    """Phonetically balanced sentences without end, the same sequence for the same seed."""
    rng = np.random.default_rng(seed)
    counter = PhoneCounter()
    seen: set[str] = set()
    probs = np.array(KIND_WEIGHTS) / sum(KIND_WEIGHTS)
    while True:
        best = None
        for _ in range(CANDIDATES):
            kind = KINDS[int(rng.choice(len(KINDS), p=probs))]
            text = make_sentence(kind, rng)
            if text in seen:
                continue
            phones = sentence_phones(text)
            score = counter.score(phones)
            if best is None or score > best[0]:
                best = (score, Sentence(text, kind, phones))
        if best is None:
            continue
        counter.add(best[1].phones)
        seen.add(best[1].text)
        yield best[1]


def generate(n: int, *, seed: int) -> list[Sentence]:
    """The first ``n`` sentences of :func:`iter_sentences`."""
    return list(itertools.islice(iter_sentences(seed=seed), n))


def coverage(sentences) -> dict[str, int]:
    """Occurrences of each of the 39 ARPAbet phones in ``sentences``."""
    c = Counter(p for s in sentences for p in s.phones)
    return {p: int(c[p]) for p in ARPABET}
