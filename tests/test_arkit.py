"""ARKit channel registry and alias matching."""
import pytest

from rigs.core.arkit import ARKIT_NAMES, LIVELINK_COLUMNS, REGIONS, canonical_name, match_names


@pytest.mark.parametrize("name,expected", [
    ("jawOpen", "jawOpen"), ("JawOpen", "jawOpen"), ("JAWOPEN", "jawOpen"),
    ("eyeBlink_L", "eyeBlinkLeft"), ("eyeBlink_R", "eyeBlinkRight"), ("EyeBlinkLeft", "eyeBlinkLeft"),
    ("eyeBlink.L", "eyeBlinkLeft"), ("L_eyeBlink", "eyeBlinkLeft"),
    ("blendShape1.mouthSmile_L", "mouthSmileLeft"), ("head_geo:jawOpen", "jawOpen"),
    ("CC_Base_mouthPress_R", "mouthPressRight"), ("A01_Brow_Inner_Up", "browInnerUp"),
    ("browInnerUp_L", "browInnerUp"), ("cheekPuff_R", "cheekPuff"),
    ("mouthLeft", "mouthLeft"), ("mouthRight", "mouthRight"), ("jawLeft", "jawLeft"),
    ("tongueOut", "tongueOut"), ("Mouth_Roll_Lower", "mouthRollLower"),
    ("Basis", None), ("Key 1", None), ("mouthSomething", None), ("", None),
])
def test_canonical_name(name, expected):
    assert canonical_name(name) == expected


def test_every_canonical_and_livelink_name_maps_to_itself():
    for n in ARKIT_NAMES:
        assert canonical_name(n) == n
        assert canonical_name(n[0].upper() + n[1:]) == n
    assert len(LIVELINK_COLUMNS) == 61
    assert [c for c in LIVELINK_COLUMNS[:52] if canonical_name(c) is None] == []
    assert sorted(canonical_name(c) for c in LIVELINK_COLUMNS[:52]) == list(ARKIT_NAMES)


def test_match_names_groups_split_channels_and_reports_unmatched():
    mapping, unmatched = match_names(["Basis", "browInnerUp_L", "browInnerUp_R", "jawOpen", "custom"])
    assert mapping == {"browInnerUp": ["browInnerUp_L", "browInnerUp_R"], "jawOpen": ["jawOpen"]}
    assert unmatched == ["Basis", "custom"]


def test_regions_partition_the_channels():
    allr = [n for v in REGIONS.values() for n in v]
    assert sorted(allr) == list(ARKIT_NAMES)
