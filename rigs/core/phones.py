"""ARPAbet phone inventory: IPA and X-SAMPA equivalents, articulatory classes, IPA -> ARPAbet parsing.

The 39 phones of the CMU Pronouncing Dictionary (no stress digits), plus ``SIL`` for silence, as used by
the CMU Sphinx en-us acoustic model. IPA values follow the CMUdict documentation conventions (General
American); X-SAMPA after J.C. Wells, "Computer-coding the IPA: a proposed extension of SAMPA" (1995).
Articulatory classes (place, manner, lip rounding, jaw opening) follow standard phonetics texts (P.
Ladefoged and K. Johnson, "A Course in Phonetics"); the face animator uses them to pick lip shapes:
bilabials close the lips, labiodentals tuck the lower lip, rounded vowels pucker, open vowels drop the jaw.
"""
from __future__ import annotations

from dataclasses import dataclass

SIL = "SIL"


@dataclass(frozen=True)
class Phone:
    """One timed phone: [start_s, end_s), ARPAbet ``label`` (no stress digit) or "SIL", vowel ``stress``
    (0/1/2, None for consonants, silence or unknown) and the upper-case ``word`` it belongs to (None
    for silence and recognised phones). The one phone type: phone timing, animators and clips share it
    (a clip file stores times and labels only)."""

    start_s: float
    end_s: float
    label: str
    stress: int | None = None
    word: str | None = None

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

