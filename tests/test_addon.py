"""The Parley Blender extension in bpy: install, generate/apply/takes/remove, mapping, render, bad inputs.

The zip is built with ``addon.packaging.build_extension_zip`` and installed with
``bpy.ops.extensions.package_install_files`` into a throw-away local repository (this works with
bpy-as-a-module). Scenes are reset with ``wm.read_homefile(use_factory_startup=True, use_empty=True)``:
``wm.read_factory_settings`` would also reset the preferences and so drop the test repository and
disable the extension. Undo works in background bpy once ``ed.undo`` runs inside
``context.temp_override(window=wm.windows[0])`` and the operator is called with ``undo=True`` (see the
demo-rig test); the add-on's "Remove Bake" must also delete exactly what a bake created.
"""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, requires_bpy

try:
    import bpy
except ImportError:
    bpy = None

from rigs.core.clip import make_meta, neutral_clip, save_clip  # noqa: E402
from rigs.core.errors import SchemaVersionError  # noqa: E402

REPO_ID = "parley_test_repo"
PKG = f"bl_ext.{REPO_ID}.parley"
_blender = requires_bpy


# ----------------------------------------------------------------------------- Blender: install and use

def _fresh_scene():
    bpy.ops.wm.read_homefile(use_factory_startup=True, use_empty=True)


@pytest.fixture(scope="module")
def extension(ext_zip, tmp_path_factory):
    """Install the built zip into a local extension repository and enable it; uninstall afterwards."""
    prefs = bpy.context.preferences
    repo_dir = tmp_path_factory.mktemp("ext_repo")
    repo = prefs.extensions.repos.new(name=REPO_ID, module=REPO_ID, custom_directory=str(repo_dir), source='USER')
    try:
        assert bpy.ops.extensions.package_install_files(filepath=str(ext_zip), repo=REPO_ID,
                                                        enable_on_install=True) == {'FINISHED'}
        assert PKG in prefs.addons, [a.module for a in prefs.addons]
        assert (repo_dir / "parley" / "rigs" / "core" / "clip.py").is_file()
        ap = prefs.addons[PKG].preferences
        ap.engine_mode, ap.engine_python, ap.engine_root = 'SUBPROCESS', sys.executable, str(ROOT)
        yield sys.modules[PKG]
    finally:
        idx = list(prefs.extensions.repos).index(repo)
        if PKG in prefs.addons:
            bpy.ops.extensions.package_uninstall(repo_index=idx, pkg_id="parley")
        prefs.extensions.repos.remove(prefs.extensions.repos[idx])
    # uninstalled cleanly: nothing registered, nothing left on disk
    assert PKG not in prefs.addons and not hasattr(bpy.types.Scene, "parley")
    assert not hasattr(bpy.types, "PARLEY_OT_generate") and not (repo_dir / "parley").exists()


ARKIT_KEYS = ("jawOpen", "mouthSmile_L", "MouthSmileRight", "eyeBlinkLeft", "CC_Base_browInnerUp", "Custom")
BONES = ("pelvis", "spine1", "neck", "head", "jaw")


def _test_rig():
    """A cube with a few ARKit-named shape keys and an armature with canonical bone names."""
    mesh = bpy.data.meshes.new("face")
    mesh.from_pydata([(x, y, z) for x in (0, 1) for y in (0, 1) for z in (0, 1)], [],
                     [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)])
    face = bpy.data.objects.new("Face", mesh)
    bpy.context.scene.collection.objects.link(face)
    face.shape_key_add(name="Basis")
    for k in ARKIT_KEYS:
        face.shape_key_add(name=k).data[0].co.z += 0.1
    arm = bpy.data.armatures.new("rig")
    arm_obj = bpy.data.objects.new("Rig", arm)
    bpy.context.scene.collection.objects.link(arm_obj)
    bpy.context.view_layer.objects.active = arm_obj
    bpy.ops.object.mode_set(mode='EDIT')
    prev = None
    for i, name in enumerate(BONES):
        b = arm.edit_bones.new(name)
        b.head, b.tail = (0, 0, 0.3 * i), (0, 0, 0.3 * i + 0.25)
        b.parent = prev
        prev = b
    bpy.ops.object.mode_set(mode='OBJECT')
    # the artist's own animation, which a bake must never touch
    user = bpy.data.actions.new("UserBlink")
    face.data.shape_keys.animation_data_create()
    face.data.shape_keys.animation_data.action = user
    face.data.shape_keys.key_blocks["eyeBlinkLeft"].value = 0.3
    face.data.shape_keys.key_blocks["eyeBlinkLeft"].keyframe_insert("value", frame=5)
    return face, arm_obj


def _user_fingerprint():
    a = bpy.data.actions["UserBlink"]
    return [(fc.data_path, [tuple(k.co) for k in fc.keyframe_points]) for fc in _fcurves(a)]


def _fcurves(action):
    out = []
    for layer in action.layers:
        for strip in layer.strips:
            for bag in strip.channelbags:
                out.extend(bag.fcurves)
    return out


def _parley_tracks(idb):
    ad = idb.animation_data
    return [t for t in ad.nla_tracks if t.name.startswith("parley")] if ad else []


