"""Statistics of pairwise preference studies: the exact binomial sign test, Wilson score intervals, Holm's
step-down correction, Fleiss' kappa and each rater's agreement with the others.

Pure functions of counts and lists (numpy and scipy only), so the analysis of a study
(:mod:`engine.studies.analyze`) and its tests share them.

References: W. J. Conover, *Practical Nonparametric Statistics* (3rd ed., 1999), sec. 3.4, the sign test
(ties dropped; two-sided exact binomial p with probability 1/2); E. B. Wilson, "Probable inference, the law
of succession, and statistical inference", JASA 22 (1927); S. Holm, "A simple sequentially rejective
multiple test procedure", Scand. J. Statistics 6 (1979); J. L. Fleiss, "Measuring nominal scale agreement
among many raters", Psychological Bulletin 76 (1971), with the per-item rater counts allowed to differ
(each item's agreement over its own pairs of ratings).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

Z_95 = 1.959963984540054   # the standard normal's 97.5th percentile: two-sided 95 % intervals


def sign_test_p(wins: int, losses: int) -> float:
    """Two-sided exact binomial p of ``wins`` against ``losses`` under P(win) = 1/2 (ties already dropped):
    the probability of a split at least as uneven. 1.0 when there are no decisive answers."""
    wins, losses = int(wins), int(losses)
    if wins < 0 or losses < 0:
        raise ValueError("counts must be non-negative")
    n = wins + losses
    if n == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(wins, n, 0.5, alternative="two-sided").pvalue)


def wilson_interval(successes: int, n: int, *, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``successes / n`` (95 % for the default ``z``); (0, 1)
    when ``n`` is 0. Unlike the normal ("Wald") interval it stays inside [0, 1] and is not degenerate at
    0 or n successes."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes {successes} not in [0, {n}]")
    p = successes / n
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p values (same order as given): the family-wise error rate over several comparisons."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * float(p_values[i])))
        adjusted[i] = running
    return adjusted


def fleiss_kappa(counts: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa of ``counts[item][category]`` (ratings of each item in each category). Items with
    fewer than two ratings are left out; None when no item is left or the categories' expected agreement
    is 1 (every rating in one category: kappa is undefined)."""
    rows = [list(map(int, r)) for r in counts if sum(r) >= 2]
    if not rows:
        return None
    total = sum(sum(r) for r in rows)
    k = len(rows[0])
    p_cat = [sum(r[j] for r in rows) / total for j in range(k)]
    p_items = [(sum(c * c for c in r) - sum(r)) / (sum(r) * (sum(r) - 1)) for r in rows]
    p_bar = sum(p_items) / len(p_items)
    p_e = sum(p * p for p in p_cat)
    if p_e >= 1.0 - 1e-12:
        return None
    return (p_bar - p_e) / (1.0 - p_e)


def agreement_with_others(signs: Mapping[str, Mapping[str, int]]) -> dict[str, tuple[int, int]]:
    """Each rater's agreement with the majority of the other raters: ``signs[rater][item]`` is -1, 0 or +1
    (which way the rater leaned). For each rater: (items agreeing, items compared), counting the items the
    rater decided (not 0) on which the other raters' signs sum to a majority (not 0)."""
    totals: dict[str, int] = {}
    for per_item in signs.values():
        for item, s in per_item.items():
            totals[item] = totals.get(item, 0) + int(s)
    out = {}
    for rater, per_item in signs.items():
        agree = compared = 0
        for item, s in per_item.items():
            others = totals[item] - int(s)
            if s == 0 or others == 0:
                continue
            compared += 1
            agree += (s > 0) == (others > 0)
        out[rater] = (agree, compared)
    return out
