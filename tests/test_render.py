"""addon.blender (scene, encode): a tiny Workbench render to H.264 + AAC MP4, checked with ffprobe; silent fallback; no partial files."""
import json
import shutil
import subprocess

import numpy as np
import pytest

from rigs.core.clip import neutral_clip, save_clip
from rigs.core.arkit import ARKIT_INDEX

pytestmark = pytest.mark.blender


@pytest.fixture(scope="module")
def demo_blend(tmp_path_factory, data_dir):
    pytest.importorskip("bpy")
    from addon.blender.demo_character import build

    return build(tmp_path_factory.mktemp("rig") / "demo.blend")


@pytest.fixture()
def clip_path(tmp_path):
    c = neutral_clip(1.0, fps=30)
    c.expression[:, ARKIT_INDEX["jawOpen"]] = 0.5 - 0.5 * np.cos(2 * np.pi * 2 * c.times_s())
    return save_clip(c, tmp_path / "c.npz")


def _probe(path):
    if shutil.which("ffprobe") is None:
        pytest.skip("ffprobe not installed")
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,duration",
                          "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout
    return {s["codec_type"]: s for s in json.loads(out)["streams"]}


def test_workbench_mp4_has_h264_and_aac_of_clip_length(tmp_path, clip_path, demo_blend):
    from addon.blender.scene import render_clip

    wav = tmp_path / "a.wav"
    import wave

    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes((3000 * np.sin(2 * np.pi * 220 * np.arange(16000) / 16000)).astype("<i2").tobytes())
    seen = []
    out = tmp_path / "o.mp4"
    r = render_clip(clip_path, audio=wav, out=out, rig=demo_blend, resolution=(64, 36),
                    progress=lambda i, n: seen.append((i, n)))
    s = _probe(out)
    assert s["video"]["codec_name"] == "h264" and s["audio"]["codec_name"] == "aac"
    assert float(s["video"]["duration"]) == pytest.approx(1.0, abs=0.05)
    assert float(s["audio"]["duration"]) == pytest.approx(1.0, abs=0.1)
    assert seen[-1] == (30, 30) and r.frames == 30 and r.has_audio
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_no_audio_gives_silent_video_with_warning_and_a_missing_one_is_an_error(tmp_path, clip_path, demo_blend):
    from rigs.core.errors import RenderError
    from addon.blender.scene import render_clip

    out = tmp_path / "silent.mp4"
    with pytest.raises(RenderError, match="nope.wav not found"):  # a typo is not a silent video (issue 16)
        render_clip(clip_path, audio=tmp_path / "nope.wav", out=out, rig=demo_blend, resolution=(64, 36))
    assert not out.exists()
    r = render_clip(clip_path, audio=None, out=out, rig=demo_blend, resolution=(64, 36))
    s = _probe(out)
    assert "video" in s and "audio" not in s
    assert not r.has_audio and any("no audio" in w for w in r.warnings)


def test_bad_options_are_render_errors(tmp_path, clip_path, demo_blend):
    from rigs.core.errors import RenderError
    from addon.blender.scene import render_clip

    with pytest.raises(RenderError, match="even"):
        render_clip(clip_path, out=tmp_path / "x.mp4", rig=demo_blend, resolution=(65, 36))
    with pytest.raises(RenderError, match="engine"):
        render_clip(clip_path, out=tmp_path / "x.mp4", rig=demo_blend, engine="povray")
    assert not (tmp_path / "x.mp4").exists()


def test_side_by_side_renders_two_characters(tmp_path, clip_path, demo_blend):
    import bpy

    from addon.blender.scene import render_clip

    out = tmp_path / "ab.mp4"
    r = render_clip(clip_path, out=out, rig=demo_blend, resolution=(64, 36), side_by_side=clip_path)
    assert _probe(out)["video"]["codec_name"] == "h264" and r.frames == 30
    heads = [o for o in bpy.context.scene.objects if o.type == "MESH" and o.data.shape_keys]
    assert len(heads) == 2 and heads[0].data.shape_keys != heads[1].data.shape_keys
    assert {o.name for o in bpy.context.scene.objects if o.type == "FONT"} == {"parley_label_A", "parley_label_B"}