def _setup(face, arm, **kw):
    s = bpy.context.scene.parley
    s.target_mesh, s.target_armature = face, arm
    for k, v in kw.items():
        setattr(s, k, v)
    return s


@_blender
def test_generate_subprocess_bake_takes_and_remove(extension, data_dir):
    _fresh_scene()
    face, arm = _test_rig()
    scene = bpy.context.scene
    scene.render.fps = 30
    user_before = _user_fingerprint()
    audio = data_dir / "speech" / "sr_english.wav"
    s = _setup(face, arm, audio_path=str(audio), mode="neutral", takes=2, seed=7, start_frame=11)
    assert bpy.ops.parley.generate() == {'FINISHED'}
    assert [t.seed for t in s.take_list] == [7, 8]
    import soundfile

    n_expected = soundfile.info(str(audio)).duration * 30
    keys = face.data.shape_keys
    tracks = _parley_tracks(keys)
    assert len(tracks) == 2 and len(_parley_tracks(arm)) == 2
    act = tracks[0].strips[0].action
    paths = sorted(fc.data_path for fc in _fcurves(act))
    assert paths == sorted(f'key_blocks["{k}"].value' for k in ARKIT_KEYS if k != "Custom")
    for fc in _fcurves(act):
        assert abs(len(fc.keyframe_points) - n_expected) <= 2
        assert fc.keyframe_points[0].co[0] == 11
    body = _fcurves(_parley_tracks(arm)[0].strips[0].action)
    assert {fc.data_path.split('"')[1] for fc in body} == set(BONES)
    assert all(abs(len(fc.keyframe_points) - n_expected) <= 2 for fc in body)
    # takes: the last baked plays, the other is muted; flip to the first
    assert [t.mute for t in tracks] == [True, False]
    assert bpy.ops.parley.take_activate(index=0) == {'FINISHED'}
    assert [t.mute for t in _parley_tracks(keys)] == [False, True]
    assert [t.mute for t in _parley_tracks(arm)] == [False, True]
    # the sound strip was added at the start frame; the artist's action is untouched
    strips = [st for st in scene.sequence_editor.strips_all if st.type == 'SOUND']
    assert len(strips) == 1 and strips[0].frame_start == 11
    assert keys.animation_data.action.name == "UserBlink" and _user_fingerprint() == user_before
    # remove both bakes: exactly what they created goes
    n_actions = len(bpy.data.actions)
    assert bpy.ops.parley.take_remove(index=1) == {'FINISHED'}
    assert len(bpy.data.actions) == n_actions - 2 and len(_parley_tracks(keys)) == 1
    assert bpy.ops.parley.take_remove(index=0) == {'FINISHED'}
    assert [a.name for a in bpy.data.actions] == ["UserBlink"] and not _parley_tracks(keys)
    assert arm.animation_data is None  # created by the bake, cleared with it
    assert keys.animation_data.action.name == "UserBlink" and _user_fingerprint() == user_before


@_blender
def test_apply_clip_regions_latency_and_parts(extension, tmp_path):
    _fresh_scene()
    face, arm = _test_rig()
    bpy.context.scene.render.fps = 30
    clip = neutral_clip(1.0, fps=30.0)
    T = clip.num_frames
    clip.expression[:, clip.expression_names.index("jawOpen")] = np.linspace(0.0, 0.8, T)
    clip.expression[:, clip.expression_names.index("browInnerUp")] = 0.5
    clip.joint_angles[:, clip.joint_names.index("head"), 0] = 0.4
    path = save_clip(clip, tmp_path / "c.npz")
    s = _setup(face, arm, clip_path=str(path), int_jaw=0.5, int_brows=0.0, int_head=0.5, latency_ms=100.0,
               start_frame=1)
    assert bpy.ops.parley.apply_clip() == {'FINISHED'}
    (track,) = _parley_tracks(face.data.shape_keys)
    fcs = {fc.data_path: fc for fc in _fcurves(track.strips[0].action)}
    jaw = np.array([k.co[1] for k in fcs['key_blocks["jawOpen"].value'].keyframe_points])
    # jaw intensity 0.5 and 100 ms (3 frames at 30 fps) latency: key k shows clip frame k - 3
    assert len(jaw) == T and np.allclose(jaw, 0.5 * 0.8 * np.maximum(np.arange(T) - 3, 0) / (T - 1), atol=1e-4)
    assert 'key_blocks["CC_Base_browInnerUp"].value' not in fcs or np.allclose(
        [k.co[1] for k in fcs['key_blocks["CC_Base_browInnerUp"].value'].keyframe_points], 0.0)
    (btrack,) = _parley_tracks(arm)
    head = [fc for fc in _fcurves(btrack.strips[0].action) if fc.data_path == 'pose.bones["head"].rotation_quaternion']
    w = np.array([k.co[1] for k in head[0].keyframe_points])
    assert np.isclose(w.min(), np.cos(0.2 / 2), atol=1e-3)  # 0.4 rad x head intensity 0.5
    # face only: no new body track
    s.apply_body = False
    assert bpy.ops.parley.apply_clip() == {'FINISHED'}
    assert len(_parley_tracks(face.data.shape_keys)) == 2 and len(_parley_tracks(arm)) == 1


