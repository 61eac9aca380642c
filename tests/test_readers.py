"""Real-capture readers (engine/training/readers): each format on the shared files, to_windows onto the shard
contract, and the bad inputs (typed errors naming the file; folder readers skip and count)."""
import shutil

import numpy as np
import pytest
import soundfile as sf

from engine.training.corpus.shards import TARGETS, CorpusSpec, Shard, ShardWriter
from engine.training.readers import (CapturedTake, read_beat2, read_bvh_take, read_facegood, read_livelink,
                                     read_takes, to_windows)
from engine.training.readers.facegood import facegood_expression
from rigs.core.arkit import ARKIT_INDEX, NUM_CHANNELS
from rigs.core.errors import AudioError, ClipError, ConfigError
from rigs.core.rotations import axis_angle_to_matrix, matrix_to_euler
from rigs.core.skeleton import canonical_skeleton
from rigs.formats.bvh import read_bvh
from rigs.formats.livelink import read_livelink_take

SR = 16000
LIVELINK = "MySlate_3_Jason_Millers_iPhone"
# SMPL-X's joint order (smplx.joint_names.JOINT_NAMES, first 25), written out here so the test does not read it
# from the code under test
SMPLX_ORDER = ("pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
               "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
               "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist", "jaw",
               "left_eye_smplhf", "right_eye_smplhf")


def tone(path, duration_s, sr=SR):
    t = np.arange(int(round(duration_s * sr))) / sr
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)
    return path


def csv_rows(path):
    lines = path.read_text().splitlines()
    return lines[0].split(","), [r.split(",") for r in lines[1:]]


@pytest.fixture
def livelink_take(data_dir, tmp_path):
    """A copy of the real Live Link CSV with a synthesised wav of the take's length next to it."""
    csv = tmp_path / f"{LIVELINK}.csv"
    shutil.copy(data_dir / "livelink" / f"{LIVELINK}.csv", csv)
    tone(tmp_path / f"{LIVELINK}.wav", read_livelink_take(csv).clip.duration_s)
    return csv


# ---------------------------------------------------------------------------------------------- Live Link

def test_livelink_take_resampled_to_30fps_matches_the_csv(livelink_take):
    take = read_livelink(livelink_take)
    header, rows = csv_rows(livelink_take)
    assert take.fps == 30.0 and take.sample_rate == SR
    assert take.num_frames == round(len(rows) / 59.94 * 30)               # 328 rows at 59.94 -> 164 frames
    assert take.valid_channels == tuple(sorted(ARKIT_INDEX, key=ARKIT_INDEX.get)) and take.expression_valid.all()
    # frame 30 (1.0 s) lies on row 59.94 of the CSV: linear between rows 59 and 60
    col = header.index("JawOpen")
    r = 1.0 * 59.94
    want = float(rows[59][col]) * (60 - r) + float(rows[60][col]) * (r - 59)
    assert take.expression[30, ARKIT_INDEX["jawOpen"]] == pytest.approx(want, abs=2e-3)
    # eyes: the left eye's yaw in degrees, read back from the axis-angle the take holds
    k = 100
    yaw_pitch = np.degrees(matrix_to_euler(axis_angle_to_matrix(take.eye_rotations[k, 0].astype(float)), "YXZ"))
    r = k / 30 * 59.94
    i = int(r)
    want = [float(rows[i][header.index(c)]) * (i + 1 - r) + float(rows[i + 1][header.index(c)]) * (r - i)
            for c in ("LeftEyeYaw", "LeftEyePitch")]
    assert yaw_pitch[:2] == pytest.approx(np.degrees(want), abs=0.3)
    assert np.abs(np.degrees(take.eye_rotations)).max() > 5           # the eyes do move in this take
    assert take.head_rotation is None          # the recording's head columns are zero throughout: tracking was off
    assert take.audio_duration_s == pytest.approx(take.duration_s, abs=2 / 30)


