"""``parley study analyze``: unblind the answers of a study, drop raters who fail attention checks, and
measure preference per pair of systems and appropriateness per system.

* **Unblinding**: an answer names the stimuli the rater saw on each side; the key names their systems and
  conditions. An answer of +2 (strongly right) is +2 for the system shown right and -2 for the other.
* **Attention checks**: a check is passed when the rater preferred the intact side; raters failing more
  than ``max_failed_checks`` are left out of everything else.
* **Preference** (pairs): answers tallied by strength (strong, slight, none) for each system of a pair;
  the sign test on the decisive answers (ties dropped), the share preferring the first system with its
  Wilson 95 % interval, Holm-adjusted p over the pairs.
* **Appropriateness** (mismatched trials): the same for "matched" against "mismatched" motion per system.
* **Agreement**: Fleiss' kappa over the pair trials (categories: first system, none, second system), and
  each rater's agreement with the majority of the others on the trials both decided.

References: see :mod:`engine.studies.stats`; Ng et al. 2024 (Audio2Photoreal) for the strength-split
stacked bars; Kucherenko et al. 2024 (GENEA 2022) for attention checks and appropriateness.
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path

from engine.studies import layout, stats
from engine.studies.responses import Answer, Collected, collect
from rigs.core.errors import ConfigError

STRENGTHS = ("strong", "slight", "none")


@dataclass(frozen=True)
class Tally:
    """Answers between options X and Y by strength."""

    strong_x: int = 0
    slight_x: int = 0
    none: int = 0
    slight_y: int = 0
    strong_y: int = 0

    @staticmethod
    def of(preferences) -> "Tally":
        """From preferences for X: +2 strongly X ... -2 strongly Y."""
        p = list(preferences)
        return Tally(p.count(2), p.count(1), p.count(0), p.count(-1), p.count(-2))

    @property
    def wins_x(self) -> int:
        return self.strong_x + self.slight_x

    @property
    def wins_y(self) -> int:
        return self.strong_y + self.slight_y

    @property
    def n(self) -> int:
        return self.wins_x + self.none + self.wins_y

    def shares(self) -> tuple[float, ...]:
        """(strong X, slight X, none, slight Y, strong Y) as fractions of all answers."""
        counts = (self.strong_x, self.slight_x, self.none, self.slight_y, self.strong_y)
        return tuple(c / self.n if self.n else 0.0 for c in counts)


@dataclass(frozen=True)
class Comparison:
    """X against Y: a pair of systems, or one system's matched against mismatched motion."""

    kind: str             # "pair" or "appropriateness"
    x: str
    y: str
    tally: Tally
    p: float
    p_holm: float
    share_x: float | None          # of the decisive answers preferring X
    ci: tuple[float, float]        # Wilson 95 % of share_x

    @property
    def label(self) -> str:
        return f"{self.x} vs {self.y}"


@dataclass(frozen=True)
class Rater:
    """One rater: answers given, attention checks failed of those answered, kept or not, agreement."""

    rater_id: str
    answers: int
    checks_failed: int
    checks: int
    kept: bool
    agree: int = 0
    compared: int = 0


@dataclass(frozen=True)
class Analysis:
    study_id: str
    comparisons: list[Comparison]
    raters: list[Rater]
    kappa: float | None
    answers_counted: int
    max_failed_checks: int
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def pairs(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.kind == "pair"]

    @property
    def appropriateness(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.kind == "appropriateness"]


def preference_for(a: Answer, stimulus: str) -> int:
    """The answer as a preference for ``stimulus`` (+2 strongly for it ... -2 strongly against)."""
    if stimulus == a.right:
        return a.answer
    if stimulus == a.left:
        return -a.answer
    raise ValueError(f"stimulus {stimulus} not in the answer to {a.trial_id}")


def _sign(v: int) -> int:
    return (v > 0) - (v < 0)


def _comparisons(kind: str, labels: list[tuple[str, str]], prefs: dict[tuple[str, str], list[int]]) -> list[Comparison]:
    tallies = [Tally.of(prefs.get(lab, [])) for lab in labels]
    ps = [stats.sign_test_p(t.wins_x, t.wins_y) for t in tallies]
    adjusted = stats.holm(ps)
    out = []
    for (x, y), t, p, ph in zip(labels, tallies, ps, adjusted):
        decisive = t.wins_x + t.wins_y
        out.append(Comparison(kind, x, y, t, p, ph, t.wins_x / decisive if decisive else None,
                              stats.wilson_interval(t.wins_x, decisive)))
    return out