@_blender
def test_bake_keeps_rotation_modes_and_remove_restores_the_pose(extension, tmp_path):
    """Each bone is keyed in its own rotation mode (none is switched); Remove Bake puts the static pose back."""
    from mathutils import Euler, Quaternion

    _fresh_scene()
    face, arm = _test_rig()
    bpy.context.scene.render.fps = 30
    modes = {"pelvis": "XYZ", "neck": "YXZ", "head": "AXIS_ANGLE"}
    for b, m in modes.items():
        arm.pose.bones[b].rotation_mode = m
    arm.pose.bones["neck"].rotation_euler = (0.1, 0.2, -0.3)  # the artist's static pose
    arm.pose.bones["head"].rotation_axis_angle = (0.25, 0.0, 0.0, 1.0)
    clip = neutral_clip(0.5, fps=30.0)
    clip.joint_angles[:, clip.joint_names.index("head"), 0] = 0.3
    clip.joint_angles[:, clip.joint_names.index("neck"), 1] = 0.2
    path = save_clip(clip, tmp_path / "c.npz")
    s = _setup(None, arm, clip_path=str(path), apply_face=False)
    assert bpy.ops.parley.apply_clip() == {'FINISHED'}
    assert {b: arm.pose.bones[b].rotation_mode for b in modes} == modes
    (track,) = _parley_tracks(arm)
    paths = {fc.data_path for fc in _fcurves(track.strips[0].action)}
    assert 'pose.bones["neck"].rotation_euler' in paths and 'pose.bones["head"].rotation_axis_angle' in paths
    assert not any("rotation_quaternion" in p for p in paths if "neck" in p or "head" in p)
    # the canonical rig copies rotations: neck 0.2 rad about canonical Y (Blender Z), head 0.3 about X
    bpy.context.scene.frame_set(5)
    neck = Euler(arm.pose.bones["neck"].rotation_euler, "YXZ").to_quaternion()
    ang, ax = arm.pose.bones["head"].rotation_axis_angle[0], arm.pose.bones["head"].rotation_axis_angle[1:]
    assert abs(neck.angle - 0.2) < 1e-3 and abs(Quaternion(ax, ang).angle - 0.3) < 1e-3
    assert bpy.ops.parley.apply_clip() == {'FINISHED'}  # a second take over the same bones
    assert bpy.ops.parley.take_remove(index=0) == {'FINISHED'}
    assert bpy.ops.parley.take_remove(index=0) == {'FINISHED'}
    assert {b: arm.pose.bones[b].rotation_mode for b in modes} == modes and not len(s.take_list)
    assert tuple(arm.pose.bones["neck"].rotation_euler) == pytest.approx((0.1, 0.2, -0.3), abs=1e-6)
    assert tuple(arm.pose.bones["head"].rotation_axis_angle) == pytest.approx((0.25, 0.0, 0.0, 1.0), abs=1e-6)


@_blender
def test_mapping_detect_edit_and_presets(extension, tmp_path):
    _fresh_scene()
    face, arm = _test_rig()
    s = _setup(face, arm)
    assert bpy.ops.parley.mapping_detect() == {'FINISHED'}
    m = s.mapping_dict()
    assert m == {"jawOpen": ["jawOpen"], "mouthSmileLeft": ["mouthSmile_L"], "mouthSmileRight": ["MouthSmileRight"],
                 "eyeBlinkLeft": ["eyeBlinkLeft"], "browInnerUp": ["CC_Base_browInnerUp"]}
    assert "5/52" in s.mapping_report and "canonical" in s.mapping_report
    assert bpy.ops.parley.mapping_add(channel="mouthFunnel", shape_key="Custom") == {'FINISHED'}
    preset = tmp_path / "p.json"
    assert bpy.ops.parley.mapping_save(filepath=str(preset)) == {'FINISHED'}
    data = json.loads(preset.read_text())
    assert data["shape_keys"]["mouthFunnel"] == ["Custom"] and data["bones"]["head"] == "head"
    s.mapping.clear()
    assert bpy.ops.parley.mapping_load(filepath=str(preset)) == {'FINISHED'}
    assert s.mapping_dict()["mouthFunnel"] == ["Custom"] and len(s.mapping) == 6
    with pytest.raises(RuntimeError, match="not an ARKit channel"):
        bpy.ops.parley.mapping_add(channel="smirk", shape_key="Custom")
    preset.write_text("{not json")
    with pytest.raises(RuntimeError, match="not a JSON mapping preset"):
        bpy.ops.parley.mapping_load(filepath=str(preset))


def _scene_state():
    return (sorted(a.name for a in bpy.data.actions), len(bpy.context.scene.parley.take_list),
            [(o.name, None if o.animation_data is None else len(o.animation_data.nla_tracks))
             for o in bpy.data.objects], len(bpy.context.scene.sequence_editor.strips_all)
            if bpy.context.scene.sequence_editor else 0)


