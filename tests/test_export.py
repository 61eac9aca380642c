"""Exchange formats (rigs/formats): Live Link Face CSV (+ reader), BVH (our reader and Blender's), JSON."""
import csv
import json
import re

import numpy as np
import pytest

from rigs.formats import bvh as bvh_format
from rigs.formats import livelink, motion_json
from rigs.core.clip import neutral_clip
from rigs.core.phones import Phone
from rigs.core.errors import ClipError
from rigs.core.arkit import ARKIT_NAMES, LIVELINK_COLUMNS
from rigs.formats.bvh import read_bvh
from rigs.core.rotations import axis_angle_to_matrix, euler_to_matrix, matrix_to_euler
from rigs.core.skeleton import canonical_skeleton

TC = re.compile(r"^\d\d:\d\d:\d\d:\d\d\.\d\d\d$")


def make_clip(duration_s=2.0, fps=30.0, seed=0, lips=0):
    rng = np.random.default_rng(seed)
    c = neutral_clip(duration_s, fps=fps, lip_vertex_ids=np.arange(lips), lip_rest_m=np.zeros((lips, 3)))
    T = c.num_frames
    c.expression[:] = rng.uniform(0, 1, c.expression.shape)
    c.joint_angles[:] = np.clip(np.cumsum(rng.normal(0, 0.05, c.joint_angles.shape), 0), -0.8, 0.8)
    c.root_translation[:] = np.cumsum(rng.normal(0, 0.01, (T, 3)), 0)
    if lips:
        c.lip_vertices[:] = rng.normal(0, 0.01, c.lip_vertices.shape)
    return c