def test_livelink_head_rotation_kept_when_recorded(livelink_take):
    """A take whose head columns move keeps its head; one whose eye columns are all zero has no eyes."""
    header, rows = csv_rows(livelink_take)
    pitch = header.index("HeadPitch")
    eyes = [header.index(c) for c in header if "Eye" in c and c.endswith(("Yaw", "Pitch", "Roll"))]
    for i, r in enumerate(rows):
        r[pitch] = f"{0.2 * np.sin(i / 20):.6f}"
        for c in eyes:
            r[c] = "0"
    livelink_take.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n")
    take = read_livelink(livelink_take)
    assert take.eye_rotations is None
    assert take.head_rotation is not None and take.head_rotation.shape == (take.num_frames, 3)
    k = 100                                                       # one axis: the rotation's angle is |pitch|
    r = k / 30 * 59.94
    i = int(r)
    want = 0.2 * (np.sin(i / 20) * (i + 1 - r) + np.sin((i + 1) / 20) * (r - i))
    assert np.linalg.norm(take.head_rotation[k]) == pytest.approx(abs(want), abs=3e-3)


def test_livelink_audio_from_the_take_video(livelink_take, tmp_path):
    """The app keeps a take's sound in its .mov: read through engine.audio's ffmpeg fallback."""
    import subprocess
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    folder = tmp_path / "mov"
    folder.mkdir()
    csv = folder / "take1.csv"
    shutil.copy(livelink_take, csv)
    dur = read_livelink_take(csv).clip.duration_s
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"sine=frequency=440:duration={dur}",
                    "-ar", "48000", "-c:a", "aac", str(folder / "take1.mov")], check=True, timeout=60)
    report = read_takes(folder)
    assert report.num_skipped == 0 and report.takes[0].audio_source.suffix == ".mov"
    take = report.takes[0]
    assert take.audio_duration_s == pytest.approx(dur, abs=0.05)
    spec = np.abs(np.fft.rfft(take.audio[:SR]))
    assert np.argmax(spec) == pytest.approx(440, abs=2)                 # 1 Hz bins: the tone is at 440 Hz


def test_livelink_both_count_header_spellings(livelink_take, tmp_path):
    other = tmp_path / "other" / f"{LIVELINK}.csv"
    other.parent.mkdir()
    other.write_text(livelink_take.read_text().replace("BlendShapeCount", "BlendshapeCount", 1))
    a, b = read_livelink_take(livelink_take), read_livelink_take(other)
    assert (a.count_header, b.count_header) == ("BlendShapeCount", "BlendshapeCount")
    assert b.ignored == () and len(b.channels) == NUM_CHANNELS and len(b.rotations) == 9
    np.testing.assert_array_equal(a.clip.expression, b.clip.expression)


def test_read_takes_pairs_by_stem_and_skips_bad_takes(livelink_take, tmp_path, caplog):
    text = livelink_take.read_text()
    dur = read_livelink_take(livelink_take).clip.duration_s
    (tmp_path / "no_audio.csv").write_text(text)                                        # no audio
    (tmp_path / "short.csv").write_text(text)
    tone(tmp_path / "short.wav", dur - 0.2)                                             # 6 frames short
    lines = text.splitlines()
    lines[5] = ",".join(lines[5].split(",")[:10] + ["nan"] + lines[5].split(",")[11:])
    (tmp_path / "nan.csv").write_text("\n".join(lines) + "\n")
    tone(tmp_path / "nan.wav", dur)
    (tmp_path / "unknown.csv").write_text(text.replace("MouthClose", "MouthClosed", 1))  # unknown channel
    tone(tmp_path / "unknown.wav", dur)
    (tmp_path / f"{LIVELINK}_cal.csv").write_text(text)                                 # calibration: passed over
    (tmp_path / "mute.csv").write_text(text)                                            # a silent recording
    sf.write(tmp_path / "mute.wav", np.full(int(dur * SR), 1e-4, np.float32), SR)      # -80 dBFS
    report = read_takes(tmp_path)
    assert [t.take_id for t in report.takes] == [LIVELINK]
    reasons = {p.name: why for p, why in report.skipped}
    assert sorted(reasons) == ["mute.csv", "nan.csv", "no_audio.csv", "short.csv", "unknown.csv"]
    assert "silent" in reasons["mute.csv"] and "mute.wav" in reasons["mute.csv"]
    assert "no audio" in reasons["no_audio.csv"]
    assert "frames apart" in reasons["short.csv"] and "short.wav" in reasons["short.csv"]
    assert "NaN" in reasons["nan.csv"]
    assert "MouthClosed" in reasons["unknown.csv"]
    assert all(str(tmp_path) in why for why in reasons.values())
    assert report.num_skipped == 5 and sum("skipping" in r.message for r in caplog.records) == 5