@_blender
def test_bad_inputs_report_cleanly_and_leave_the_scene(extension, tmp_path, data_dir):
    _fresh_scene()
    face, arm = _test_rig()
    s = _setup(face, arm, mode="neutral")
    state = _scene_state()
    ap = bpy.context.preferences.addons[PKG].preferences

    def fails(op, match, **kw):
        with pytest.raises(RuntimeError, match=match):
            op(**kw)
        assert _scene_state() == state

    # no audio: the poll says why
    assert not bpy.ops.parley.generate.poll()
    s.audio_path = str(tmp_path / "missing.wav")
    fails(bpy.ops.parley.generate, "audio file not found")
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"not audio at all" * 10)
    s.audio_path = str(junk)
    fails(bpy.ops.parley.generate, "Parley: .*")
    s.audio_path = str(data_dir / "speech" / "sr_english.wav")
    ap.engine_python = str(tmp_path / "nopython")
    fails(bpy.ops.parley.generate, "engine interpreter not found")
    ap.engine_python = str(tmp_path / "barepython")
    (tmp_path / "barepython").write_text("")
    # an interpreter without the engine (isolated, no site-packages)
    bare = tmp_path / "barepython"
    bare.write_text(f'#!/bin/sh\nexec "{sys.executable}" -I -S "$@"\n')
    fails(bpy.ops.parley.generate, "not executable")
    bare.chmod(0o755)
    ap.engine_python = str(bare)
    fails(bpy.ops.parley.generate, "engine is not installed")
    ap.engine_python = sys.executable
    s.mode = "neutral"
    # a mesh without shape keys, an armature of unknown layout
    plain = bpy.data.objects.new("Plain", bpy.data.meshes.new("plain"))
    bpy.context.scene.collection.objects.link(plain)
    state = _scene_state()
    s.target_mesh = plain
    fails(bpy.ops.parley.generate, "no shape keys")
    s.target_mesh = face
    for b in arm.data.bones:
        b.name = "bone_" + b.name
    fails(bpy.ops.parley.generate, "unknown bone layout")
    # clips: newer schema, not a clip, missing
    clip = neutral_clip(0.5, fps=30.0, meta=make_meta(fps=30.0, duration_s=0.5, mode="neutral"))
    clip.meta["schema_version"] = 99
    newer = tmp_path / "newer.npz"
    np.savez(newer, **_clip_arrays(clip))
    s.target_armature = None
    with pytest.raises(SchemaVersionError):
        from rigs.core.clip import load_clip
        load_clip(newer)
    fails(bpy.ops.parley.apply_clip, "newer|schema", filepath=str(newer))
    (tmp_path / "bad.npz").write_bytes(b"xx")
    fails(bpy.ops.parley.apply_clip, "not a Parley clip", filepath=str(tmp_path / "bad.npz"))
    fails(bpy.ops.parley.apply_clip, "clip file not found", filepath=str(tmp_path / "none.npz"))


def _clip_arrays(clip):
    return {"meta": np.array(json.dumps(clip.meta)), "expression": clip.expression,
            "expression_names": np.array(clip.expression_names), "joint_angles": clip.joint_angles,
            "joint_names": np.array(clip.joint_names), "joint_parents": np.array(clip.joint_parents, np.int32),
            "root_translation": clip.root_translation, "lip_vertices": clip.lip_vertices,
            "lip_vertex_ids": np.asarray(clip.lip_vertex_ids, np.int32)}


@_blender
def test_disable_and_reenable(extension):
    import addon_utils

    addon_utils.disable(PKG, default_set=True)
    assert not hasattr(bpy.types.Scene, "parley") and not hasattr(bpy.types, "PARLEY_OT_generate")
    addon_utils.enable(PKG, default_set=True)
    assert hasattr(bpy.types.Scene, "parley") and bpy.ops.parley.generate is not None


@_blender
def test_generate_phonetic_in_subprocess_moves_the_jaw(extension, data_dir):
    _fresh_scene()
    face, arm = _test_rig()
    ap = bpy.context.preferences.addons[PKG].preferences
    ap.engine_mode, ap.engine_python, ap.engine_root = 'SUBPROCESS', sys.executable, str(ROOT)
    _setup(face, arm, audio_path=str(data_dir / "speech" / "sr_english.wav"), mode="phonetic",
           transcript="one two three", emo_joy=0.6, add_sound=False)
    assert bpy.ops.parley.generate() == {'FINISHED'}
    (track,) = _parley_tracks(face.data.shape_keys)
    jaw = [fc for fc in _fcurves(track.strips[0].action) if fc.data_path == 'key_blocks["jawOpen"].value'][0]
    v = np.array([k.co[1] for k in jaw.keyframe_points])
    assert v.max() > 0.05 and v.std() > 0.01  # speech opens and closes the jaw
    se = bpy.context.scene.sequence_editor
    assert se is None or not len(se.strips_all)  # add_sound off


@_blender
def test_mode_menu_lists_the_registered_animators(extension):
    from engine.animators.registry import ANIMATORS

    s = bpy.context.scene.parley
    for name in ANIMATORS.names():
        s.mode = name
        assert s.mode_name() == name
    with pytest.raises(TypeError):
        s.mode = "telepathic"  # nothing offers a mode the engine does not have


