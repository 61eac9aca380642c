"""Written forms in transcripts (issue 16.15): spelled out as they are spoken, so forced alignment keeps the
transcript instead of dropping it for recognition."""
from __future__ import annotations

import logging
import shutil
import subprocess

import pytest

from engine.phonetics import normalize_transcript


@pytest.mark.parametrize("written, spoken", [
    ("Dr. Smith", "doctor smith"),
    ("paid $5", "paid five dollars"),
    ("$5.50 and $1", "five dollars fifty cents and one dollar"),
    ("on the 14th, 21st and 2nd", "on the fourteenth twenty first and second"),
    ("100%", "one hundred percent"),
    ("in 1961, 1900, 2005 and 2024", "in nineteen sixty one nineteen hundred two thousand five and twenty twenty four"),
    ("the 1960s and '90s", "the nineteen sixties and nineties"),
    ("2.5 km", "two point five km"),
    ("at 10:30, 10:05 or 10:00", "at ten thirty ten oh five or ten o'clock"),
    ("1,000,000 people", "one million people"),
    ("-5 degrees", "minus five degrees"),
    ("Mr. & Mrs. Jones", "mister and missus jones"),
    ("plain words stay", "plain words stay"),
])
def test_written_forms_are_spelled_out(written, spoken):
    assert " ".join(normalize_transcript(written)) == spoken


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng to speak the test sentence")
def test_a_written_transcript_is_aligned_not_dropped(tmp_path, caplog):
    """espeak-ng says the words; the transcript gives them in written form; alignment must keep it."""
    from engine.audio.load import load_audio
    from engine.phonetics import phone_timing

    wav = tmp_path / "s.wav"
    said = "doctor smith paid five dollars on the fourteenth of may nineteen sixty one"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), said], check=True)
    with caplog.at_level(logging.WARNING):
        phones = phone_timing(load_audio(wav), transcript="Dr. Smith paid $5 on the 14th of May 1961.")
    assert "does not match" not in caplog.text and "no words" not in caplog.text
    words = [p.word for p in phones if p.word]
    assert {"DOCTOR", "DOLLARS", "FOURTEENTH", "NINETEEN", "SIXTY"} <= set(words)