def rows(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


APP_TAKE = "livelink/MySlate_3_Jason_Millers_iPhone.csv"


def test_livelink_layout(tmp_path):
    c = make_clip(fps=60.0)
    p = livelink.export_livelink_csv(c, tmp_path / "take.csv")
    r = rows(p)
    assert r[0] == ["Timecode", "BlendShapeCount"] + list(LIVELINK_COLUMNS)
    assert len(r[0]) == 63 and r[0][2] == "EyeBlinkLeft" and r[0][54:57] == ["HeadYaw", "HeadPitch", "HeadRoll"]
    assert r[0][-1] == "RightEyeRoll" and r[0][17:19] == ["JawRight", "JawLeft"]
    assert len(r) == 1 + c.num_frames
    assert all(len(x) == 63 and x[1] == "61" and TC.match(x[0]) for x in r[1:])
    assert r[1][0] == "00:00:00:00.000"
    assert r[66][0] == "00:00:01:05.000"  # row 65 at 60 rows per second
    # values: JawOpen column holds the jawOpen channel
    jaw = np.array([float(x[2 + LIVELINK_COLUMNS.index("JawOpen")]) for x in r[1:]])
    np.testing.assert_allclose(jaw, c.channel("jawOpen"), atol=1e-6)


def test_livelink_export_plays_at_the_apps_60_rows_per_second(tmp_path, data_dir):
    """An 11 s clip at 30 fps exports as 660 rows with 60 fps timecodes, the layout of the app's own files,
    so an importer that plays rows at the app's rate shows 11 s (it showed 5.5 s with 30 rows/s)."""
    c = make_clip(duration_s=11.0, fps=30.0, seed=5)
    c.expression[:, ARKIT_NAMES.index("jawOpen")] = np.linspace(0.0, 1.0, c.num_frames)
    r = rows(livelink.export_livelink_csv(c, tmp_path / "take.csv"))
    app = rows(data_dir / APP_TAKE)
    assert r[0] == app[0]  # the same header, column for column
    assert len(r) - 1 == 660 and (len(r) - 1) / livelink.APP_ROWS_PER_S == pytest.approx(11.0)
    frames = [int(x[0].split(":")[3].split(".")[0]) for x in r[1:]]
    assert max(frames) == 59 and frames[:3] == [0, 1, 2]  # FF counts to 59 within each second
    assert r[-1][0] == "00:00:10:59.000"
    # the app's own file: 60 rows per second by its timecodes, FF running up to 59 too
    app_ff = [int(x[0].split(":")[3].split(".")[0]) for x in app[1:]]
    assert max(app_ff) == 59 and app_ff[1] - app_ff[0] == 1
    # values are resampled, not repeated: the 30 fps ramp (1/329 per frame) rises by half that per row
    jaw = np.array([float(x[2 + LIVELINK_COLUMNS.index("JawOpen")]) for x in r[1:]])
    np.testing.assert_allclose(np.diff(jaw)[:-1], 0.5 / 329, rtol=0.01)
    back = livelink.read_livelink_csv(tmp_path / "take.csv")
    assert back.fps == 60.0 and back.duration_s == pytest.approx(11.0)


def _torsion_rms_deg(yaw_pitch_roll, rad_per_unit) -> float:
    """RMS rotation about the gaze of eye rotations given as Live Link yaw/pitch/roll (YXZ) in some unit,
    once decomposed pitch-first (XYZ)."""
    R = euler_to_matrix(yaw_pitch_roll * rad_per_unit, "YXZ")
    return float(np.degrees(np.sqrt(np.mean(matrix_to_euler(R, "XYZ")[:, 2] ** 2))))


def test_livelink_angle_columns_are_radians_like_the_app(tmp_path, data_dir):
    """The app writes head and eye angles in radians: on its real take each eye's rotation, read as radians,
    is a pure gaze rotation (no torsion once decomposed pitch-first); read as quarter turns it is not."""
    app = rows(data_dir / APP_TAKE)
    col = {n: i for i, n in enumerate(app[0])}
    for side in ("Left", "Right"):
        v = np.array([[float(x[col[f"{side}Eye{a}"]]) for a in ("Yaw", "Pitch", "Roll")] for x in app[1:]])
        assert np.abs(v[:, 1]).max() > 0.3  # the eyes do move in this take

        assert _torsion_rms_deg(v, 1.0) < 0.02 and _torsion_rms_deg(v, np.pi / 2) > 0.1
    # our reader takes them as radians: the left eye of the real take has no torsion either
    c = livelink.read_livelink_csv(data_dir / APP_TAKE)
    R = axis_angle_to_matrix(c.joint_angles[:, canonical_skeleton().index("left_eye")])
    assert np.degrees(np.abs(matrix_to_euler(R, "XYZ")[:, 2])).max() < 0.05
    # and the export writes radians
    c = make_clip()
    c.joint_angles[:] = 0
    sk = canonical_skeleton()
    c.joint_angles[:, sk.index("head")] = [0, np.pi / 4, 0]  # 45 deg about +Y: yaw to the left
    c.joint_angles[:, sk.index("left_eye")] = [np.pi / 8, 0, 0]  # 22.5 deg about +X: look down
    r = rows(livelink.export_livelink_csv(c, tmp_path / "h.csv"))
    col = {n: i for i, n in enumerate(r[0])}
    assert float(r[5][col["HeadYaw"]]) == pytest.approx(np.pi / 4, abs=1e-6)
    assert float(r[5][col["HeadPitch"]]) == pytest.approx(0.0, abs=1e-6)
    assert float(r[5][col["LeftEyePitch"]]) == pytest.approx(np.pi / 8, abs=1e-6)
    r2 = rows(livelink.export_livelink_csv(c, tmp_path / "q.csv", angle_units="quarter_turns"))
    assert float(r2[5][col["HeadYaw"]]) == pytest.approx(0.5, abs=1e-6)


def test_livelink_round_trip(tmp_path):
    c = make_clip(fps=60.0, duration_s=1.5, seed=4)
    p = livelink.export_livelink_csv(c, tmp_path / "a.csv")
    back = livelink.read_livelink_csv(p)
    assert back.fps == 60.0 and back.num_frames == c.num_frames
    assert np.abs(back.expression - c.expression).max() < 1e-4
    for a, b in zip(livelink.head_eye_angles(c), livelink.head_eye_angles(back)):
        np.testing.assert_allclose(b, a, atol=1e-4)
    # and the re-exported file carries the same numbers
    r1, r2 = rows(p), rows(livelink.export_livelink_csv(back, tmp_path / "b.csv"))
    np.testing.assert_allclose(np.array([x[2:] for x in r2[1:]], float), np.array([x[2:] for x in r1[1:]], float),
                               atol=1e-4)
    # the head rotation lands on the head joint (neck combined into it)
    sk = canonical_skeleton()
    Rn = axis_angle_to_matrix(c.joint_angles[:, sk.index("neck")])
    Rh = axis_angle_to_matrix(c.joint_angles[:, sk.index("head")])
    np.testing.assert_allclose(axis_angle_to_matrix(back.joint_angles[:, sk.index("head")]), Rn @ Rh, atol=1e-4)


def test_read_app_style_file(tmp_path):
    """A file as the app writes it: time-of-day timecodes at 60 fps, shuffled columns, extras."""
    rng = np.random.default_rng(1)
    cols = list(LIVELINK_COLUMNS)
    order = rng.permutation(len(cols))
    header = ["Timecode", "BlendShapeCount"] + [cols[i] for i in order] + ["SomethingElse"]
    n = 90
    vals = rng.uniform(0, 1, (n, 61))
    vals[:, 52:] = rng.uniform(-0.3, 0.3, (n, 9))
    lines = [",".join(header)]
    start = (23 * 3600 + 59 * 60 + 59) * 60 + 30  # crosses midnight
    for i in range(n):
        f = start + i
        s, ff = divmod(f, 60)
        h, rem = divmod(s, 3600)
        m, sec = divmod(rem, 60)
        tc = f"{h % 24:02d}:{m:02d}:{sec:02d}:{ff:02d}.{(i * 37) % 1000 // 1000:03d}"
        lines.append(",".join([tc, "61"] + [f"{vals[i, k]:.8f}" for k in order] + ["7"]))
    p = tmp_path / "app.csv"
    p.write_text("\n".join(lines) + "\n")
    c = livelink.read_livelink_csv(p)
    assert c.fps == 60.0 and c.num_frames == n
    for k, name in enumerate(cols[:52]):
        canon = name[0].lower() + name[1:]
        np.testing.assert_allclose(c.channel(canon), vals[:, k], atol=1e-6)
    yaw_pitch_roll = livelink.head_eye_angles(c)[0]
    np.testing.assert_allclose(yaw_pitch_roll, vals[:, 52:55], atol=1e-6)  # radians, as the app writes
    # an explicit fps resamples
    c30 = livelink.read_livelink_csv(p, fps=30)
    assert c30.fps == 30 and c30.num_frames == 45


def test_read_livelink_errors(tmp_path):
    with pytest.raises(ClipError):
        livelink.read_livelink_csv(tmp_path / "missing.csv")
    p = tmp_path / "bad.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(ClipError, match="Timecode"):
        livelink.read_livelink_csv(p)
    p.write_text("Timecode,BlendShapeCount,JawOpen\n00:00:00:00.000,61,abc\n")
    with pytest.raises(ClipError, match="not a number"):
        livelink.read_livelink_csv(p)


def test_bvh_export_round_trip(tmp_path):
    c = make_clip(fps=24.0, seed=2)
    p = bvh_format.export_bvh(c, tmp_path / "c.bvh")
    b = read_bvh(p)
    sk = canonical_skeleton()
    assert set(b.names) == set(sk.names) and b.names[0] == "pelvis"
    assert b.channels[0] == ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")
    assert all(ch == ("Zrotation", "Xrotation", "Yrotation") for ch in b.channels[1:])
    assert b.fps == pytest.approx(24.0, rel=1e-8) and b.num_frames == c.num_frames
    np.testing.assert_allclose(b.offsets[b.index("left_knee")], sk.offsets_m[sk.index("left_knee")] * 100, atol=1e-6)
    R, P = b.forward_kinematics()
    R2, P2 = sk.forward_kinematics(c.joint_angles, c.root_translation)
    idx = [b.index(n) for n in sk.names]
    np.testing.assert_allclose(P[:, idx] / 100.0, P2, atol=1e-6)
    np.testing.assert_allclose(R[:, idx], R2, atol=1e-6)
    pm = read_bvh(bvh_format.export_bvh(c, tmp_path / "m.bvh", units="m", order="XYZ"))
    np.testing.assert_allclose(pm.forward_kinematics()[1][:, idx], P2, atol=1e-6)


@pytest.mark.blender
def test_bvh_export_imports_into_blender(tmp_path):
    bpy = pytest.importorskip("bpy")
    from bpy_extras.io_utils import axis_conversion

    c = make_clip(fps=30.0, seed=6, duration_s=1.0)
    p = bvh_format.export_bvh(c, tmp_path / "b.bvh")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    res = bpy.ops.import_anim.bvh(filepath=str(p), global_scale=0.01, axis_forward="-Z", axis_up="Y",
                                  frame_start=1, use_fps_scale=False, rotate_mode="NATIVE")
    assert res == {"FINISHED"}
    arm = next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")
    C = np.array(axis_conversion(from_forward="-Z", from_up="Y").to_3x3())
    sk = canonical_skeleton()
    R, P = sk.forward_kinematics(c.joint_angles, c.root_translation)
    worst_pos = worst_rot = 0.0
    for f in (0, 7, 18, c.num_frames - 1):
        bpy.context.scene.frame_set(f + 1)  # Blender frame 1 = BVH frame 0
        bpy.context.view_layer.update()
        for j, name in enumerate(sk.names):
            pb = arm.pose.bones[name]
            M = arm.matrix_world @ pb.matrix
            rest = arm.matrix_world @ pb.bone.matrix_local
            head = np.array(M.translation)
            Wb = np.array(M.to_3x3()) @ np.array(rest.to_3x3()).T
            worst_pos = max(worst_pos, np.abs(head - C @ P[f, j]).max())
            worst_rot = max(worst_rot, np.abs(Wb - C @ R[f, j] @ C.T).max())
    print(f"blender bvh import: worst position {worst_pos:.2e} m, worst rotation entry {worst_rot:.2e}")
    assert worst_pos < 1e-4, worst_pos  # metres
    assert worst_rot < 1e-4, worst_rot


def test_json_export(tmp_path):
    c = make_clip(seed=3, lips=4)
    c.phonemes = (Phone(0.0, 0.5, "SIL"), Phone(0.5, 2.0, "AA"))
    p = motion_json.export_json(c, tmp_path / "c.json")
    d = json.loads(p.read_text())
    assert d["format"] == "parley-motion" and d["version"] == 1
    assert d["num_frames"] == c.num_frames == len(d["frames"])
    assert d["expression_names"] == list(ARKIT_NAMES) and len(d["frames"][3]["expression"]) == 52
    assert len(d["frames"][3]["joint_rotations"]) == 25 and d["frames"][3]["time_s"] == pytest.approx(3 / c.fps)
    assert d["phonemes"][1]["label"] == "AA"
    back = motion_json.read_json(p)
    np.testing.assert_allclose(back.joint_angles, c.joint_angles, atol=1e-5)
    np.testing.assert_allclose(back.expression, c.expression, atol=1e-5)
    np.testing.assert_allclose(back.lip_vertices, c.lip_vertices, atol=1e-5)
    np.testing.assert_allclose(back.root_translation, c.root_translation, atol=1e-5)
    q = motion_json.read_json(motion_json.export_json(c, tmp_path / "q.json", rotations="quaternion", include_lips=False))
    np.testing.assert_allclose(axis_angle_to_matrix(q.joint_angles), axis_angle_to_matrix(c.joint_angles), atol=1e-5)
    assert q.lip_vertices.shape == (c.num_frames, 0, 3)
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ClipError):
        motion_json.read_json(tmp_path / "x.json")


def test_euler_yxz_matches_docstring_signs():
    # + pitch (about +X, the character's left) turns the forward axis downwards
    fwd = euler_to_matrix(np.array([0.0, 0.3, 0.0]), "YXZ") @ [0, 0, 1]
    assert fwd[1] < 0