@_blender
def test_operators_are_undoable(extension):
    """Every scene-changing operator registers an undo step (the undo itself: the demo-rig test)."""
    for name in ("generate", "apply_clip", "take_remove", "take_activate", "mapping_detect", "mapping_load",
                 "mapping_add", "mapping_remove", "add_sound"):
        op = getattr(bpy.types, f"PARLEY_OT_{name}")
        assert {'REGISTER', 'UNDO'} <= set(op.bl_options), name


@_blender
def test_livelink_csv_import(extension, tmp_path):
    from rigs.formats import livelink

    _fresh_scene()
    face, arm = _test_rig()
    clip = neutral_clip(1.0, fps=30.0)
    clip.expression[:, clip.expression_names.index("jawOpen")] = np.linspace(0, 1, clip.num_frames)
    csv = livelink.export_livelink_csv(clip, tmp_path / "take.csv")
    bpy.context.scene.render.fps = 30
    _setup(face, None, clip_path=str(csv))
    assert bpy.ops.parley.apply_clip() == {'FINISHED'}
    (track,) = _parley_tracks(face.data.shape_keys)
    jaw = [fc for fc in _fcurves(track.strips[0].action) if fc.data_path == 'key_blocks["jawOpen"].value'][0]
    v = np.array([k.co[1] for k in jaw.keyframe_points])
    assert v[0] < 0.05 and v.max() > 0.9 and np.all(np.diff(v) >= -1e-6)  # the ramp survives the round trip


@_blender
def test_render_take_to_mp4(extension, tmp_path, data_dir):
    _fresh_scene()
    face, arm = _test_rig()
    scene = bpy.context.scene
    scene.render.fps = 10
    clip = neutral_clip(0.3, fps=30.0)
    path = save_clip(clip, tmp_path / "c.npz")
    _setup(face, arm, clip_path=str(path), audio_path=str(data_dir / "speech" / "sr_english.wav"),
           render_engine="BLENDER_WORKBENCH", render_path=str(tmp_path / "take.mp4"))
    assert not bpy.ops.parley.render_take.poll()  # no takes yet
    assert bpy.ops.parley.apply_clip() == {'FINISHED'}
    assert not bpy.ops.parley.render_take.poll()  # no camera
    cam = bpy.data.objects.new("Cam", bpy.data.cameras.new("Cam"))
    scene.collection.objects.link(cam)
    cam.location = (0.5, -4, 0.5)
    cam.rotation_euler = (1.5708, 0, 0)
    scene.camera = cam
    scene.render.resolution_x, scene.render.resolution_y, scene.render.resolution_percentage = 64, 48, 100
    assert bpy.ops.parley.add_sound() == {'FINISHED'}
    before = (scene.render.engine, scene.render.image_settings.file_format, scene.frame_end)
    assert bpy.ops.parley.render_take() == {'FINISHED'}
    out = tmp_path / "take.mp4"
    assert out.is_file() and out.stat().st_size > 1000
    assert (scene.render.engine, scene.render.image_settings.file_format, scene.frame_end) == before
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_type", "-of", "csv=p=0",
                            str(out)], capture_output=True, text=True)
    if probe.returncode == 0:
        assert sorted(probe.stdout.split()) == ["audio", "video"]



# ----------------------------------------------------------------------------- real characters

def _mixamo_armature(name="Armature", **kw):
    """A Mixamo-named A-pose armature in the current scene (synthetic rest from the Mixamo map)."""
    from conftest import armature_from_rest
    from rigs.retarget import synthetic_rest

    return armature_from_rest(synthetic_rest("mixamo", seed=4, **kw), name, fresh=False)


def _facebuilder_head(data_dir):
    """The real KeenTools FaceBuilder ARKit head (51 PascalCase shape keys) appended into the scene."""
    path = data_dir / "livelink" / "Live_Link_Face.blend"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with bpy.data.libraries.load(str(path), link=False) as (src, dst):
        dst.objects = ["FBHead"]
    head = dst.objects[0]
    bpy.context.scene.collection.objects.link(head)
    return head


def _pose_state(arm):
    return {pb.name: (tuple(pb.rotation_quaternion), tuple(pb.rotation_euler), tuple(pb.location))
            for pb in arm.pose.bones}