# ---------------------------------------------------------------------------------------------- FACEGOOD

def test_facegood_mouth_only_and_the_mapping_agrees_with_the_mapped_csv(data_dir):
    folder = data_dir / "facegood"
    take = read_facegood(folder, "1114_2_01")
    assert take.fps == 30.0 and take.num_frames == 3295 and take.speaker == "facegood" and "MIT" in take.licence
    assert abs(take.audio_duration_s - take.duration_s) * 30 < 1.0
    valid = take.valid_channels
    assert len(valid) == 27 and all(n.startswith(("jaw", "mouth")) for n in valid)
    invalid = ~take.expression_valid
    assert not take.expression[:, invalid].any()                               # eyes, brows...: 0, not valid
    jaw = take.expression[:, ARKIT_INDEX["jawOpen"]]
    assert 0.3 < jaw.max() <= 1.0 and jaw.std() > 0.03
    # the spreadsheet's mapping of the 116-column matrix gives the shipped CSV (to its 5-decimal rounding)
    mapped, valid_m = facegood_expression(folder, "1114_2_01", prefer_mapped_csv=False)
    np.testing.assert_array_equal(valid_m, take.expression_valid)
    assert np.abs(mapped - take.expression).max() < 1e-5


def test_bench_reads_facegood_through_the_reader(data_dir):
    import sys
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    try:
        import references
    finally:
        sys.path.pop(0)
    caps = references.facegood_captures(data_dir)
    assert [c.name for c in caps] == list(references.FACEGOOD_FIT + references.FACEGOOD_HELD_OUT)
    csv = data_dir / "facegood" / "arkit_mouth_csv" / "1114_2_04_arkit_mouth_30fps.csv"
    header, rows = csv_rows(csv)
    want = np.array([[float(v) for v in r] for r in rows], np.float32)
    got = caps[3].expression
    assert caps[3].split == references.HELD_OUT and got.dtype == np.float32
    for k, name in enumerate(header[2:], start=2):
        np.testing.assert_array_equal(got[:, ARKIT_INDEX[name]], want[:, k])


# ---------------------------------------------------------------------------------------------- BEAT2

def write_beat2(path, *, fps=60, seconds=2.0, nan=False):
    """An npz in BEAT2's smplxflame_30 layout: poses (T, 165), trans, betas (300), expressions (T, 100),
    model, gender, mocap_frame_rate. Left elbow bends 0 -> 90 degrees about +Y, jaw opens 20 degrees about +X,
    the root walks 1 m/s along +Z; the left hand's fingers (joints 25..39) are bent and must be dropped."""
    T = int(seconds * fps)
    t = np.arange(T) / fps
    poses = np.zeros((T, 55, 3))
    poses[:, SMPLX_ORDER.index("left_elbow"), 1] = np.radians(90) * t / t[-1]
    poses[:, SMPLX_ORDER.index("jaw"), 0] = np.radians(20)
    poses[:, 25:40, 2] = 1.0
    trans = np.stack([np.zeros(T), np.full(T, 1.1), 0.5 + t], axis=1)
    if nan:
        poses[7, 3, 0] = np.nan
    np.savez(path, poses=poses.reshape(T, 165), trans=trans, betas=np.zeros(300), expressions=np.zeros((T, 100)),
             model=np.array("smplx2020"), gender=np.array("neutral"), mocap_frame_rate=np.array(fps))
    return path


