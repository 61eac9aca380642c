"""addon.blender.bake: new slotted Actions as NLA strips, bulk keys, resampling, missing channels, artist Actions kept."""
import numpy as np
import pytest

from conftest import armature_from_rest
from rigs.core.clip import neutral_clip
from rigs.core.arkit import ARKIT_INDEX
from rigs.core.skeleton import canonical_skeleton

pytestmark = pytest.mark.blender


@pytest.fixture(scope="module")
def demo_blend(tmp_path_factory, data_dir):
    pytest.importorskip("bpy")
    from addon.blender.demo_character import build

    return build(tmp_path_factory.mktemp("rig") / "demo.blend")


def _clip(duration_s=1.0, fps=30.0):
    c = neutral_clip(duration_s, fps=fps)
    t = c.times_s()
    c.expression[:, ARKIT_INDEX["jawOpen"]] = t / t[-1]  # a ramp 0 -> 1
    c.expression[:, ARKIT_INDEX["eyeBlinkLeft"]] = 0.5
    c.joint_angles[:, c.joint_names.index("head"), 1] = 0.4 * t / t[-1]
    return c


def _open(path, fps=30, fps_base=1.0):
    import bpy

    bpy.ops.wm.open_mainfile(filepath=str(path))
    sc = bpy.context.scene
    sc.render.fps, sc.render.fps_base = fps, fps_base
    return bpy.data.objects["parley_head"], bpy.data.objects["parley_armature"]


def _fcurves(action):
    return [fc for layer in action.layers for strip in layer.strips for bag in strip.channelbags
            for fc in bag.fcurves]


def test_bake_writes_new_actions_with_expected_keys(demo_blend):
    import bpy

    from addon.blender.bake import bake_clip

    head, arm = _open(demo_blend)
    before = set(bpy.data.actions.keys())
    r = bake_clip(_clip(), mesh_obj=head, armature_obj=arm, start_frame=10)
    assert len(r.actions) == 2 and not (set(r.actions) & before)
    face, body = (bpy.data.actions[n] for n in r.actions)
    assert face.is_action_layered and len(face.slots) == 1 and face.slots[0].target_id_type == "KEY"
    fcs = _fcurves(face)
    assert len(fcs) == 52 and all(len(fc.keyframe_points) == 30 for fc in fcs)
    assert {fc.keyframe_points[0].co[0] for fc in fcs} == {10.0}
    bfcs = _fcurves(body)
    assert len(bfcs) == 4 * canonical_skeleton().num_joints and all(len(fc.keyframe_points) == 30 for fc in bfcs)
    assert r.num_keys == 30 * (52 + 4 * 25) and (r.frame_start, r.frame_end) == (10, 39)
    # placed as NLA strips at start_frame, evaluated by Blender
    keys = head.data.shape_keys
    strip = keys.animation_data.nla_tracks[-1].strips[0]
    assert strip.action == face and strip.frame_start == 10 and strip.action_slot == face.slots[0]
    bpy.context.scene.frame_set(10 + 15)
    assert keys.key_blocks["jawOpen"].value == pytest.approx(15 / 29, abs=1e-4)
    assert keys.key_blocks["eyeBlinkLeft"].value == pytest.approx(0.5, abs=1e-4)
    q = arm.pose.bones["head"].rotation_quaternion
    assert abs(q.angle - 0.4 * 15 / 29) < 1e-3


def test_existing_action_untouched_and_takes_layer(demo_blend):

    from addon.blender.bake import bake_clip

    head, arm = _open(demo_blend)
    keys = head.data.shape_keys
    keys.key_blocks["jawOpen"].value = 0.25
    keys.key_blocks["jawOpen"].keyframe_insert("value", frame=1)
    artist = keys.animation_data.action
    artist.name = "artist_take"
    n_before = [len(fc.keyframe_points) for fc in _fcurves(artist)]
    r1 = bake_clip(_clip(), mesh_obj=head, armature_obj=arm)
    r2 = bake_clip(_clip(), mesh_obj=head, armature_obj=arm, start_frame=40)
    assert keys.animation_data.action == artist
    assert [len(fc.keyframe_points) for fc in _fcurves(artist)] == n_before
    assert artist.name not in r1.actions + r2.actions and len(set(r1.actions + r2.actions)) == 4
    assert len(keys.animation_data.nla_tracks) == 2