@_blender
def test_remove_bake_restores_every_value_and_the_sound_strip(extension, data_dir):
    """Generate onto the real FaceBuilder head and a Mixamo body, look at a frame inside the take, Remove Bake:
    every shape-key value and bone pose is back as the artist left it (not frozen in the bake's pose) and the
    sound strip Generate added is gone."""
    _fresh_scene()
    scene = bpy.context.scene
    scene.render.fps = 30
    head = _facebuilder_head(data_dir)
    arm = _mixamo_armature()
    keys = head.data.shape_keys.key_blocks
    for i, kb in enumerate(keys[1:]):
        kb.value = 0.1 + 0.3 * (i % 3) / 2  # the artist's static expression
    arm.pose.bones["mixamorig:LeftArm"].rotation_quaternion = (0.9, 0.3, 0.2, 0.1)
    arm.pose.bones["mixamorig:Hips"].location = (0.01, 0.02, 0.03)
    values, pose = {kb.name: kb.value for kb in keys}, _pose_state(arm)
    audio = data_dir / "speech" / "sr_english.wav"
    s = _setup(head, arm, audio_path=str(audio), mode="phonetic", transcript="one two three", add_sound=True)
    assert s.start_frame == scene.frame_start  # the scene's start by default
    assert bpy.ops.parley.generate() == {'FINISHED'}
    take = s.take_list[0]
    assert len(s.mapping_dict()) == 51 and [st.type for st in scene.sequence_editor.strips_all] == ['SOUND']
    scene.frame_set((take.frame_start + take.frame_end) // 2)
    moved = sum(abs(kb.value - values[kb.name]) > 1e-3 for kb in keys)
    assert moved > 20 and _pose_state(arm) != pose  # the bake shows
    assert bpy.ops.parley.take_remove() == {'FINISHED'}
    scene.frame_set(scene.frame_current)
    assert {kb.name: kb.value for kb in keys} == pytest.approx(values, abs=1e-6)
    after = _pose_state(arm)
    for b, v in pose.items():
        assert np.allclose(np.concatenate(after[b]), np.concatenate(v), atol=1e-6), b
    assert not len(scene.sequence_editor.strips_all)  # the sound strip went with the take


@_blender
def test_active_action_reported_and_uncovered(extension, tmp_path):
    """The rig's own active Action hides the take: Apply reports it, the take shows it; Push Down (or the
    Mute setting) uncovers the take, and Remove Bake puts the artist's Action back as it was."""
    _fresh_scene()
    face, arm = _test_rig()  # UserBlink, the artist's active Action, keys eyeBlinkLeft
    bpy.context.scene.render.fps = 30
    keys = face.data.shape_keys
    clip = neutral_clip(1.0, fps=30.0)
    clip.expression[:, clip.expression_names.index("eyeBlinkLeft")] = 0.9
    path = save_clip(clip, tmp_path / "c.npz")
    s = _setup(face, None, clip_path=str(path), start_frame=1)
    assert bpy.ops.parley.apply_clip() == {'FINISHED'}
    take = s.take_list[0]
    assert "UserBlink" in take.hidden_by and "UserBlink" in take.report
    bpy.context.scene.frame_set(10)
    assert keys.key_blocks["eyeBlinkLeft"].value == pytest.approx(0.3)  # the artist's blink hides the take
    assert bpy.ops.parley.take_uncover(how='PUSH_DOWN') == {'FINISHED'}
    assert keys.animation_data.action is None and not take.hidden_by
    bpy.context.scene.frame_set(11)
    assert keys.key_blocks["eyeBlinkLeft"].value == pytest.approx(0.9, abs=1e-4)  # the take shows
    assert "UserBlink" in keys.animation_data.nla_tracks
    s.active_action = 'MUTE'
    assert bpy.ops.parley.apply_clip() == {'FINISHED'}  # a second take: nothing hides it any more
    assert bpy.ops.parley.take_activate(index=0) == {'FINISHED'}
    assert not keys.animation_data.nla_tracks["UserBlink"].mute  # the artist's track is not a take's
    assert bpy.ops.parley.take_remove(index=0) == {'FINISHED'}
    assert keys.animation_data.action is None  # the other take still needs it pushed down
    assert bpy.ops.parley.take_remove(index=0) == {'FINISHED'}
    assert keys.animation_data.action.name == "UserBlink" and "UserBlink" not in keys.animation_data.nla_tracks
    assert keys.animation_data.action_influence == 1.0
    bpy.context.scene.frame_set(12)
    assert keys.key_blocks["eyeBlinkLeft"].value == pytest.approx(0.3)
    # the Mute setting at bake time
    assert bpy.ops.parley.apply_clip() == {'FINISHED'}
    assert keys.animation_data.action_influence == 0.0 and not s.take_list[0].hidden_by
    assert bpy.ops.parley.take_remove() == {'FINISHED'}
    assert keys.animation_data.action_influence == 1.0


@_blender
def test_unknown_skeleton_needs_a_bone_map_and_presets_carry_bones(extension, tmp_path):
    """An armature of unknown names with a Neck and a Head is refused (it baked two bones and reported
    success); its bones mapped in a preset's bones section, loaded into the bone rows, it bakes them all."""
    _fresh_scene()
    bpy.context.scene.render.fps = 30
    arm = _mixamo_armature("Biped", elbow_bend_deg=0, hip_spread_deg=0)
    rename = {}
    for b in arm.data.bones:
        short = b.name.split(":")[-1]
        new = short if short in ("Neck", "Head") else f"Bip01 {short}"
        rename[short] = new
        b.name = new
    clip = neutral_clip(0.5, fps=30.0)
    for j in ("spine2", "left_shoulder", "head"):
        clip.joint_angles[:, clip.joint_names.index(j), 2] = 0.3
    path = save_clip(clip, tmp_path / "c.npz")
    s = _setup(None, arm, clip_path=str(path), apply_face=False)
    assert bpy.ops.parley.mapping_detect() == {'FINISHED'}
    assert "partial" in s.bone_report and not len(s.bone_mapping)
    with pytest.raises(RuntimeError, match="only head, neck recognised"):
        bpy.ops.parley.apply_clip()
    from rigs.retarget import load_map

    mixamo = load_map("mixamo").bones
    bones = {j: rename[c[0].split(":")[-1]] for j, c in mixamo.items() if c[0].split(":")[-1] in rename}
    preset = tmp_path / "biped.json"
    preset.write_text(json.dumps({"parley_mapping": 1, "name": "biped", "shape_keys": {}, "bones": bones}))
    assert bpy.ops.parley.mapping_load(filepath=str(preset)) == {'FINISHED'}
    assert s.bone_mapping_dict() == bones and f"{len(bones)} bones" in s.mapping_report
    assert bpy.ops.parley.apply_clip() == {'FINISHED'}
    (track,) = _parley_tracks(arm)
    keyed = {fc.data_path.split('"')[1] for fc in _fcurves(track.strips[0].action)}
    assert {bones["spine2"], bones["left_shoulder"], bones["head"], bones["pelvis"]} <= keyed
    assert len(keyed) >= 20
    # saved back, the preset carries the bone rows
    assert bpy.ops.parley.mapping_save(filepath=str(tmp_path / "again.json")) == {'FINISHED'}
    assert json.loads((tmp_path / "again.json").read_text())["bones"] == bones
    s.bone_mapping.clear()
    s.bone_mapping.add().joint, s.bone_mapping[0].bone = "head", "NoSuchBone"
    with pytest.raises(RuntimeError, match="NoSuchBone"):
        bpy.ops.parley.apply_clip()


@_blender
def test_auto_detect_on_an_armature_alone_scene_start_and_several_meshes(extension, tmp_path):
    """Auto-detect works with only an armature and shows the layout; the start frame follows the scene's
    start; one bake drives the face and the teeth mesh."""
    _fresh_scene()
    scene = bpy.context.scene
    scene.render.fps, scene.frame_start = 30, 101
    arm = _mixamo_armature()
    s = _setup(None, arm)
    assert bpy.ops.parley.mapping_detect.poll()
    assert bpy.ops.parley.mapping_detect() == {'FINISHED'}
    assert s.bone_report.startswith("Armature: mixamo (") and len(s.bone_mapping) >= 22
    assert s.bone_mapping_dict()["head"] == "mixamorig:Head"
    face, _ = _test_rig()
    teeth = bpy.data.objects.new("Teeth", bpy.data.meshes.new("teeth"))
    teeth.data.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    scene.collection.objects.link(teeth)
    teeth.shape_key_add(name="Basis")
    teeth.shape_key_add(name="jawOpen")
    clip = neutral_clip(0.5, fps=30.0)
    clip.expression[:, clip.expression_names.index("jawOpen")] = 0.7
    path = save_clip(clip, tmp_path / "c.npz")
    s = _setup(face, arm, clip_path=str(path))
    assert s.start_frame == 101
    s.extra_meshes.add().obj = teeth
    assert bpy.ops.parley.apply_clip() == {'FINISHED'}
    take = s.take_list[0]
    assert take.frame_start == 101
    for ob in (face, teeth):
        (track,) = _parley_tracks(ob.data.shape_keys)
        assert track.strips[0].frame_start == 101
    scene.frame_set(110)
    assert teeth.data.shape_keys.key_blocks["jawOpen"].value == pytest.approx(0.7, abs=1e-4)
    s.start_frame = 5  # set by hand, it stays
    scene.frame_start = 50
    assert s.start_frame == 5


# ----------------------------------------------------------------------------- the demo character, end to end

def _append_demo_rig():
    """Append the demo character's objects into the current scene; (head mesh, armature).

    The cached .blend is built (if missing) in a child process: building reads factory settings, which
    would drop this session's test extension repository."""
    code = "from addon.blender.demo_character import cached_demo_rig; print(cached_demo_rig())"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    path = r.stdout.strip().splitlines()[-1]
    from addon.blender.demo_character import ARMATURE_NAME, HEAD_NAME

    with bpy.data.libraries.load(path, link=False) as (src, dst):
        dst.objects = list(src.objects)
    for o in dst.objects:
        bpy.context.scene.collection.objects.link(o)
    return bpy.data.objects[HEAD_NAME], bpy.data.objects[ARMATURE_NAME]


def _key_user_blink(face):
    """The artist's own blink on the head's shape keys (an Action of theirs the bake must not touch)."""
    keys = face.data.shape_keys
    keys.animation_data_create()
    keys.animation_data.action = bpy.data.actions.new("UserBlink")
    kb = keys.key_blocks["eyeBlinkLeft"]
    for frame, v in ((5, 0.0), (8, 1.0), (11, 0.0)):
        kb.value = v
        kb.keyframe_insert("value", frame=frame)


def _full_state():
    """Actions (names and every key), every ID's NLA tracks and strips, takes and bone rotation modes."""
    acts = {}
    for a in bpy.data.actions:
        co = []
        for fc in _fcurves(a):
            arr = np.empty(2 * len(fc.keyframe_points), np.float32)
            fc.keyframe_points.foreach_get("co", arr)
            co.append((fc.data_path, fc.array_index, arr.tobytes()))
        acts[a.name] = sorted(co)
    nla = {}
    for coll in (bpy.data.objects, bpy.data.shape_keys):
        for idb in coll:
            ad = idb.animation_data
            nla[idb.name] = None if ad is None else (
                ad.action.name if ad.action else None,
                [(t.name, t.mute, [(s.name, s.frame_start, s.action.name) for s in t.strips]) for t in ad.nla_tracks])
    modes = {(o.name, pb.name): pb.rotation_mode for o in bpy.data.objects if o.pose for pb in o.pose.bones}
    return acts, nla, len(bpy.context.scene.parley.take_list), modes


@_blender
def test_generate_onto_demo_rig_undo_redo_and_remove(extension, data_dir):
    """Generate (phonetic, real engine subprocess) onto the demo head and armature, then undo, redo, remove.

    Undo in background bpy: ``ed.undo``'s poll fails in the default context, but inside
    ``context.temp_override(window=...)`` with the window manager's one window it runs, and operators
    called with ``undo=True`` (``bpy.ops.x('EXEC_DEFAULT', True)``) push memfile undo steps like a click.
    """
    from rigs.core.arkit import ARKIT_NAMES
    from rigs.core.skeleton import canonical_skeleton
    import soundfile

    _fresh_scene()
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 30, 1.0
    face, arm = _append_demo_rig()
    _key_user_blink(face)
    audio = data_dir / "speech" / "sr_english.wav"
    s = _setup(face, arm, audio_path=str(audio), mode="phonetic", transcript="one two three", start_frame=7,
               add_sound=False)
    window = bpy.context.window_manager.windows[0]
    bpy.ops.ed.undo_push(message="before Parley")
    before = _full_state()
    user_before = before[0]["UserBlink"]
    assert user_before and set(before[0]) == {"UserBlink"}

    assert bpy.ops.parley.generate('EXEC_DEFAULT', True) == {'FINISHED'}

    n_expected = round(soundfile.info(str(audio)).duration * 30)
    keys = face.data.shape_keys
    (ftrack,) = _parley_tracks(keys)
    (btrack,) = _parley_tracks(arm)
    for track in (ftrack, btrack):
        (strip,) = track.strips
        assert strip.frame_start == 7 and strip.action.name not in before[0]
    fcs = _fcurves(ftrack.strips[0].action)
    assert sorted(fc.data_path for fc in fcs) == sorted(f'key_blocks["{n}"].value' for n in ARKIT_NAMES)
    assert len(fcs) == len(s.mapping_dict()) == 52
    bones = canonical_skeleton().names
    body = _fcurves(btrack.strips[0].action)
    rot = [fc for fc in body if fc.data_path.endswith(".rotation_quaternion")]
    assert {fc.data_path.split('"')[1] for fc in rot} == set(bones) and len(bones) == 25
    assert sorted((fc.data_path, fc.array_index) for fc in rot) == sorted(
        (f'pose.bones["{b}"].rotation_quaternion', c) for b in bones for c in range(4))
    for fc in fcs + body:
        assert abs(len(fc.keyframe_points) - n_expected) <= 1, (fc.data_path, len(fc.keyframe_points), n_expected)
        assert fc.keyframe_points[0].co[0] == 7
    jaw = next(fc for fc in fcs if fc.data_path == 'key_blocks["jawOpen"].value')
    assert max(k.co[1] for k in jaw.keyframe_points) > 0.05  # the speech moves the jaw
    # the artist's Action is still the active one, key for key
    assert keys.animation_data.action.name == "UserBlink"
    after = _full_state()
    assert after[0]["UserBlink"] == user_before and len(after[0]) == 3 and after[2] == 1

    # undo: one step back is the scene before Generate
    with bpy.context.temp_override(window=window):
        assert bpy.ops.ed.undo.poll()
        assert bpy.ops.ed.undo() == {'FINISHED'}
    assert _full_state() == before
    with bpy.context.temp_override(window=window):
        assert bpy.ops.ed.redo() == {'FINISHED'}
    assert _full_state() == after

    # Remove Bake puts the scene back exactly too (objects looked up again: undo reloads data)
    assert bpy.ops.parley.take_remove('EXEC_DEFAULT', True) == {'FINISHED'}
    assert _full_state() == before


@_blender
def test_remove_row_operators_remove_the_selected_row(extension):
    s = bpy.context.scene.parley
    s.mapping.clear()
    assert not bpy.ops.parley.mapping_remove.poll()           # nothing selected
    for ch in ("jawOpen", "mouthClose"):
        assert bpy.ops.parley.mapping_add(channel=ch, shape_key=ch) == {'FINISHED'}
    s.mapping_index = 0
    assert bpy.ops.parley.mapping_remove() == {'FINISHED'}
    assert [r.channel for r in s.mapping] == ["mouthClose"] and s.mapping_index == 0
    assert bpy.ops.parley.mapping_remove() == {'FINISHED'}
    assert len(s.mapping) == 0 and s.mapping_index == -1 and not bpy.ops.parley.mapping_remove.poll()
    s.bone_mapping.clear()
    assert bpy.ops.parley.bone_mapping_add(joint="head", bone="Head") == {'FINISHED'}
    assert bpy.ops.parley.bone_mapping_remove() == {'FINISHED'} and len(s.bone_mapping) == 0
    s.extra_meshes.clear()
    assert not bpy.ops.parley.meshes_remove.poll()