def test_render_scene_renders_as_set_up_and_restores_settings(tmp_path, demo_blend):
    import bpy

    from addon.blender.bake import bake_clip
    from rigs.core.errors import RenderError
    from addon.blender.encode import render_scene

    bpy.ops.wm.open_mainfile(filepath=str(demo_blend))
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 10, 1.0
    c = neutral_clip(0.5, fps=10)
    bake_clip(c, mesh_obj=bpy.data.objects["parley_head"], armature_obj=bpy.data.objects["parley_armature"])
    out = tmp_path / "scene.mp4"
    with pytest.raises(RenderError, match="camera"):
        render_scene(scene, out, engine="workbench", frame_start=1, frame_end=5)
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    scene.collection.objects.link(cam)
    cam.location, cam.rotation_euler = (0, -3, 1.5), (1.5708, 0, 0)
    scene.camera = cam
    scene.render.engine = "CYCLES"
    scene.render.resolution_x, scene.render.resolution_y = 640, 480
    scene.frame_start, scene.frame_end = 3, 250
    scene.render.filepath = "//artist_"
    before = (scene.render.engine, scene.render.resolution_x, scene.render.resolution_y, scene.frame_start,
              scene.frame_end, scene.render.filepath, scene.render.image_settings.file_format)
    seen = []
    r = render_scene(scene, out, engine="BLENDER_WORKBENCH", frame_start=1, frame_end=5, resolution=(32, 18),
                     progress=lambda i, n: seen.append((i, n)))
    assert r.frames == 5 and seen[-1] == (5, 5) and not r.has_audio
    s = _probe(out)
    assert s["video"]["codec_name"] == "h264" and "audio" not in s
    assert float(s["video"]["duration"]) == pytest.approx(0.5, abs=0.05)
    after = (scene.render.engine, scene.render.resolution_x, scene.render.resolution_y, scene.frame_start,
             scene.frame_end, scene.render.filepath, scene.render.image_settings.file_format)
    assert after == before
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


# the demo head at rest in Blender axes (m): crown, chin tip, the lips' front (ICT FaceKit on the skeleton)
CROWN_M, CHIN_M, LIPS_M = (0.0, -0.017, 1.704), (0.0, -0.12, 1.475), (0.0, -0.136, 1.525)


def _image_height(camera, point, aspect=16 / 9):
    """Where ``point`` lands on the picture of ``camera``: -1 at the bottom edge, +1 at the top (perspective)."""
    import math

    from addon.blender.scene import CAMERAS, camera_placement, vertical_half_fov

    (x, y, z), _ = camera_placement(camera, aspect)
    t = math.radians(CAMERAS[camera][3])
    dy, dz = point[1] - y, point[2] - z
    depth = dy * math.cos(t) - dz * math.sin(t)     # along the view axis (+Y tilted down by t)
    up = dy * math.sin(t) + dz * math.cos(t)        # along the picture's up axis
    return up / (depth * math.tan(vertical_half_fov(aspect)))


def test_face_camera_frames_the_head_at_two_thirds_of_the_height_with_the_lips_in_view():
    """Perspective projection of the demo head: crown to chin is 60-70% of the frame height, with headroom
    above, the chin above the bottom edge and the lips in the lower half but well inside the frame."""
    crown, chin, lips = (_image_height("face", p) for p in (CROWN_M, CHIN_M, LIPS_M))
    assert 0.60 <= (crown - chin) / 2 <= 0.70, (crown, chin)
    assert 0.35 < crown < 0.8 and -0.9 < chin < -0.5    # headroom; the chin well inside the bottom edge
    assert -0.7 < lips < 0.0                             # lips below the centre, clearly in frame


