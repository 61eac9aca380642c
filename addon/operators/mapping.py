"""The mapping: auto-detect, edit shape-key and bone rows, save and load presets (shape keys and bones)."""
from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import StringProperty

from .. import mapping, prefs
from ..vocab import arkit, skeleton
from .common import RemoveSelectedRow, settings

class PARLEY_OT_mapping_detect(bpy.types.Operator):
    """Match the face mesh's shape keys to ARKit channels by name and the armature's bones to the canonical
    joints (detected layout), filling both mapping lists"""

    bl_idname = "parley.mapping_detect"
    bl_label = "Auto-detect"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        s = settings(context)
        if s.target_mesh is None and s.target_armature is None:
            cls.poll_message_set("pick a face mesh or an armature first")
            return False
        if s.target_mesh is not None and s.target_mesh.data.shape_keys is None and s.target_armature is None:
            cls.poll_message_set("the face mesh has no shape keys")
            return False
        return True

    def execute(self, context):
        s = settings(context)
        parts, ok = [], False
        keys = s.target_mesh.data.shape_keys if s.target_mesh is not None else None
        bones = None
        if s.target_armature is not None:
            bones = mapping.match_bones([b.name for b in s.target_armature.data.bones])
            s.set_bone_mapping(bones.bones if bones.layout and not bones.partial else {})
            s.bone_report = f"{s.target_armature.name}: {bones.describe()}" + (
                "; map the other bones below" if bones.partial or bones.layout is None else "")
            ok |= bool(bones.layout) and not bones.partial
        if keys is not None:
            names = [k.name for k in keys.key_blocks]
            found = mapping.match_shape_keys(names, basis=keys.reference_key.name)
            s.set_mapping(found.mapping)
            parts.append(mapping.summary(found, bones, fallbacks=mapping.fallback_summary(names)))
            ok |= bool(found.mapping)
        elif bones is not None:
            parts.append(f"armature: {bones.describe()}")
        s.mapping_report = "; ".join(parts)
        self.report({'INFO'} if ok else {'WARNING'}, "Parley: " + s.mapping_report)
        return {'FINISHED'}


class PARLEY_OT_bone_mapping_add(bpy.types.Operator):
    """Add a bone-mapping row (canonical joint -> bone)"""

    bl_idname = "parley.bone_mapping_add"
    bl_label = "Add Bone Row"
    bl_options = {'REGISTER', 'UNDO'}

    joint: StringProperty()
    bone: StringProperty()

    def execute(self, context):
        s = settings(context)
        if self.joint and self.joint not in skeleton.canonical_skeleton().names:
            self.report({'ERROR'}, f"Parley: {self.joint!r} is not a canonical joint")
            return {'CANCELLED'}
        row = s.bone_mapping.add()
        row.joint, row.bone = self.joint, self.bone
        s.bone_mapping_index = len(s.bone_mapping) - 1
        return {'FINISHED'}


class PARLEY_OT_bone_mapping_remove(RemoveSelectedRow, bpy.types.Operator):
    """Remove the selected bone-mapping row"""

    bl_idname = "parley.bone_mapping_remove"
    bl_label = "Remove Bone Row"
    bl_options = {'REGISTER', 'UNDO'}

    rows, row_index, none_selected = "bone_mapping", "bone_mapping_index", "no bone row selected"


class PARLEY_OT_mapping_add(bpy.types.Operator):
    """Add a mapping row (channel -> shape key)"""

    bl_idname = "parley.mapping_add"
    bl_label = "Add Mapping Row"
    bl_options = {'REGISTER', 'UNDO'}

    channel: StringProperty()
    shape_key: StringProperty()

    def execute(self, context):
        s = settings(context)
        if self.channel and self.channel not in arkit.ARKIT_INDEX:
            self.report({'ERROR'}, f"Parley: {self.channel!r} is not an ARKit channel")
            return {'CANCELLED'}
        row = s.mapping.add()
        row.channel, row.shape_key = self.channel, self.shape_key
        s.mapping_index = len(s.mapping) - 1
        return {'FINISHED'}


class PARLEY_OT_mapping_remove(RemoveSelectedRow, bpy.types.Operator):
    """Remove the selected mapping row"""

    bl_idname = "parley.mapping_remove"
    bl_label = "Remove Mapping Row"
    bl_options = {'REGISTER', 'UNDO'}

    rows, row_index, none_selected = "mapping", "mapping_index", "no mapping row selected"


class PARLEY_OT_mapping_save(bpy.types.Operator):
    """Save the mapping as a JSON preset"""

    bl_idname = "parley.mapping_save"
    bl_label = "Save Mapping Preset"

    filepath: StringProperty(subtype='FILE_PATH')
    filter_glob: StringProperty(default="*.json", options={'HIDDEN'})

    @classmethod
    def poll(cls, context):
        s = settings(context)
        if not len(s.mapping) and not len(s.bone_mapping):
            cls.poll_message_set("the mapping is empty")
            return False
        return True

    def invoke(self, context, event):
        p = prefs.get(context)
        if p and not self.filepath:
            self.filepath = str(p.presets_folder() / "mapping.json")
        context.window_manager.fileselect_add(self)
        return {'RUNNING_MODAL'}

    def execute(self, context):
        s = settings(context)
        if not self.filepath:
            self.report({'ERROR'}, "Parley: no preset file given")
            return {'CANCELLED'}
        path = Path(bpy.path.abspath(self.filepath)).with_suffix(".json")
        try:
            bones = s.bone_mapping_dict()
            if not bones and s.target_armature is not None:
                found = mapping.match_bones([b.name for b in s.target_armature.data.bones])
                bones = found.bones if not found.partial else {}
            mapping.save_preset(path, name=path.stem, shape_keys=s.mapping_dict(), bones=bones)
        except (mapping.MappingError, OSError) as e:
            self.report({'ERROR'}, f"Parley: cannot save preset: {e}")
            return {'CANCELLED'}
        self.report({'INFO'}, f"Parley: saved {path}")
        return {'FINISHED'}


class PARLEY_OT_mapping_load(bpy.types.Operator):
    """Load a JSON mapping preset"""

    bl_idname = "parley.mapping_load"
    bl_label = "Load Mapping Preset"
    bl_options = {'REGISTER', 'UNDO'}

    filepath: StringProperty(subtype='FILE_PATH')
    filter_glob: StringProperty(default="*.json", options={'HIDDEN'})

    def invoke(self, context, event):
        context.window_manager.fileselect_add(self)
        return {'RUNNING_MODAL'}

    def execute(self, context):
        s = settings(context)
        try:
            preset = mapping.load_preset(bpy.path.abspath(self.filepath))
        except mapping.MappingError as e:
            self.report({'ERROR'}, f"Parley: {e}")
            return {'CANCELLED'}
        s.set_mapping(preset["shape_keys"])
        s.set_bone_mapping(preset["bones"])
        s.mapping_report = (f"preset {preset['name']}: {len(preset['shape_keys'])}/{arkit.NUM_CHANNELS} channels, "
                            f"{len(preset['bones'])} bones")
        if s.target_armature is not None and preset["bones"]:
            have = {b.name for b in s.target_armature.data.bones}
            missing = sorted(b for b in preset["bones"].values() if b not in have)
            if missing:
                s.mapping_report += f"; the armature lacks {', '.join(missing[:4])}"
        self.report({'INFO'}, "Parley: " + s.mapping_report)
        return {'FINISHED'}
