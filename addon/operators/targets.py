"""The targets of a bake: more meshes one bake drives besides the face (teeth, tongue, eyelashes)."""
from __future__ import annotations

import bpy

from .common import RemoveSelectedRow, settings


class PARLEY_OT_meshes_add(bpy.types.Operator):
    """Add the selected meshes with shape keys to the meshes this bake drives besides the face mesh"""

    bl_idname = "parley.meshes_add"
    bl_label = "Add Selected Meshes"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        if not any(o.type == 'MESH' and o.data.shape_keys is not None for o in context.selected_objects):
            cls.poll_message_set("select meshes with shape keys (teeth, tongue...)")
            return False
        return True

    def execute(self, context):
        s = settings(context)
        have = {i.obj for i in s.extra_meshes} | {s.target_mesh}
        n = 0
        for o in context.selected_objects:
            if o.type == 'MESH' and o.data.shape_keys is not None and o not in have:
                s.extra_meshes.add().obj = o
                n += 1
        s.extra_mesh_index = len(s.extra_meshes) - 1
        self.report({'INFO'}, f"Parley: {n} mesh(es) added")
        return {'FINISHED'}


class PARLEY_OT_meshes_remove(RemoveSelectedRow, bpy.types.Operator):
    """Stop driving the selected extra mesh"""

    bl_idname = "parley.meshes_remove"
    bl_label = "Remove Mesh"
    bl_options = {'REGISTER', 'UNDO'}

    rows, row_index, none_selected = "extra_meshes", "extra_mesh_index", "no extra mesh selected"
