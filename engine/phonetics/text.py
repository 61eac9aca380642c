"""Written forms of a transcript spelled out as they are spoken: abbreviations, currency, percentages,
ordinals, years, decimals, times, thousands separators and signs ("Dr. Smith paid $5.50 on the 14th" ->
"doctor smith paid five dollars fifty cents on the fourteenth").

Forced alignment needs the words that were said; a written form left as it is ("14th", "$5", "1961")
gets the wrong pronunciation or none, the alignment fails, and the whole transcript is dropped for
recognition. The rules are the usual English reading conventions (a text-normalisation front end as in
Sproat et al. 2001, "Normalization of non-standard words"), kept small and predictable: a form not
covered stays as it is, and plain integers are spelled out by :func:`engine.phonetics.lexicon.number_words`.
"""
from __future__ import annotations

import re
from collections.abc import Callable

# abbreviations read as words (matched case-insensitively, with the full stop)
ABBREVIATIONS = {
    "dr.": "doctor", "mr.": "mister", "mrs.": "missus", "ms.": "miz", "prof.": "professor", "jr.": "junior",
    "sr.": "senior", "st.": "saint", "mt.": "mount", "vs.": "versus", "etc.": "et cetera", "approx.": "approximately",
    "dept.": "department", "e.g.": "for example", "i.e.": "that is", "a.m.": "a m", "p.m.": "p m",
}
CURRENCY = {"$": ("dollar", "dollars", "cent", "cents"), "£": ("pound", "pounds", "penny", "pence"),
            "€": ("euro", "euros", "cent", "cents")}
MAX_SPOKEN_DIGITS = 15     # longer integers are read digit by digit (as lexicon.number_words does)

_ORDINAL_OF = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
               "nine": "ninth", "twelve": "twelfth"}


def ordinal_words(words: list[str]) -> list[str]:
    """The ordinal of a cardinal in words: the last word changes ("twenty one" -> "twenty first")."""
    last = words[-1]
    if last in _ORDINAL_OF:
        last = _ORDINAL_OF[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last = last + "th"
    return words[:-1] + [last]


def plural_words(words: list[str]) -> list[str]:
    """The plural of a number in words, as in decades ("nineteen sixty" -> "nineteen sixties")."""
    last = words[-1]
    return words[:-1] + [last[:-1] + "ies" if last.endswith("y") else last + "s"]


def spell_out(text: str, number_words: Callable[[int], list[str]]) -> str:
    """``text`` with its written forms in words (module docstring); ``number_words(n)`` spells integers."""
    def num(digits: str) -> str:
        digits = digits.lstrip("0") or "0"
        if len(digits) > MAX_SPOKEN_DIGITS:
            return " ".join(" ".join(number_words(int(c))) for c in digits)
        return " ".join(number_words(int(digits)))

    def year(m: re.Match) -> str:
        n = int(m.group(1))
        hi, lo = divmod(n, 100)
        if n % 1000 == 0 or 2000 <= n <= 2009 or lo == 0 and n % 1000 != 0 and hi % 10 == 0:
            return num(m.group(1))                       # 2000, 2005: "two thousand (five)"
        if lo == 0:
            return f"{num(str(hi))} hundred"              # 1900: "nineteen hundred"
        tail = num(str(lo)) if lo >= 10 else f"oh {num(str(lo))}"
        return f"{num(str(hi))} {tail}"                   # 1961: "nineteen sixty one"; 1905: "nineteen oh five"

    def money(m: re.Match) -> str:
        one, many, sub_one, sub_many = CURRENCY[m.group(1)]
        whole, frac = m.group(2).replace(",", ""), m.group(3)
        out = f"{num(whole)} {one if int(whole) == 1 else many}"
        if frac and int(frac):
            cents = int(frac.ljust(2, "0")[:2])
            out += f" {num(str(cents))} {sub_one if cents == 1 else sub_many}"
        return f" {out} "

    def decimal(m: re.Match) -> str:
        return f"{num(m.group(1))} point {' '.join(num(c) for c in m.group(2))}"

    def clock(m: re.Match) -> str:
        h, mins = m.group(1), int(m.group(2))
        if mins == 0:
            return f"{num(h)} o'clock"
        return f"{num(h)} {num(str(mins)) if mins >= 10 else 'oh ' + num(str(mins))}"

    def ordinal(m: re.Match) -> str:
        return " ".join(ordinal_words(num(m.group(1)).split()))

    out = f" {text} "
    for abbr, words in ABBREVIATIONS.items():
        out = re.sub(rf"(?<![\w.]){re.escape(abbr)}(?!\w)", f" {words} ", out, flags=re.IGNORECASE)
    out = out.replace("&", " and ")
    out = re.sub(r"([$£€])\s?(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?(?!\d)", money, out)
    out = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", out)                            # 1,000,000 -> 1000000
    out = re.sub(r"(?<![\w.])-(?=\d)", " minus ", out)
    out = re.sub(r"(\d+(?:\.\d+)?)\s?%", r"\1 percent", out)
    out = re.sub(r"(?<![\d:])(\d{1,2}):([0-5]\d)(?![\d:])", clock, out)
    out = re.sub(r"(?<![\d.])(\d+)\.(\d+)(?![\d.])", decimal, out)
    out = re.sub(r"(?<!\d)(\d+)(?:st|nd|rd|th)\b", ordinal, out, flags=re.IGNORECASE)
    out = re.sub(r"(?<![\d$£€])\b(1[1-9]\d\d|20\d\d)s\b", lambda m: " ".join(plural_words(year(m).split())), out)
    out = re.sub(r"(?<![\w$£€])'?([1-9]0)s\b", lambda m: " ".join(plural_words(num(m.group(1)).split())), out)
    out = re.sub(r"(?<![\d$£€])\b(1[1-9]\d\d|20\d\d)\b(?!\s*(?:percent|%))", year, out)
    return re.sub(r"\s+", " ", out).strip()