def test_beat2_maps_smplx_joints_onto_the_canonical_skeleton(tmp_path):
    (tmp_path / "smplxflame_30").mkdir()
    (tmp_path / "wave16k").mkdir()
    npz = write_beat2(tmp_path / "smplxflame_30" / "2_scott_0_1_1.npz")
    tone(tmp_path / "wave16k" / "2_scott_0_1_1.wav", 2.0)
    take = read_beat2(npz)
    sk = canonical_skeleton()
    assert take.speaker == "scott" and take.fps == 30.0 and take.num_frames == 60 and take.expression is None
    deg = np.degrees(np.linalg.norm(take.joint_angles, axis=-1))              # (T, 25) rotation angle per joint
    elbow = sk.index("left_elbow")
    t = np.arange(60) / 30
    np.testing.assert_allclose(deg[:, elbow], 90 * np.minimum(t / (119 / 60), 1), atol=0.05)
    assert np.degrees(take.joint_angles[45, elbow, 1]) > 60                     # about +Y
    np.testing.assert_allclose(deg[:, sk.index("jaw")], 20, atol=1e-4)
    others = [j for j in range(sk.num_joints) if j not in (elbow, sk.index("jaw"))]
    assert deg[:, others].max() < 1e-6                                          # fingers dropped, nothing leaks
    # the bend shows in the canonical forward kinematics: elbow -> wrist turns 90 degrees at the end (2 s)
    _, pos = sk.forward_kinematics(take.joint_angles[[0, -1]].astype(float))
    seg = pos[:, sk.index("left_wrist")] - pos[:, elbow]
    cos = seg[0] @ seg[1] / np.linalg.norm(seg[0]) / np.linalg.norm(seg[1])
    assert np.degrees(np.arccos(cos)) == pytest.approx(90 * (59 / 30) / (119 / 60), abs=0.5)
    np.testing.assert_allclose(take.root_translation[:, 2], t, atol=1e-5)        # metres from the first frame


def test_beat2_bad_files(tmp_path):
    tone(tmp_path / "a.wav", 2.0)
    with pytest.raises(ClipError, match=r"a\.npz.*NaN.*frame 7"):
        read_beat2(write_beat2(tmp_path / "a.npz", nan=True))
    (tmp_path / "b.npz").write_bytes(b"not a zip")
    with pytest.raises(ClipError, match=r"b\.npz: not an \.npz"):
        read_beat2(tmp_path / "b.npz", tmp_path / "a.wav")
    np.savez(tmp_path / "c.npz", poses=np.zeros((10, 156)), trans=np.zeros((10, 3)), mocap_frame_rate=30)
    with pytest.raises(ClipError, match="156 columns"):
        read_beat2(tmp_path / "c.npz", tmp_path / "a.wav")
    tone(tmp_path / "d.wav", 2.5)                                              # 15 frames longer than the motion
    with pytest.raises(ClipError, match="frames apart"):
        read_beat2(write_beat2(tmp_path / "d.npz"))


# ---------------------------------------------------------------------------------------------- BVH

