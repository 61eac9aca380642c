"""Scene settings, mapping rows and take records of the Parley add-on (bpy PropertyGroups).

Everything lives on ``scene.parley`` so it is saved with the .blend file and undone with the scene.
"""
from __future__ import annotations

import functools

import bpy
from bpy.props import (BoolProperty, CollectionProperty, EnumProperty, FloatProperty, IntProperty,
                       PointerProperty, StringProperty)

from . import prefs, runner
from .vocab import emotions, errors, skeleton

EMOTIONS = emotions.EMOTIONS
REGIONS = ("jaw", "lips", "brows", "eyes", "head", "body")


def _sound_strips(self, context):
    items = []
    se = context.scene.sequence_editor if context and context.scene else None
    if se is not None:
        for s in se.strips_all:
            if s.type == 'SOUND':
                items.append((s.name, s.name, "sound strip " + s.name))
    return items or [("", "(no sound strips)", "add a sound strip to the sequencer first")]


ENGINE_DEFAULT = "_default"   # the enum item used when the engine cannot list its animators


def _mode_items(self, context):
    """The engine's animators as enum items (kept alive by the cache, as Blender requires)."""
    return _mode_enum(*prefs.engine_location(context))


@functools.lru_cache(maxsize=8)
def _mode_enum(python: str, root: str, in_process: bool) -> list[tuple[str, str, str]]:
    try:
        modes = runner.modes_in_process() if in_process else runner.list_modes(python, root or None)
    except errors.ParleyError as e:
        return [(ENGINE_DEFAULT, "Engine default", f"the engine's own default (its list is unavailable: {e})")]
    return [(m.name, m.label, m.description if m.available else f"{m.description} (not available: {m.why})")
            for m in modes]


def _is_mesh(self, obj):
    return obj.type == 'MESH'


def _is_armature(self, obj):
    return obj.type == 'ARMATURE'


class ParleyMappingItem(bpy.types.PropertyGroup):
    """One row of the mapping editor: an ARKit channel driving one shape key."""

    channel: StringProperty(name="Channel", description="ARKit channel (canonical name)")
    shape_key: StringProperty(name="Shape key", description="shape key on the target mesh")


class ParleyBoneItem(bpy.types.PropertyGroup):
    """One row of the bone-mapping editor: a canonical (SMPL-X) joint played by one bone."""

    joint: StringProperty(name="Joint", description="canonical joint (pelvis, spine1, ..., head, jaw, left_eye...)")
    bone: StringProperty(name="Bone", description="bone of the target armature")


class ParleyMeshItem(bpy.types.PropertyGroup):
    """Another mesh one bake drives besides the face (teeth, tongue, eyelashes...)."""

    obj: PointerProperty(name="Mesh", type=bpy.types.Object, poll=_is_mesh)


class ParleyTake(bpy.types.PropertyGroup):
    """One baked take: what the bake created, so it can be flipped, muted or removed exactly."""

    name: StringProperty()
    seed: IntProperty()
    clip_path: StringProperty()
    actions: StringProperty(description="names of the Actions this bake created, one per line")
    tracks: StringProperty(description="ID kind|ID name|track name per line")
    anim_data: StringProperty(description="ID kind|ID name per line: animation data the bake created")
    frame_start: IntProperty()
    frame_end: IntProperty()
    hidden_by: StringProperty(description="ID kind|ID name|Action per line: active Actions that play over this take")
    report: StringProperty(description="what the bake could not do as asked")


def _get_start_frame(self):
    """The start frame: the scene's start until the artist sets one."""
    v = self.get("_start_frame")
    return int(v) if v is not None else int(self.id_data.frame_start)


def _set_start_frame(self, value):
    self["_start_frame"] = int(value)


def _intensity(region):
    return FloatProperty(name=region.title(), default=1.0, min=0.0, soft_max=2.0, max=4.0,
                         description=f"scale of the {region} motion")