@pytest.mark.parametrize("fps,fps_base,n", [(24, 1.0, 48), (25, 1.0, 50), (30, 1.001, 60)])
def test_resamples_to_scene_fps(demo_blend, fps, fps_base, n):
    import bpy

    from addon.blender.bake import bake_clip

    head, arm = _open(demo_blend, fps, fps_base)
    c = _clip(2.0, 30.0)
    r = bake_clip(c, mesh_obj=head, armature_obj=arm)
    face = bpy.data.actions[r.actions[0]]
    fc = next(f for f in _fcurves(face) if "jawOpen" in f.data_path)
    assert len(fc.keyframe_points) == n
    k = n // 2
    t = k / (fps / fps_base)
    want = np.interp(t, c.times_s(), c.expression[:, ARKIT_INDEX["jawOpen"]])
    assert fc.keyframe_points[k].co[1] == pytest.approx(want, abs=1e-4)
    assert fc.keyframe_points[k].co[0] == pytest.approx(1 + k)


def test_missing_channels_reported_and_rig_errors(demo_blend):
    import bpy

    from addon.blender.bake import bake_clip
    from rigs.core.errors import RigError

    _open(demo_blend)
    me = bpy.data.meshes.new("small")
    me.from_pydata([(0, 0, 0), (1, 0, 0), (0, 1, 0)], [], [(0, 1, 2)])
    ob = bpy.data.objects.new("small", me)
    bpy.context.scene.collection.objects.link(ob)
    with pytest.raises(RigError, match="no shape keys"):
        bake_clip(_clip(), mesh_obj=ob)
    ob.shape_key_add(name="Basis")
    ob.shape_key_add(name="JawOpen")
    ob.shape_key_add(name="Custom_thing")
    r = bake_clip(_clip(), mesh_obj=ob)
    assert r.shape_keys == {"jawOpen": ["JawOpen"]}
    assert r.missing_channels == ["eyeBlinkLeft"] and r.unmapped_keys == ["Custom_thing"]
    r = bake_clip(_clip(), mesh_obj=ob, mapping={"eyeBlinkLeft": "Custom_thing"})
    assert r.shape_keys["eyeBlinkLeft"] == ["Custom_thing"] and not r.missing_channels
    r = bake_clip(_clip(), mesh_obj=ob, regions=["eyes"])
    assert r.shape_keys == {} and r.actions == []  # jawOpen is outside the eyes region


def test_retarget_map_and_root_translation(demo_blend):
    import bpy

    from addon.blender.bake import bake_clip

    head, arm = _open(demo_blend)
    c = _clip()
    c.root_translation[:, 1] = 0.1  # up 10 cm (Y up)
    r = bake_clip(c, armature_obj=arm, retarget={"head": "neck", "pelvis": "pelvis"})
    assert r.bones == {"pelvis": "pelvis", "head": "neck"}
    bpy.context.scene.frame_set(5)
    assert arm.pose.bones["pelvis"].matrix.translation.z == pytest.approx(0.93 + 0.1, abs=1e-4)
    assert arm.pose.bones["neck"].rotation_quaternion.angle > 0.01


# ------------------------------------------------------------------------ retargeting onto other rigs

def _armature_from_rest(rest, name="rig"):
    """:func:`conftest.armature_from_rest` with an artist's Euler bones and a 30 fps scene."""
    import bpy

    obj = armature_from_rest(rest, name)
    for pb in obj.pose.bones:
        pb.rotation_mode = "XYZ"  # an artist's Euler rig: the bake keys it as Euler
    bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = 30, 1.0
    return obj