# phone: (IPA, X-SAMPA)
PHONES: dict[str, tuple[str, str]] = {
    "AA": ("ɑ", "A"), "AE": ("æ", "{"), "AH": ("ʌ", "V"), "AO": ("ɔ", "O"), "AW": ("aʊ", "aU"),
    "AY": ("aɪ", "aI"), "EH": ("ɛ", "E"), "ER": ("ɝ", "3`"), "EY": ("eɪ", "eI"), "IH": ("ɪ", "I"),
    "IY": ("i", "i"), "OW": ("oʊ", "oU"), "OY": ("ɔɪ", "OI"), "UH": ("ʊ", "U"), "UW": ("u", "u"),
    "B": ("b", "b"), "CH": ("tʃ", "tS"), "D": ("d", "d"), "DH": ("ð", "D"), "F": ("f", "f"),
    "G": ("ɡ", "g"), "HH": ("h", "h"), "JH": ("dʒ", "dZ"), "K": ("k", "k"), "L": ("l", "l"),
    "M": ("m", "m"), "N": ("n", "n"), "NG": ("ŋ", "N"), "P": ("p", "p"), "R": ("ɹ", "r\\"),
    "S": ("s", "s"), "SH": ("ʃ", "S"), "T": ("t", "t"), "TH": ("θ", "T"), "V": ("v", "v"),
    "W": ("w", "w"), "Y": ("j", "j"), "Z": ("z", "z"), "ZH": ("ʒ", "Z"),
}
ARPABET: tuple[str, ...] = tuple(PHONES)                      # the 39 phones
LABELS: tuple[str, ...] = ARPABET + (SIL,)                    # what Phone.label may be
VOWELS = frozenset("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())
CONSONANTS = frozenset(ARPABET) - VOWELS

ARPABET_TO_IPA = {k: v[0] for k, v in PHONES.items()} | {SIL: ""}
ARPABET_TO_SAMPA = {k: v[1] for k, v in PHONES.items()} | {SIL: "_"}
SAMPA_TO_ARPABET = {v[1]: k for k, v in PHONES.items()}

# Articulatory classes. A phone can be in several classes.
PHONE_CLASSES: dict[str, frozenset[str]] = {
    "silence": frozenset({SIL}),
    "vowel": VOWELS,
    "consonant": CONSONANTS,
    "diphthong": frozenset("AW AY EY OW OY".split()),
    # place of articulation
    "bilabial": frozenset("P B M".split()),
    "labiodental": frozenset("F V".split()),
    "dental": frozenset("TH DH".split()),
    "alveolar": frozenset("T D N S Z L".split()),
    "postalveolar": frozenset("SH ZH CH JH R".split()),
    "palatal": frozenset("Y".split()),
    "velar": frozenset("K G NG".split()),
    "glottal": frozenset("HH".split()),
    "labial_velar": frozenset("W".split()),
    # manner
    "stop": frozenset("P B T D K G".split()),
    "nasal": frozenset("M N NG".split()),
    "fricative": frozenset("F V TH DH S Z SH ZH HH".split()),
    "affricate": frozenset("CH JH".split()),
    "approximant": frozenset("L R W Y".split()),
    "sibilant": frozenset("S Z SH ZH CH JH".split()),
    "alveolar_sibilant": frozenset("S Z".split()),
    "postalveolar_sibilant": frozenset("SH ZH CH JH".split()),              # postalveolar without R
    "rounded_approximant": frozenset("W R".split()),                         # labialised approximants
    "voiced": frozenset("B D G V DH Z ZH JH M N NG L R W Y".split()) | VOWELS,
    # lips and jaw
    "rounded": frozenset("UW UH OW OY AO W SH ZH CH JH ER R".split()),   # lip rounding / protrusion
    "rounded_vowel": frozenset("UW UH OW OY AO".split()),
    "spread_vowel": frozenset("IY IH EY EH AE".split()),
    "open_vowel": frozenset("AA AE AO AW AY".split()),                   # low vowels: jaw open
    # open_vowel plus AH (stressed /ʌ/): vowels whose lip gap should be plainly visible (bench_lipsync)
    "visibly_open_vowel": frozenset("AA AE AH AO AW AY".split()),
    "mid_vowel": frozenset("AH EH ER OW OY EY".split()),
    "close_vowel": frozenset("IY IH UW UH".split()),                     # high vowels: jaw nearly closed
    "front_vowel": frozenset("IY IH EY EH AE".split()),
    "back_vowel": frozenset("AA AO OW UH UW".split()),
    "lip_closure": frozenset("P B M".split()),
    "teeth_visible": frozenset("F V TH DH S Z SH ZH CH JH T D N L IY IH EY EH".split()),
}

PHONE_CLASS: dict[str, frozenset[str]] = {
    p: frozenset(c for c, members in PHONE_CLASSES.items() if p in members) for p in LABELS
}


def classes_of(label: str) -> frozenset[str]:
    """Articulatory classes of an ARPAbet label (stress digits ignored); empty for unknown labels."""
    return PHONE_CLASS.get(normalize_label(label), frozenset())


def is_class(label: str, cls: str) -> bool:
    """True if ``label`` belongs to class ``cls`` (e.g. ``is_class("M", "bilabial")``)."""
    if cls not in PHONE_CLASSES:
        raise KeyError(f"unknown phone class {cls!r}; known: {', '.join(sorted(PHONE_CLASSES))}")
    return normalize_label(label) in PHONE_CLASSES[cls]


def normalize_label(label: str) -> str:
    """Upper-case, strip stress digits; map silence/filler markers (sil, <sil>, sp, +NOISE+ ...) to SIL."""
    s = label.strip().upper().rstrip("012")
    if s in PHONES:
        return s
    return SIL


def stress_of(label: str) -> int | None:
    """CMUdict stress digit of a label like ``AH0`` (0, 1, 2) or None if absent."""
    s = label.strip()
    return int(s[-1]) if s and s[-1] in "012" else None


# IPA -> ARPAbet for letter-to-sound output (espeak-ng --ipa). Longest match first.
_IPA_MULTI = {
    "tʃ": ["CH"], "dʒ": ["JH"], "aɪ": ["AY"], "aʊ": ["AW"], "eɪ": ["EY"], "oʊ": ["OW"], "əʊ": ["OW"],
    "ɔɪ": ["OY"], "ɑː": ["AA"], "ɜː": ["ER"], "ɝ": ["ER"], "ɚ": ["ER"], "iː": ["IY"], "uː": ["UW"],
    "ɔː": ["AO"], "ɪə": ["IH", "R"], "eə": ["EH", "R"], "ʊə": ["UH", "R"], "ɛɹ": ["EH", "R"],
    "ɑɹ": ["AA", "R"], "ɔɹ": ["AO", "R"], "ɪɹ": ["IH", "R"], "ʊɹ": ["UH", "R"], "aɪɚ": ["AY", "ER"],
    "oː": ["OW"], "eː": ["EY"], "ɐ": ["AH"], "ᵻ": ["IH"], "ɾ": ["T"], "ʔ": [], "ɬ": ["L"],
}
_IPA_SINGLE = {
    "ɑ": "AA", "æ": "AE", "ʌ": "AH", "ə": "AH", "ɔ": "AO", "ɛ": "EH", "e": "EH", "ɪ": "IH", "i": "IY",
    "ʊ": "UH", "u": "UW", "o": "OW", "a": "AA", "ɒ": "AA", "ɜ": "ER", "y": "UW", "ø": "ER", "œ": "EH",
    "b": "B", "d": "D", "ð": "DH", "f": "F", "ɡ": "G", "g": "G", "h": "HH", "k": "K", "l": "L", "m": "M",
    "n": "N", "ŋ": "NG", "p": "P", "ɹ": "R", "r": "R", "ʁ": "R", "s": "S", "ʃ": "SH", "t": "T", "θ": "TH",
    "v": "V", "w": "W", "j": "Y", "z": "Z", "ʒ": "ZH", "x": "HH", "ç": "HH", "ɲ": "N", "ʎ": "L",
    "β": "B", "ɣ": "G", "c": "K", "ɟ": "G", "ɫ": "L",
}
_IPA_IGNORE = set("ˈˌːˑ.‿ ̩̃-_'|") | {"\u0329", "\u0303", "\u032f", "\u02de"}


def ipa_to_arpabet(ipa: str) -> list[str]:
    """ARPAbet phones for an IPA string (stress and length marks dropped; unknown symbols skipped)."""
    return [p for p, _ in ipa_to_arpabet_stress(ipa)]


def ipa_to_arpabet_stress(ipa: str) -> list[tuple[str, int | None]]:
    """(phone, stress) pairs for an IPA string: vowels get 1 after a primary mark (ˈ), 2 after a
    secondary mark (ˌ), else 0; consonants get None. Unknown symbols are skipped."""
    out: list[tuple[str, int | None]] = []
    pending = 0
    i = 0
    s = ipa.strip()

    def put(ph: str) -> None:
        nonlocal pending
        if ph in VOWELS:
            out.append((ph, pending))
            pending = 0
        else:
            out.append((ph, None))

    while i < len(s):
        ch = s[i]
        if ch == "ˈ":
            pending, i = 1, i + 1
            continue
        if ch == "ˌ":
            pending, i = 2, i + 1
            continue
        for n in (3, 2):
            chunk = s[i:i + n]
            if len(chunk) == n and chunk in _IPA_MULTI:
                for ph in _IPA_MULTI[chunk]:
                    put(ph)
                i += n
                break
        else:
            if ch in _IPA_SINGLE:
                put(_IPA_SINGLE[ch])
            i += 1
    return out