class ParleySettings(bpy.types.PropertyGroup):
    # --- generate
    audio_source: EnumProperty(name="Audio", items=[("FILE", "File", "an audio file on disk"),
                                                    ("STRIP", "Sound strip", "a sound strip of the scene")])
    audio_path: StringProperty(name="Audio file", subtype='FILE_PATH')
    sound_strip: EnumProperty(name="Strip", items=_sound_strips)
    transcript: StringProperty(name="Transcript", description="what is said (optional: better timing)")
    emo_neutral: FloatProperty(name="Neutral", min=0.0, max=1.0, default=0.0)
    emo_joy: FloatProperty(name="Joy", min=0.0, max=1.0, default=0.0)
    emo_sadness: FloatProperty(name="Sadness", min=0.0, max=1.0, default=0.0)
    emo_anger: FloatProperty(name="Anger", min=0.0, max=1.0, default=0.0)
    emo_surprise: FloatProperty(name="Surprise", min=0.0, max=1.0, default=0.0)
    emo_fear: FloatProperty(name="Fear", min=0.0, max=1.0, default=0.0)
    emo_disgust: FloatProperty(name="Disgust", min=0.0, max=1.0, default=0.0)
    seed: IntProperty(name="Seed", default=0, min=0)
    takes: IntProperty(name="Takes", default=1, min=1, max=16, description="seeded takes (seed, seed+1, ...)")
    mode: EnumProperty(name="Mode", items=_mode_items,
                       description="the engine's animator (the list comes from the engine: `parley modes`)")
    body: BoolProperty(name="Body", default=True, description="animate head and body too")
    add_sound: BoolProperty(name="Add sound strip", default=True,
                            description="add the audio file to the sequencer at the start frame")
    start_frame: IntProperty(name="Start frame", get=_get_start_frame, set=_set_start_frame,
                             description="first frame of the bake (the scene's start until you set it)")
    target_mesh: PointerProperty(name="Face mesh", type=bpy.types.Object, poll=_is_mesh)
    extra_meshes: CollectionProperty(type=ParleyMeshItem, description="more meshes the same bake drives")
    extra_mesh_index: IntProperty()
    target_armature: PointerProperty(name="Armature", type=bpy.types.Object, poll=_is_armature)
    active_action: EnumProperty(
        name="Rig's own Action",
        items=[("WARN", "Warn", "keep the rig's active Action and report that it plays over the bake"),
               ("PUSH_DOWN", "Push down", "move the rig's active Action to an NLA track below the bake "
                "(it still plays outside the bake; Remove Bake puts it back)"),
               ("MUTE", "Mute", "set the active Action's influence to 0 (Remove Bake puts it back)")],
        description="what to do with an active Action that keys the same channels and would hide the bake")
    # --- apply
    clip_path: StringProperty(name="Clip", subtype='FILE_PATH', description=".npz clip or Live Link Face CSV")
    int_jaw: _intensity("jaw")
    int_lips: _intensity("lips")
    int_brows: _intensity("brows")
    int_eyes: _intensity("eyes")
    int_head: _intensity("head")
    int_body: _intensity("body")
    smoothing: FloatProperty(name="Smoothing (s)", default=0.0, min=0.0, max=0.5, step=1, precision=3,
                             description="Gaussian smoothing, sigma in seconds (0: the clip as is)")
    latency_ms: FloatProperty(name="Latency (ms)", default=0.0, min=-1000.0, max=1000.0,
                              description="shift the motion later (+) or earlier (-) against the audio")
    apply_face: BoolProperty(name="Face", default=True)
    apply_body: BoolProperty(name="Body", default=True)
    # --- mapping and takes
    mapping: CollectionProperty(type=ParleyMappingItem)
    mapping_index: IntProperty()
    mapping_report: StringProperty()
    bone_mapping: CollectionProperty(type=ParleyBoneItem)
    bone_mapping_index: IntProperty()
    bone_report: StringProperty(description="the detected armature layout")
    take_list: CollectionProperty(type=ParleyTake)
    take_index: IntProperty()
    # --- render
    render_engine: EnumProperty(name="Engine", items=[("BLENDER_WORKBENCH", "Workbench", ""),
                                                      ("BLENDER_EEVEE", "Eevee", ""), ("CYCLES", "Cycles", "")])
    render_path: StringProperty(name="Video", subtype='FILE_PATH', default="//parley_take.mp4")

    def mode_name(self) -> str | None:
        """The chosen animator's registry name, or None for the engine's default."""
        return None if self.mode == ENGINE_DEFAULT else self.mode

    def emotion_pairs(self) -> tuple[tuple[str, float], ...]:
        return tuple((e, float(getattr(self, "emo_" + e))) for e in EMOTIONS if getattr(self, "emo_" + e) > 0)

    def intensities(self) -> dict[str, float]:
        return {r: float(getattr(self, "int_" + r)) for r in REGIONS}

    def mapping_dict(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for row in self.mapping:
            if row.channel and row.shape_key:
                out.setdefault(row.channel, []).append(row.shape_key)
        return out

    def set_mapping(self, mapping: dict) -> None:
        self.mapping.clear()
        for ch in sorted(mapping):
            for key in mapping[ch]:
                row = self.mapping.add()
                row.channel, row.shape_key = ch, key

    def bone_mapping_dict(self) -> dict[str, str]:
        return {row.joint: row.bone for row in self.bone_mapping if row.joint and row.bone}

    def set_bone_mapping(self, bones: dict) -> None:
        order = {n: i for i, n in enumerate(skeleton.canonical_skeleton().names)}
        self.bone_mapping.clear()
        for j in sorted(bones, key=lambda j: order.get(j, len(order))):
            row = self.bone_mapping.add()
            row.joint, row.bone = j, bones[j]


CLASSES = (ParleyMappingItem, ParleyBoneItem, ParleyMeshItem, ParleyTake, ParleySettings)