def test_camera_framings_face_close_up_and_gestures_in_upper_body():
    """Pure geometry: the face camera looks down at the face; upper-body keeps waist-height gestures (>= 0.95 m)
    and the crown in view."""
    import math

    from addon.blender.scene import CAMERAS, LENS_MM, SENSOR_MM, camera_placement

    aspect = 16 / 9
    half_h = math.atan(SENSOR_MM / 2 / LENS_MM / aspect)  # vertical half field of view

    def visible_z(camera, y_plane=0.0):
        (x, y, z), _ = camera_placement(camera, aspect)
        pitch = math.radians(CAMERAS[camera][3])
        dist = y_plane - y
        return (z + dist * math.tan(-pitch - half_h), z + dist * math.tan(-pitch + half_h)), z

    (lo, hi), z = visible_z("face")
    assert z > CAMERAS["face"][0]                       # looks down at the face
    assert lo < 1.48 and hi > 1.70 and lo > 1.30       # whole head, no chest
    (lo, hi), _ = visible_z("upper-body")
    assert lo < 0.95 and hi > 1.70, (lo, hi)


# ----------------------------------------------------------------------- an artist's own .blend (--rig FILE)

def _head_blend(path, *, camera: bool, offset=(0.4, 0.2, 0.3), radius_m=0.1):
    """A head-only .blend: a sphere with Basis and jawOpen shape keys away from the origin, with or without a
    camera aimed at it (a generated stand-in for a FaceBuilder head file)."""
    import bpy
    import bmesh
    from mathutils import Vector

    bpy.ops.wm.read_factory_settings(use_empty=True)
    me = bpy.data.meshes.new("head")
    bm = bmesh.new()
    bmesh.ops.create_uvsphere(bm, u_segments=16, v_segments=12, radius=radius_m)
    bm.to_mesh(me)
    head = bpy.data.objects.new("Head", me)
    bpy.context.scene.collection.objects.link(head)
    head.location = offset
    head.shape_key_add(name="Basis")
    jaw = head.shape_key_add(name="jawOpen")
    for v in jaw.data:
        if v.co.z < -0.3 * radius_m:
            v.co.z -= 0.3 * radius_m
    if camera:
        cam = bpy.data.objects.new("ArtistCam", bpy.data.cameras.new("ArtistCam"))
        bpy.context.scene.collection.objects.link(cam)
        cam.location = Vector(offset) + Vector((0.0, -0.8, 0.0))
        cam.rotation_euler = (np.pi / 2, 0.0, 0.0)
        bpy.context.scene.camera = cam
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    return path


def _first_frame(path, w, h):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg not installed")
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vframes", "1", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(h, w, 3).astype(np.float64)


def _covered(img) -> float:
    """Fraction of the frame that differs from the background (the corner pixel's colour)."""
    bg = img[0, 0]
    return float(np.mean(np.abs(img - bg).sum(axis=-1) > 30))


@pytest.mark.parametrize("camera", [True, False])
def test_rig_file_uses_its_camera_or_frames_the_character(tmp_path, clip_path, camera):
    """--rig FILE.blend: a head-only file (head 20 cm wide, 40 cm off the origin) renders the head through the
    file's own camera, or through a camera framed on the head's bounding box; not empty frames."""
    from addon.blender.scene import render_clip

    blend = _head_blend(tmp_path / "head.blend", camera=camera)
    out = tmp_path / "h.mp4"
    r = render_clip(clip_path, out=out, rig=blend, resolution=(64, 48))
    assert r.frames == 30
    assert any("ArtistCam" in w for w in r.warnings) == camera
    cover = _covered(_first_frame(out, 64, 48))
    assert 0.05 < cover < 0.95, cover  # the head is in the frame and not cut off by it


