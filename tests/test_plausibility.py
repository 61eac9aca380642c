"""Plausibility rules for recognised phones: TH/DH need frication, consonants have a longest duration."""
import numpy as np
import pytest

from engine.phonetics.plausibility import frication_frames, guard_dentals, limit_durations
from rigs.core.phones import Phone

SR = 16000


def _pcm(parts):
    """int16 PCM from (kind, seconds) parts: 'hiss' (white noise), 'hum' (a 150 Hz tone), 'quiet', all
    over a faint background noise (the recording's noise floor)."""
    rng = np.random.default_rng(0)
    out = []
    for kind, sec in parts:
        n = int(sec * SR)
        t = np.arange(n) / SR
        if kind == "hiss":
            y = 0.05 * rng.standard_normal(n)
        elif kind == "hum":
            y = 0.3 * np.sin(2 * np.pi * 150 * t)
        else:
            y = np.zeros(n)
        out.append(y + 0.0005 * rng.standard_normal(n))
    return (np.concatenate(out) * 32767).astype("<i2")


def test_frication_is_found_in_hiss_not_in_a_hum_or_quiet():
    pcm = _pcm([("quiet", 0.5), ("hum", 0.5), ("hiss", 0.3), ("quiet", 0.5)])
    f = frication_frames(pcm, min_ratio=0.3, min_above_floor_db=15.0)
    assert f.size == pcm.size // 160
    assert not f[:100].any()                   # quiet and hum: 0-1.0 s
    assert f[102:128].all()                    # hiss: 1.0-1.3 s
    assert not f[132:].any()


def test_dentals_without_frication_become_stops():
    fricated = np.zeros(100, bool)
    fricated[20:25] = True                      # 0.20-0.25 s
    phones = [Phone(0.0, 0.1, "SIL"), Phone(0.1, 0.18, "DH", None, "THE"), Phone(0.18, 0.3, "TH"),
              Phone(0.3, 0.4, "AH")]
    out = guard_dentals(phones, fricated)
    assert [p.label for p in out] == ["SIL", "D", "TH", "AH"]
    assert out[1].word == "THE" and (out[1].start_s, out[1].end_s) == (0.1, 0.18)


def test_long_consonants_are_cut_and_the_rest_is_silence():
    phones = [Phone(0.0, 0.6, "M"), Phone(0.6, 0.8, "AA"), Phone(0.8, 1.5, "S"), Phone(1.5, 1.6, "SIL"),
              Phone(1.6, 1.7, "N")]
    out = limit_durations(phones, max_consonant_s=0.3)
    assert [(p.label, round(p.start_s, 3), round(p.end_s, 3)) for p in out] == [
        ("SIL", 0.0, 0.3), ("M", 0.3, 0.6), ("AA", 0.6, 0.8), ("S", 0.8, 1.1), ("SIL", 1.1, 1.5),
        ("SIL", 1.5, 1.6), ("N", 1.6, 1.7)]
    assert max(p.duration_s for p in out if p.label != "SIL") <= 0.3 + 1e-9


@pytest.mark.parametrize("max_s", [0.1, 0.25])
def test_limits_keep_contiguity(max_s):
    rng = np.random.default_rng(3)
    t, phones = 0.0, []
    for lab in "SIL M AA S IY N SIL P".split():
        d = float(rng.uniform(0.05, 0.5))
        phones.append(Phone(t, t + d, lab))
        t += d
    out = limit_durations(phones, max_consonant_s=max_s)
    assert out[0].start_s == 0.0 and out[-1].end_s == pytest.approx(t)
    assert all(a.end_s == pytest.approx(b.start_s) for a, b in zip(out, out[1:]))
