"""The face mapping: auto-detect, edit rows, save and load presets (shape keys and bones)."""
from __future__ import annotations

from pathlib import Path

import bpy
from bpy.props import StringProperty

from .. import mapping, prefs
from ..vocab import arkit
from .common import settings

class PARLEY_OT_mapping_detect(bpy.types.Operator):
    """Match the face mesh's shape keys to ARKit channels by name (and detect the armature layout)"""

    bl_idname = "parley.mapping_detect"
    bl_label = "Auto-detect"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        s = settings(context)
        if s.target_mesh is None:
            cls.poll_message_set("pick a face mesh first")
            return False
        if s.target_mesh.data.shape_keys is None:
            cls.poll_message_set("the face mesh has no shape keys")
            return False
        return True

    def execute(self, context):
        s = settings(context)
        keys = s.target_mesh.data.shape_keys
        found = mapping.match_shape_keys([k.name for k in keys.key_blocks], basis=keys.reference_key.name)
        bones = mapping.match_bones([b.name for b in s.target_armature.data.bones]) if s.target_armature else None
        s.set_mapping(found.mapping)
        s.mapping_report = mapping.summary(found, bones)
        self.report({'INFO'} if found.mapping else {'WARNING'}, "Parley: " + s.mapping_report)
        return {'FINISHED'}


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


class PARLEY_OT_mapping_remove(bpy.types.Operator):
    """Remove the selected mapping row"""

    bl_idname = "parley.mapping_remove"
    bl_label = "Remove Mapping Row"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        s = settings(context)
        if not 0 <= s.mapping_index < len(s.mapping):
            cls.poll_message_set("no mapping row selected")
            return False
        return True

    def execute(self, context):
        s = settings(context)
        s.mapping.remove(s.mapping_index)
        s.mapping_index = min(s.mapping_index, len(s.mapping) - 1)
        return {'FINISHED'}


class PARLEY_OT_mapping_save(bpy.types.Operator):
    """Save the mapping as a JSON preset"""

    bl_idname = "parley.mapping_save"
    bl_label = "Save Mapping Preset"

    filepath: StringProperty(subtype='FILE_PATH')
    filter_glob: StringProperty(default="*.json", options={'HIDDEN'})

    @classmethod
    def poll(cls, context):
        if not len(settings(context).mapping):
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
            bones = {}
            if s.target_armature is not None:
                bones = mapping.match_bones([b.name for b in s.target_armature.data.bones]).bones
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
        s.mapping_report = f"preset {preset['name']}: {len(preset['shape_keys'])}/{arkit.NUM_CHANNELS} channels"
        self.report({'INFO'}, "Parley: " + s.mapping_report)
        return {'FINISHED'}