def _bone_angle_deg(a0, a1, b0, b1):
    u, v = a1 - a0, b1 - b0
    cos = np.sum(u * v, -1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


@pytest.mark.parametrize("name", ["cmu_131_01.bvh", "more/mocapbank_test.bvh"])
def test_bvh_retargeted_bones_point_where_the_capture_points(data_dir, name):
    path = data_dir / "bvh" / name
    take = read_bvh_take(path)
    bvh = read_bvh(path)
    assert take.audio is None and take.meta["retarget_map"] == "cmu_bvh"
    assert take.num_frames == round(bvh.num_frames / bvh.fps * 30)
    sk = canonical_skeleton()
    _, pos = sk.forward_kinematics(take.joint_angles.astype(float), take.root_translation.astype(float))
    _, bpos = bvh.forward_kinematics()
    frames = np.minimum(np.round(np.arange(take.num_frames) / 30 * bvh.fps).astype(int), bvh.num_frames - 1)
    bpos = bpos[frames]
    for a, b, ba, bb in [("left_hip", "left_knee", "LeftHip", "LeftKnee"),
                         ("right_knee", "right_ankle", "RightKnee", "RightAnkle"),
                         ("left_shoulder", "left_elbow", "LeftShoulder", "LeftElbow"),
                         ("right_elbow", "right_wrist", "RightElbow", "RightWrist")]:
        err = _bone_angle_deg(pos[:, sk.index(a)], pos[:, sk.index(b)], bpos[:, bvh.index(ba)], bpos[:, bvh.index(bb)])
        assert np.percentile(err, 95) < 0.5, (a, b, np.percentile(err, 95))  # measured: 0.01
    knee = np.degrees(np.linalg.norm(take.joint_angles[:, sk.index("left_knee")], axis=-1))
    assert knee.max() - knee.min() > 30                                       # the legs really move


def test_bvh_unknown_joints_name_them_and_a_map_fixes_it(data_dir, tmp_path):
    text = (data_dir / "bvh" / "more" / "mocapbank_test.bvh").read_text()
    renamed = {"LeftKnee": "Knee_L", "RightKnee": "Knee_R", "LeftElbow": "Elbow_L"}
    for old, new in renamed.items():
        text = text.replace(f"JOINT {old}\n", f"JOINT {new}\n").replace(f"JOINT {old}\r\n", f"JOINT {new}\r\n")
    odd = tmp_path / "odd.bvh"
    odd.write_text(text)
    assert set(renamed.values()) <= set(read_bvh(odd).names)
    with pytest.raises(ConfigError) as e:
        read_bvh_take(odd)
    msg = str(e.value)
    assert "odd.bvh" in msg and "left_knee" in msg and "left_elbow" in msg and "retarget map JSON" in msg
    assert all(n in msg for n in renamed.values())
    import json
    from rigs.retarget.maps import MAPS_DIR
    m = json.loads((MAPS_DIR / "cmu_bvh.json").read_text())
    m["name"] = "odd"
    m["bones"].update({"left_knee": ["Knee_L"], "right_knee": ["Knee_R"], "left_elbow": ["Elbow_L"]})
    (tmp_path / "odd_map.json").write_text(json.dumps(m))
    take = read_bvh_take(odd, retarget_map=tmp_path / "odd_map.json")
    assert "left_knee" in take.meta["mapped_joints"] and take.num_frames > 100


# ---------------------------------------------------------------------------------------------- windows

SPEC = CorpusSpec(num_joints=25, num_lip_vertices=3, window_s=2.0)
SKELETON = canonical_skeleton()


def test_to_windows_face_take(livelink_take, tmp_path):
    take = read_livelink(livelink_take)
    wins = to_windows(take, SPEC, row=4, split="val")
    T = take.num_frames                                                        # 164 frames: 2 full + 1 partial
    assert len(wins) == 3 and [w.start_s for w in wins] == [0.0, 2.0, 4.0]
    for w in wins:
        for key, (shape, _dtype) in SPEC.shapes().items():
            assert w.arrays[key].shape == shape, key
        assert dict(zip(TARGETS, w.arrays["has"])) == {"expression": True, "joint_angles": False,
                                                       "root_translation": False, "lip_offsets_mm": False,
                                                       "phones": False}
        assert (w.row, w.split, w.item) == (4, "val", LIVELINK) and "expression_valid" not in w.extra
        assert (w.arrays["phones"] == -1).all()
        # the eyes sit on their canonical joints and are flagged; the head columns are zero (not measured)
        assert w.extra["joints_valid"] == [SKELETON.index("left_eye"), SKELETON.index("right_eye")]
        others = np.setdiff1d(np.arange(SPEC.num_joints), w.extra["joints_valid"])
        assert not w.arrays["joint_angles"][:, others].any()
    eyes = np.concatenate([w.arrays["joint_angles"][w.arrays["mask"]][:, w.extra["joints_valid"]] for w in wins])
    np.testing.assert_allclose(eyes, take.eye_rotations, atol=1e-6)
    assert sum(int(w.arrays["mask"].sum()) for w in wins) == T
    expr = np.concatenate([w.arrays["expression"][w.arrays["mask"]] for w in wins])
    np.testing.assert_array_equal(expr, take.expression)
    assert not wins[-1].arrays["expression"][~wins[-1].arrays["mask"]].any()   # padded tail is zeros
    # audio: the window at 2 s holds the take's samples from 2 s on, as int16 PCM
    a = wins[1].arrays["audio"].astype(np.float32) / 32767
    np.testing.assert_allclose(a[:100], take.audio[2 * SR:2 * SR + 100], atol=1e-4)
    # mel frames 4 per label frame; the 220 Hz tone is the loudest mel band
    import librosa
    band = int(np.argmax(wins[0].arrays["mel"][40]))
    edges = librosa.mel_frequencies(SPEC.n_mels + 2, fmin=40.0, fmax=SR / 2)
    assert edges[band] < 220 < edges[band + 2]
    writer = ShardWriter(tmp_path / "corpus", "val-0", SPEC)                   # the shard contract accepts them
    for w in wins:
        writer.add(w)
    assert len(Shard(writer.close())) == 3


def test_to_windows_body_and_partial_face_takes(data_dir, tmp_path):
    npz = write_beat2(tmp_path / "1_wayne_0_1_1.npz", seconds=3.0)
    tone(tmp_path / "1_wayne_0_1_1.wav", 3.0, sr=22050)                        # resampled to the spec's 16 kHz
    body = read_beat2(npz, sample_rate=22050)
    wins = to_windows(body, SPEC, row=0, split="train", hop_s=1.0)
    assert [w.start_s for w in wins] == [0.0, 1.0] and wins[0].voice == "wayne"
    assert list(wins[0].arrays["has"]) == [False, True, True, False, False]
    assert wins[0].arrays["audio"].shape == (SPEC.samples,)
    np.testing.assert_array_equal(wins[1].arrays["joint_angles"][:30], body.joint_angles[30:60])
    face = read_facegood(data_dir / "facegood", "1114_2_01")
    wf = to_windows(face, SPEC, row=1, split="train")
    assert len(wf) == int(np.ceil(face.num_frames / SPEC.frames))
    assert [ARKIT_INDEX[n] for n in face.valid_channels] == wf[0].extra["expression_valid"]
    with pytest.raises(ConfigError, match="split"):
        to_windows(face, SPEC, row=1, split="training")
    with pytest.raises(ConfigError, match="joints"):
        to_windows(body, CorpusSpec(num_joints=0), row=0, split="train")


# ---------------------------------------------------------------------------------------------- bad input

def test_captured_take_refuses_bad_labels(tmp_path):
    audio = np.zeros(SR, np.float32)
    expr = np.zeros((30, NUM_CHANNELS), np.float32)
    ok = CapturedTake("t", tmp_path / "t.csv", audio, SR, 30.0, expression=expr)
    assert ok.duration_s == 1.0
    bad = expr.copy()
    bad[12, 3] = np.nan
    with pytest.raises(ClipError, match=r"t\.csv: expression holds NaN.*frame 12"):
        CapturedTake("t", tmp_path / "t.csv", audio, SR, 30.0, expression=bad)
    with pytest.raises(ClipError, match="frames apart"):                     # 3 frames of audio too many
        CapturedTake("t", tmp_path / "t.csv", np.zeros(SR + SR // 10, np.float32), SR, 30.0, expression=expr)
    CapturedTake("t", tmp_path / "t.csv", np.zeros(SR + SR // 20, np.float32), SR, 30.0, expression=expr)  # 1.5
    with pytest.raises(ClipError, match="shape"):
        CapturedTake("t", tmp_path / "t.csv", audio, SR, 30.0, expression=expr[:, :51])
    with pytest.raises(ClipError, match="no labels"):
        CapturedTake("t", tmp_path / "t.csv", audio, SR, 30.0)


def test_unreadable_files_are_typed_errors(livelink_take, data_dir, tmp_path):
    (tmp_path / f"{LIVELINK}.wav").write_bytes(b"RIFF....not audio")
    with pytest.raises(AudioError, match=f"{LIVELINK}.wav"):
        read_livelink(livelink_take)
    folder = tmp_path / "fg"
    (folder / "arkit_mouth_csv").mkdir(parents=True)
    shutil.copy(data_dir / "facegood" / "1114_2_01.wav", folder)
    header = "frame,time_s,jawOpen,lipsTogether\n"
    (folder / "arkit_mouth_csv" / "1114_2_01_arkit_mouth_30fps.csv").write_text(header + "0,0.0,0.1,0.2\n")
    with pytest.raises(ClipError, match="unknown channel names.*lipsTogether"):
        read_facegood(folder, "1114_2_01")
