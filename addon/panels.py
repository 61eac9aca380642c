"""The "Parley" tab of the 3D Viewport sidebar: generate, apply, mapping, takes, preview and render."""
from __future__ import annotations

import bpy

from .props import EMOTIONS, REGIONS


class PARLEY_UL_mapping(bpy.types.UIList):
    """Mapping editor rows: ARKit channel -> shape key of the face mesh."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        row = layout.row(align=True)
        row.prop(item, "channel", text="", emboss=False)
        mesh = context.scene.parley.target_mesh
        keys = mesh.data.shape_keys if mesh is not None and mesh.type == 'MESH' else None
        if keys is not None:
            row.prop_search(item, "shape_key", keys, "key_blocks", text="")
        else:
            row.prop(item, "shape_key", text="")


class PARLEY_UL_bones(bpy.types.UIList):
    """Bone-mapping rows: canonical joint -> bone of the armature."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        row = layout.row(align=True)
        row.prop(item, "joint", text="", emboss=False)
        arm = context.scene.parley.target_armature
        if arm is not None and arm.type == 'ARMATURE':
            row.prop_search(item, "bone", arm.data, "bones", text="")
        else:
            row.prop(item, "bone", text="")


class PARLEY_UL_meshes(bpy.types.UIList):
    """More meshes a bake drives (teeth, tongue...)."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        layout.prop(item, "obj", text="", emboss=False, icon='MESH_DATA')


class PARLEY_UL_takes(bpy.types.UIList):
    """Baked takes; the eye shows which one plays."""

    def draw_item(self, context, layout, data, item, icon, active_data, active_propname, index):
        row = layout.row(align=True)
        row.label(text=item.name, icon='NLA')
        row.label(text=f"seed {item.seed}")
        op = row.operator("parley.take_activate", text="", icon='HIDE_OFF' if index == data.take_index
                          else 'HIDE_ON', emboss=False)
        op.index = index


class _Panel:
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "Parley"


class PARLEY_PT_generate(_Panel, bpy.types.Panel):
    bl_label = "Parley"

    def draw(self, context):
        s = context.scene.parley
        col = self.layout.column()
        col.prop(s, "target_mesh")
        box = col.box()
        box.label(text="Also drive (teeth, tongue...)")
        row = box.row()
        row.template_list("PARLEY_UL_meshes", "", s, "extra_meshes", s, "extra_mesh_index", rows=2)
        side = row.column(align=True)
        side.operator("parley.meshes_add", text="", icon='ADD')
        side.operator("parley.meshes_remove", text="", icon='REMOVE')
        col.prop(s, "target_armature")
        col.separator()
        col.row().prop(s, "audio_source", expand=True)
        col.prop(s, "audio_path" if s.audio_source == 'FILE' else "sound_strip", text="")
        col.prop(s, "transcript")
        box = col.box()
        box.label(text="Emotion mix")
        for e in EMOTIONS:
            box.prop(s, "emo_" + e, slider=True)
        row = col.row(align=True)
        row.prop(s, "seed")
        row.prop(s, "takes")
        col.prop(s, "mode")
        row = col.row(align=True)
        row.prop(s, "start_frame")
        row.prop(s, "body", toggle=True)
        col.prop(s, "add_sound")
        col.operator("parley.generate", icon='PLAY_SOUND')


class PARLEY_PT_apply(_Panel, bpy.types.Panel):
    bl_label = "Apply Clip"
    bl_parent_id = "PARLEY_PT_generate"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context):
        s = context.scene.parley
        col = self.layout.column()
        col.prop(s, "clip_path")
        row = col.row(align=True)
        row.prop(s, "apply_face", toggle=True)
        row.prop(s, "apply_body", toggle=True)
        box = col.box()
        box.label(text="Intensity")
        for r in REGIONS:
            box.prop(s, "int_" + r, slider=True)
        col.prop(s, "smoothing", slider=True)
        col.prop(s, "latency_ms")
        col.prop(s, "active_action")
        col.operator("parley.apply_clip", icon='IMPORT')


class PARLEY_PT_mapping(_Panel, bpy.types.Panel):
    bl_label = "Mapping"
    bl_parent_id = "PARLEY_PT_generate"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context):
        s = context.scene.parley
        col = self.layout.column()
        col.operator("parley.mapping_detect", icon='VIEWZOOM')
        if s.mapping_report:
            col.label(text=s.mapping_report, icon='INFO')
        row = col.row()
        row.template_list("PARLEY_UL_mapping", "", s, "mapping", s, "mapping_index", rows=6)
        side = row.column(align=True)
        side.operator("parley.mapping_add", text="", icon='ADD')
        side.operator("parley.mapping_remove", text="", icon='REMOVE')
        col.label(text="Bones")
        if s.bone_report:
            col.label(text=s.bone_report, icon='ARMATURE_DATA')
        row = col.row()
        row.template_list("PARLEY_UL_bones", "", s, "bone_mapping", s, "bone_mapping_index", rows=4)
        side = row.column(align=True)
        side.operator("parley.bone_mapping_add", text="", icon='ADD')
        side.operator("parley.bone_mapping_remove", text="", icon='REMOVE')
        row = col.row(align=True)
        row.operator("parley.mapping_load", icon='FILEBROWSER')
        row.operator("parley.mapping_save", icon='FILE_TICK')


class PARLEY_PT_takes(_Panel, bpy.types.Panel):
    bl_label = "Takes"
    bl_parent_id = "PARLEY_PT_generate"

    def draw(self, context):
        s = context.scene.parley
        col = self.layout.column()
        col.template_list("PARLEY_UL_takes", "", s, "take_list", s, "take_index", rows=3)
        row = col.row(align=True)
        row.operator("parley.take_activate", icon='CHECKMARK')
        row.operator("parley.take_remove", icon='TRASH')
        take = s.take_list[s.take_index] if 0 <= s.take_index < len(s.take_list) else None
        if take is not None and take.report:
            col.label(text=take.report, icon='ERROR')
        if take is not None and take.hidden_by:
            col.label(text="the rig's own Action plays over this take", icon='ERROR')
            row = col.row(align=True)
            row.operator("parley.take_uncover", text="Push Down").how = 'PUSH_DOWN'
            row.operator("parley.take_uncover", text="Mute").how = 'MUTE'


class PARLEY_PT_preview(_Panel, bpy.types.Panel):
    bl_label = "Preview and Render"
    bl_parent_id = "PARLEY_PT_generate"
    bl_options = {'DEFAULT_CLOSED'}

    def draw(self, context):
        s = context.scene.parley
        col = self.layout.column()
        row = col.row(align=True)
        row.operator("parley.add_sound", icon='SOUND')
        row.operator("screen.animation_play", text="Play", icon='PLAY')
        col.prop(s, "render_engine")
        col.prop(s, "render_path")
        col.operator("parley.render_take", icon='RENDER_ANIMATION')


CLASSES = (PARLEY_UL_mapping, PARLEY_UL_bones, PARLEY_UL_meshes, PARLEY_UL_takes, PARLEY_PT_generate, PARLEY_PT_apply, PARLEY_PT_mapping,
           PARLEY_PT_takes, PARLEY_PT_preview)
