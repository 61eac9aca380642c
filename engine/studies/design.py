"""The trials of a study: every pair of systems on every utterance, attention checks and mismatched-audio
trials, counterbalanced and blinded.

* **Pairs**: for each pair of systems and each utterance, one trial; which system is on the left alternates
  from utterance to utterance (and the page mirrors every trial for half of the raters, see ``web/survey.js``).
* **Attention checks** (GENEA): one side obviously broken, the other the same system intact: the motion
  ``shifted`` late by :data:`SHIFT_S` against the audio, or ``frozen`` on one frame. A rater who prefers
  the broken side (or has no preference) fails the check. They use systems that move
  (``attention_systems``: a system at rest cannot be frozen visibly); the conditions and sides alternate.
* **Mismatched audio** (GENEA appropriateness): a system's motion for the utterance heard against the same
  system's motion for another utterance, cut or held to the same length; preferring the matched side
  measures how well the motion fits *this* speech rather than speech in general.

The order is shuffled once (raters each get their own order from the page) with no attention check first;
trial ids (``t01`` ...) follow that order and stimulus ids are random tokens, so neither names a system.

References: Kucherenko et al., "Evaluating gesture generation in a large-scale open challenge: the GENEA
Challenge 2022", ACM TOG 2024 (attention checks, matched vs mismatched appropriateness).
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

from engine.studies.layout import Key, Stimulus, Trial
from rigs.core.errors import ConfigError

SHIFT_S = 1.0                 # the attention check's delay of the motion against the audio
ATTENTION_CONDITIONS = ("shifted", "frozen")
STIMULUS_ID_HEX = 10          # hex digits of a stimulus id


@dataclass(frozen=True)
class DesignConfig:
    """How many checks: ``attention`` trials in all, ``mismatched`` trials per system; ``seed`` fixes the
    order, the sides of the checks and the ids."""

    attention: int = 2
    mismatched: int = 0
    seed: int = 0


def design_study(study_id: str, audios: list[str], systems: list[str], *, attention_systems: list[str],
                 config: DesignConfig = DesignConfig()) -> Key:
    """The key of a study comparing ``systems`` on the utterances ``audios`` (their names)."""
    if len(systems) < 2:
        raise ConfigError("a study compares at least two systems: give --system twice or more")
    if not audios:
        raise ConfigError("a study needs at least one utterance")
    if config.attention < 0 or config.mismatched < 0:
        raise ConfigError("--attention and --mismatched must be 0 or more")
    if config.attention and not attention_systems:
        raise ConfigError("attention checks need a system whose motion can be seen; none moves (use --attention 0)")
    if config.mismatched and len(audios) < 2:
        raise ConfigError("mismatched-audio trials need at least two utterances")
    rng = random.Random(config.seed)
    plans: list[tuple[str, str, tuple, tuple]] = []   # (kind, heard audio, left spec, right spec)

    def spec(system: str, motion: str, condition: str, heard: str) -> tuple:
        return (system, motion, condition, heard)

    for p, (a, b) in enumerate(itertools.combinations(systems, 2)):
        for k, audio in enumerate(audios):
            sa, sb = spec(a, audio, "intact", audio), spec(b, audio, "intact", audio)
            plans.append(("pair", audio, *((sa, sb) if (k + p) % 2 == 0 else (sb, sa))))
    offset = rng.randrange(len(audios))
    for i in range(config.attention):
        condition = ATTENTION_CONDITIONS[i % len(ATTENTION_CONDITIONS)]
        system = attention_systems[(i // len(ATTENTION_CONDITIONS)) % len(attention_systems)]
        audio = audios[(offset + i) % len(audios)]
        good, broken = spec(system, audio, "intact", audio), spec(system, audio, condition, audio)
        plans.append(("attention", audio, *((broken, good) if i % 4 in (0, 3) else (good, broken))))
    for s, system in enumerate(systems):
        for j in range(config.mismatched):
            heard = audios[j % len(audios)]
            other = audios[(j + 1 + s) % len(audios)]   # another utterance for each system
            if other == heard:
                other = audios[(j + 1) % len(audios)]
            matched, mismatched = spec(system, heard, "intact", heard), spec(system, other, "mismatched", heard)
            plans.append(("mismatched", heard, *((matched, mismatched) if (j + s) % 2 == 0 else (mismatched, matched))))
    rng.shuffle(plans)
    if len(plans) > 1 and plans[0][0] == "attention":
        first = next((i for i, p in enumerate(plans) if p[0] != "attention"), 0)
        plans[0], plans[first] = plans[first], plans[0]

    ids: dict[tuple, str] = {}
    stimuli: dict[str, Stimulus] = {}

    def stimulus(sp: tuple) -> str:
        if sp not in ids:
            while True:
                token = f"s{rng.getrandbits(4 * STIMULUS_ID_HEX):0{STIMULUS_ID_HEX}x}"
                if token not in stimuli:
                    break
            ids[sp] = token
            stimuli[token] = Stimulus(token, *sp)
        return ids[sp]

    width = max(2, len(str(len(plans))))
    trials = {}
    for n, (kind, audio, left, right) in enumerate(plans, start=1):
        tid = f"t{n:0{width}d}"
        trials[tid] = Trial(tid, kind, audio, stimulus(left), stimulus(right))
    return Key(study_id, tuple(systems), stimuli, trials)