def _body_clip(T=24, seed=3):
    """Non-trivial body motion: smooth random rotations on every joint, a drifting root."""
    c = neutral_clip(T / 30.0, fps=30.0)
    rng = np.random.default_rng(seed)
    ang = np.cumsum(rng.normal(0, 0.05, (c.num_frames, 25, 3)), axis=0)
    c.joint_angles[:] = np.clip(ang, -0.9, 0.9)
    c.root_translation[:] = np.cumsum(rng.normal(0, 0.01, (c.num_frames, 3)), axis=0)
    return c


def _direction_errors_deg(clip, arm, bones, frames):
    """Max angle between each mapped segment of the posed armature (evaluated by Blender) and the same
    segment of the canonical FK of the clip (Y up -> Blender Z up)."""
    import bpy

    from rigs.core.rotations import YUP_TO_ZUP as C_YUP_TO_ZUP
    from rigs.retarget import DIRECTION_CHILDREN
    from rigs.core.skeleton import canonical_skeleton

    sk = canonical_skeleton()
    _, pos = sk.forward_kinematics(clip.joint_angles, clip.root_translation)
    errs = {}
    for f in frames:
        bpy.context.scene.frame_set(1 + f)
        heads = {pb.name: np.array(pb.head) for pb in arm.pose.bones}
        for c, kids in DIRECTION_CHILDREN.items():
            k = next((k for k in kids if k in bones), None)
            if c not in bones or k is None:
                continue
            a = heads[bones[k]] - heads[bones[c]]
            b = C_YUP_TO_ZUP @ (pos[f, sk.index(k)] - pos[f, sk.index(c)])
            cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
            errs[f"{c}->{k}"] = max(errs.get(f"{c}->{k}", 0.0), float(np.degrees(np.arccos(min(1.0, cos)))))
    return errs


@pytest.mark.parametrize("layout,n_pairs", [("mixamo", 17), ("rigify", 17)])
def test_retargets_onto_apose_rolled_rig(layout, n_pairs):
    from addon.blender.bake import bake_clip
    from rigs.retarget import synthetic_rest

    # straight elbows and legs: the rig's rest differs from the canonical T-pose only by its A-pose arms,
    # which a bake lines up with the clip (every other joint moves relative to its rest)
    rest = synthetic_rest(layout, a_pose_deg=40, seed=4, elbow_bend_deg=0.0, hip_spread_deg=0.0)
    arm = _armature_from_rest(rest)
    clip = _body_clip()
    r = bake_clip(clip, armature_obj=arm)
    assert r.retargeted and r.layout == layout
    errs = _direction_errors_deg(clip, arm, r.bones, frames=(0, 7, 15, 23))
    assert len(errs) >= n_pairs, errs
    assert max(errs.values()) < 2.0, errs
    # copying the canonical rotations instead would be far off on the A-pose arms
    arms = [e for k, e in errs.items() if "shoulder->" in k]
    assert arms and max(arms) < 2.0
    # the Euler bones were keyed as Euler: no rotation mode changed
    assert not r.rotation_modes and {arm.pose.bones[b].rotation_mode for b in r.bones.values()} == {"XYZ"}


def test_copy_on_canonical_rig_is_not_retarget(demo_blend):
    from addon.blender.bake import bake_clip

    head, arm = _open(demo_blend)
    clip = _body_clip(T=12)
    r = bake_clip(clip, armature_obj=arm)
    assert not r.retargeted and r.layout == "smplx"  # canonical names, canonical T-pose
    errs = _direction_errors_deg(clip, arm, r.bones, frames=(0, 11))
    assert max(errs.values()) < 2.0, errs


def test_unknown_armature_layout_is_a_rig_error():
    import bpy

    from addon.blender.bake import bake_clip
    from rigs.core.errors import RigError
    from rigs.retarget import RestSkeleton

    rest = RestSkeleton(("Bone", "Bone.001"), (-1, 0), np.array([[0, 0, 0], [0, 0, 1.0]]),
                        np.broadcast_to(np.eye(3), (2, 3, 3)).copy())
    arm = _armature_from_rest(rest)
    with pytest.raises(RigError, match="unknown bone layout"):
        bake_clip(_body_clip(T=6), armature_obj=arm)
    assert len(bpy.data.actions) == 0
