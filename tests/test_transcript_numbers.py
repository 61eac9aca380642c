"""Numbers in transcripts (issue 16, item 11): a number of 4300+ digits was a traceback (Python's limit on
int() of long digit strings); it is now read digit by digit like every number of more than 15 digits."""
from engine.phonetics import normalize_transcript


def test_a_number_over_4300_digits_is_read_digit_by_digit():
    words = normalize_transcript("call " + "9" * 4400 + " now")
    assert words[0] == "call" and words[-1] == "now"
    assert words[1:-1] == ["nine"] * 4400


def test_shorter_numbers_are_spelled_out():
    assert normalize_transcript("1961") == ["nineteen", "sixty", "one"]         # a year (tests/test_written_forms.py)
    assert normalize_transcript("3061") == ["three", "thousand", "sixty", "one"]
    assert normalize_transcript("007") == ["seven"]
    assert normalize_transcript("0") == ["zero"]
    assert " ".join(normalize_transcript("1234567")) == "one million two hundred thirty four thousand five hundred sixty seven"
    assert normalize_transcript("0001234567") == normalize_transcript("1234567")
    assert normalize_transcript("1" * 16) == ["one"] * 16
