"""Preview and output: add the audio as a sound strip, render the current take to MP4."""
from __future__ import annotations

import bpy

from .. import services
from ..blender import encode
from .common import settings

class PARLEY_OT_add_sound(bpy.types.Operator):
    """Add the audio file as a sound strip at the start frame, for playback with sound"""

    bl_idname = "parley.add_sound"
    bl_label = "Add Sound Strip"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        s = settings(context)
        if s.audio_source != 'FILE' or not s.audio_path:
            cls.poll_message_set("no audio file selected")
            return False
        return True

    def execute(self, context):
        try:
            path = services.resolve_audio(context)
            services.add_sound_strip(context, path, services.start_frame(context))
        except (services.ParleyError, RuntimeError) as e:
            self.report({'ERROR'}, f"Parley: {e}")
            return {'CANCELLED'}
        context.scene.sync_mode = 'AUDIO_SYNC'
        return {'FINISHED'}


class PARLEY_OT_render_take(bpy.types.Operator):
    """Render the current take's frame range to an MP4 with sound"""

    bl_idname = "parley.render_take"
    bl_label = "Render Take"

    @classmethod
    def poll(cls, context):
        if not len(settings(context).take_list):
            cls.poll_message_set("no takes baked yet")
            return False
        if context.scene.camera is None:
            cls.poll_message_set("the scene has no camera")
            return False
        return True

    def execute(self, context):
        s = settings(context)
        take = s.take_list[s.take_index] if 0 <= s.take_index < len(s.take_list) else s.take_list[0]
        out = bpy.path.abspath(s.render_path)
        try:
            wm = context.window_manager
            n = take.frame_end - take.frame_start + 1
            wm.progress_begin(0, n)
            try:
                result = encode.render_scene(context.scene, out, engine=s.render_engine,
                                            frame_start=take.frame_start, frame_end=take.frame_end,
                                            progress=lambda i, _n: wm.progress_update(i))
            finally:
                wm.progress_end()
            result = getattr(result, "path", result)
        except services.ParleyError as e:
            self.report({'ERROR'}, f"Parley: {e}")
            return {'CANCELLED'}
        self.report({'INFO'}, f"Parley: rendered {result}")
        return {'FINISHED'}