def test_rig_file_active_action_is_muted_in_the_render(tmp_path, clip_path):
    """An active Action on the file's face keys (an idle) would play over the clip in every frame: the render
    mutes it and says so."""
    import bpy

    from addon.blender.scene import render_clip

    blend = _head_blend(tmp_path / "idle.blend", camera=True)
    bpy.ops.wm.open_mainfile(filepath=str(blend))
    keys = bpy.data.objects["Head"].data.shape_keys
    keys.key_blocks["jawOpen"].value = 0.0
    keys.key_blocks["jawOpen"].keyframe_insert("value", frame=1)
    keys.animation_data.action.name = "Idle"
    key_name = keys.name
    bpy.ops.wm.save_mainfile()
    r = render_clip(clip_path, out=tmp_path / "i.mp4", rig=blend, resolution=(64, 48))
    assert any("'Idle' is muted" in w for w in r.warnings), r.warnings
    assert bpy.data.shape_keys[key_name].animation_data.action_influence == 0.0


def test_rig_file_with_nothing_to_render_is_an_error(tmp_path, clip_path):
    import bpy

    from addon.blender.scene import render_clip
    from rigs.core.errors import RenderError

    bpy.ops.wm.read_factory_settings(use_empty=True)
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    bpy.context.scene.collection.objects.link(cam)
    bpy.context.scene.camera = cam
    empty = tmp_path / "empty.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(empty))
    out = tmp_path / "e.mp4"
    with pytest.raises(RenderError, match="nothing to render"):
        render_clip(clip_path, out=out, rig=empty, resolution=(64, 48))
    assert not out.exists()


def test_cuts_fall_in_pauses_and_alternate_framings():
    """The "cuts" edit: upper body first, then face, cut in the middle of the pause nearest each 3.5 s mark
    (pauses too short or too far are skipped), never a shot under 1.5 s."""
    from addon.blender.scene import CUT_SHOTS, MIN_SHOT_S, SHOT_S, shot_plan
    from rigs.core.phones import Phone

    phones = [Phone(0.0, 2.9, "AH"), Phone(2.9, 3.3, "SIL"),      # pause at 3.1 s: near the 3.5 s mark
              Phone(3.3, 5.0, "AH"), Phone(5.0, 5.05, "SIL"),     # too short to cut in
              Phone(5.05, 7.8, "AH"), Phone(7.8, 8.2, "SIL"), Phone(8.2, 10.0, "AH")]
    plan = shot_plan(10.0, phones)
    assert [round(t, 3) for t, _ in plan] == [0.0, 3.1, 8.0]    # 8.0: the pause within 1.75 s of 3.1 + 3.5
    no_late_pause = phones[:4] + [Phone(5.05, 10.0, "AH")]
    assert [round(t, 3) for t, _ in shot_plan(10.0, no_late_pause)] == [0.0, 3.1, 6.6]   # none near: at 6.6
    assert [f for _, f in plan] == [CUT_SHOTS[0], CUT_SHOTS[1], CUT_SHOTS[0]] == ["upper-body", "face", "upper-body"]
    plan = shot_plan(11.9, None)                                  # no phones: every SHOT_S
    assert [t for t, _ in plan] == [0.0, SHOT_S, 2 * SHOT_S]      # a cut at 10.5 s would leave a 1.4 s shot
    starts = [t for t, _ in plan] + [11.9]
    assert min(b - a for a, b in zip(starts, starts[1:])) >= MIN_SHOT_S
    assert shot_plan(2.5, None) == [(0.0, "upper-body")]


def test_cuts_framing_binds_a_camera_to_each_cut(tmp_path, demo_blend):
    from addon.blender.scene import prepare_scene

    c = neutral_clip(8.0, fps=30)
    cs = prepare_scene(save_clip(c, tmp_path / "c.npz"), rig=demo_blend, camera="cuts", resolution=(64, 36))
    markers = sorted(cs.scene.timeline_markers, key=lambda m: m.frame)
    assert [(m.frame, m.camera.name) for m in markers] == [(1, "parley_camera_upper-body"),
                                                           (1 + round(3.5 * 30), "parley_camera_face")]
    assert cs.scene.camera.name == "parley_camera_upper-body"
    cs.scene.frame_set(200)   # Blender switches to the marker's camera on a frame change
    assert cs.scene.camera.name == "parley_camera_face"