def analyze(key: layout.Key, collected: Collected, *, max_failed_checks: int = 0) -> Analysis:
    """The analysis of ``collected`` answers (one per session and trial) to the study ``key``."""
    if max_failed_checks < 0:
        raise ConfigError("--max-failed-checks must be 0 or more")
    by_rater: dict[str, list[Answer]] = {}
    for a in collected.answers:
        by_rater.setdefault(a.rater_id, []).append(a)
    order = {s: i for i, s in enumerate(key.systems)}

    raters: dict[str, Rater] = {}
    for rater, answers in sorted(by_rater.items()):
        checks = [a for a in answers if key.trials[a.trial_id].kind == "attention"]
        failed = sum(preference_for(a, _intact(key, a)) <= 0 for a in checks)
        raters[rater] = Rater(rater, len(answers), failed, len(checks), failed <= max_failed_checks)
    kept = [a for a in collected.answers if raters[a.rater_id].kept]

    pair_prefs: dict[tuple[str, str], list[int]] = {}
    fit_prefs: dict[tuple[str, str], list[int]] = {}
    signs: dict[str, dict[str, int]] = {}
    per_trial: dict[str, list[int]] = {}
    for a in kept:
        trial = key.trials[a.trial_id]
        if trial.kind == "pair":
            sx, sy = sorted((trial.left, trial.right), key=lambda s: order[key.stimuli[s].system])
            pref = preference_for(a, sx)
            pair_prefs.setdefault((key.stimuli[sx].system, key.stimuli[sy].system), []).append(pref)
            signs.setdefault(a.rater_id, {})[a.trial_id] = _sign(pref)
            per_trial.setdefault(a.trial_id, [0, 0, 0])[1 - _sign(pref)] += 1
        elif trial.kind == "mismatched":
            matched = _intact(key, a)
            system = key.stimuli[matched].system
            fit_prefs.setdefault((f"{system} matched", f"{system} mismatched"), []).append(preference_for(a, matched))

    pair_labels = [(x, y) for i, x in enumerate(key.systems) for y in key.systems[i + 1:]
                   if any(t.kind == "pair" for t in key.trials.values())]
    fit_labels = [(f"{s} matched", f"{s} mismatched") for s in key.systems
                  if any(t.kind == "mismatched" and key.stimuli[t.left].system == s for t in key.trials.values())]
    comparisons = _comparisons("pair", pair_labels, pair_prefs) + _comparisons("appropriateness", fit_labels, fit_prefs)

    agreement = stats.agreement_with_others(signs)
    final = [Rater(r.rater_id, r.answers, r.checks_failed, r.checks, r.kept, *agreement.get(r.rater_id, (0, 0)))
             for r in raters.values()]
    kappa = stats.fleiss_kappa(list(per_trial.values()))
    notes = list(collected.notes)
    unchecked = [r.rater_id for r in final if r.checks == 0 and any(t.kind == "attention" for t in key.trials.values())]
    if unchecked:
        notes.append(f"{len(unchecked)} raters answered no attention check and are kept unchecked: "
                     f"{', '.join(unchecked)}")
    return Analysis(key.study_id, comparisons, final, kappa, len(kept), max_failed_checks, notes,
                    list(collected.files))


def _intact(key: layout.Key, a: Answer) -> str:
    """The stimulus of an attention or mismatched trial shown as made (the other one is broken or mismatched)."""
    trial = key.trials[a.trial_id]
    intact = [s for s in (trial.left, trial.right) if key.stimuli[s].condition == "intact"]
    if len(intact) != 1:
        raise ConfigError(f"study key: trial {trial.id} ({trial.kind}) should have exactly one intact side")
    return intact[0]


def run_analysis(study, responses, *, out=None, max_failed_checks: int = 0, duplicate_raters: str = "error") -> list[str]:
    """Read, analyse and write the report of ``study`` (``parley study analyze``); returns the lines to print."""
    from engine.studies.report import write_report

    root = Path(study)
    key = layout.load_key(root)
    manifest = layout.read_json(root / layout.MANIFEST, what="study manifest", max_bytes=layout.MAX_KEY_BYTES)
    collected = collect(responses, key, duplicate_raters=duplicate_raters)
    result = analyze(key, collected, max_failed_checks=max_failed_checks)
    out_dir = Path(out) if out else root / "analysis"
    stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    paths = write_report(result, out_dir, manifest=manifest, created=stamp)
    kept = sum(r.kept for r in result.raters)
    lines = [f"raters: {kept} kept of {len(result.raters)} ({result.answers_counted} answers counted)"]
    for c in result.comparisons:
        share = "-" if c.share_x is None else f"{100 * c.share_x:.0f}%"
        lines.append(f"{c.label}: {c.x} preferred in {share} of {c.tally.wins_x + c.tally.wins_y} decisive answers "
                     f"(95% CI {100 * c.ci[0]:.0f}-{100 * c.ci[1]:.0f}%), {c.tally.none} ties, sign test p={c.p:.3g}")
    lines += [str(p) for p in paths]
    return lines
