"""Apply a clip or Live Link take as a new take; switch between takes, uncover a take hidden by the rig's
own Action, and remove one exactly."""
from __future__ import annotations

import bpy
from bpy.props import EnumProperty, IntProperty, StringProperty

from .. import services
from ..blender import takes
from .common import reports_errors, settings

class PARLEY_OT_apply_clip(bpy.types.Operator):
    """Bake a Parley clip (.npz) or a Live Link Face CSV onto the face mesh and armature as a new take"""

    bl_idname = "parley.apply_clip"
    bl_label = "Apply Clip"
    bl_options = {'REGISTER', 'UNDO'}

    filepath: StringProperty(subtype='FILE_PATH', options={'SKIP_SAVE'})

    @classmethod
    def poll(cls, context):
        s = settings(context)
        if (s.target_mesh is None or not s.apply_face) and (s.target_armature is None or not s.apply_body):
            cls.poll_message_set("pick a face mesh or an armature and the parts to apply")
            return False
        return True

    @reports_errors
    def execute(self, context):
        s = settings(context)
        path = self.filepath or s.clip_path
        clip = services.load_clip_file(path)
        take = services.bake_take(context, clip, name=services.next_take_name(context, "Parley clip "),
                                  seed=int(clip.meta.get("seed") or 0), clip_path=bpy.path.abspath(path),
                                  face=s.apply_face, body=s.apply_body)
        report_take(self, take)
        return {'FINISHED'}


def report_take(op, take) -> None:
    """INFO for a clean bake, WARNING with what the artist should know otherwise."""
    if take.report:
        op.report({'WARNING'}, f"Parley: baked {take.name}; {take.report}")
    else:
        op.report({'INFO'}, f"Parley: baked {take.name}")


class _TakeOperator:
    """Shared by the take operators: ``index`` (-1: the active take), poll and index checking."""

    index: IntProperty(default=-1)

    @classmethod
    def poll(cls, context):
        if not len(settings(context).take_list):
            cls.poll_message_set("no takes baked yet")
            return False
        return True

    def _take_index(self, context):
        """The index of the take to act on, or None (reported) when there is no such take."""
        s = settings(context)
        i = self.index if self.index >= 0 else s.take_index
        if not 0 <= i < len(s.take_list):
            self.report({'ERROR'}, "Parley: no such take")
            return None
        return i


class PARLEY_OT_take_activate(_TakeOperator, bpy.types.Operator):
    """Show this take: unmute its NLA tracks and mute the other takes"""

    bl_idname = "parley.take_activate"
    bl_label = "Use Take"
    bl_options = {'REGISTER', 'UNDO'}

    def execute(self, context):
        s = settings(context)
        i = self._take_index(context)
        if i is None:
            return {'CANCELLED'}
        s.take_index = i
        takes.activate(s.take_list, i)
        return {'FINISHED'}


class PARLEY_OT_take_uncover(_TakeOperator, bpy.types.Operator):
    """Push down or mute the rig's own active Action that plays over this take (Remove Bake undoes it)"""

    bl_idname = "parley.take_uncover"
    bl_label = "Uncover Take"
    bl_options = {'REGISTER', 'UNDO'}

    how: EnumProperty(items=[("PUSH_DOWN", "Push Down", "move the Action to an NLA track below the take"),
                             ("MUTE", "Mute", "set the Action's influence to 0")], default="PUSH_DOWN")

    @classmethod
    def poll(cls, context):
        if not super().poll(context):
            return False
        s = settings(context)
        take = s.take_list[s.take_index] if 0 <= s.take_index < len(s.take_list) else None
        if take is None or not take.hidden_by:
            cls.poll_message_set("no Action plays over this take")
            return False
        return True

    def execute(self, context):
        s = settings(context)
        i = self._take_index(context)
        if i is None:
            return {'CANCELLED'}
        n = services.resolve_hidden(context, s.take_list[i], self.how.lower())
        self.report({'INFO'}, f"Parley: {'pushed down' if self.how == 'PUSH_DOWN' else 'muted'} {n} Action(s)")
        return {'FINISHED'}


class PARLEY_OT_take_remove(_TakeOperator, bpy.types.Operator):
    """Remove this bake: delete exactly what it created (NLA tracks, Actions, its sound strip) and put back
    the pose and shape-key values it changed"""

    bl_idname = "parley.take_remove"
    bl_label = "Remove Bake"
    bl_options = {'REGISTER', 'UNDO'}

    def execute(self, context):
        s = settings(context)
        i = self._take_index(context)
        if i is None:
            return {'CANCELLED'}
        name = s.take_list[i].name
        takes.remove(take=s.take_list[i], others=[t for j, t in enumerate(s.take_list) if j != i])
        s.take_list.remove(i)
        s.take_index = min(i, len(s.take_list) - 1)
        if len(s.take_list):
            takes.activate(s.take_list, s.take_index)
        self.report({'INFO'}, f"Parley: removed {name}")
        return {'FINISHED'}
