"""Generate: run the engine on the audio (modal, with progress and Esc), then bake the takes."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import bpy

from .. import job, runner, services
from ..blender import takes
from .common import settings

class PARLEY_OT_generate(bpy.types.Operator):
    """Animate the face (and body) from the audio with the Parley engine, then bake the take(s)"""

    bl_idname = "parley.generate"
    bl_label = "Generate"
    bl_options = {'REGISTER', 'UNDO'}

    _timer = None
    _job = None

    @classmethod
    def poll(cls, context):
        s = settings(context)
        if s.target_mesh is None and s.target_armature is None:
            cls.poll_message_set("pick a face mesh or an armature")
            return False
        if s.audio_source == 'FILE' and not s.audio_path:
            cls.poll_message_set("no audio file selected")
            return False
        if s.audio_source == 'STRIP' and not s.sound_strip:
            cls.poll_message_set("no sound strip selected")
            return False
        return True

    def _start(self, context):
        s = settings(context)
        audio = services.resolve_audio(context)
        # check the targets before spending time in the engine
        if s.target_mesh is not None:
            services.face_mapping(context, s.target_mesh, store=False)
        if s.target_armature is not None and s.body:
            services.bone_mapping(s.target_armature, context)
        scene = context.scene
        spec = runner.GenerateSpec(audio_path=audio, mode=s.mode_name(), seed=int(s.seed), samples=int(s.takes),
                                   fps=scene.render.fps / scene.render.fps_base, emotion=s.emotion_pairs(),
                                   transcript=s.transcript or None, body=bool(s.body))
        self._audio = audio
        self._job = job.GenerateJob(lambda: services.choose_runner(context, spec))
        self._job.start()

    def _finish(self, context, state: job.JobStatus):
        gen, self._job = self._job, None
        try:
            if state.cancelled:
                self.report({'WARNING'}, "Parley: generation cancelled; scene unchanged")
                return {'CANCELLED'}
            if state.error:
                self.report({'ERROR'}, f"Parley: {state.error}")
                return {'CANCELLED'}
            s = settings(context)
            clips = [services.load_clip_file(p) for p in state.paths]
            keep = services.keep_dir(gen.run)
            before = len(s.take_list)
            try:
                for k, (clip, path) in enumerate(zip(clips, state.paths)):
                    kept = shutil.copy2(path, keep / f"{Path(self._audio).stem}_{s.mode}_seed{s.seed + k}.npz")
                    services.bake_take(context, clip, name=services.next_take_name(context, "Parley take "),
                                       seed=s.seed + k, clip_path=str(kept), face=s.target_mesh is not None,
                                       body=bool(s.body))
            except BaseException:
                while len(s.take_list) > before:  # leave the scene as it was
                    takes.remove(take=s.take_list[-1], others=list(s.take_list)[:-1])
                    s.take_list.remove(len(s.take_list) - 1)
                raise
            if s.audio_source == 'FILE' and s.add_sound:
                frame = services.start_frame(context)
                if services.find_sound_strip(context, self._audio, frame) is None:
                    strip = services.add_sound_strip(context, self._audio, frame)
                    for take in s.take_list[before:]:  # Remove Bake of the last of them removes it
                        takes.set_sound_strip(take, strip.name)
            notes = "; ".join(dict.fromkeys(t.report for t in s.take_list[before:] if t.report))
            self.report({'WARNING'} if notes else {'INFO'},
                        f"Parley: baked {len(clips)} take(s); {notes or s.mapping_report}")
            return {'FINISHED'}
        except services.ParleyError as e:
            self.report({'ERROR'}, f"Parley: {e}")
            return {'CANCELLED'}
        finally:
            gen.cleanup()

    def execute(self, context):  # blocking: scripts and background mode
        try:
            self._start(context)
        except services.ParleyError as e:
            self.report({'ERROR'}, f"Parley: {e}")
            return {'CANCELLED'}
        while not (state := self._job.poll()).done:
            time.sleep(0.05)
        return self._finish(context, state)

    def invoke(self, context, event):
        if context.window is None:
            return self.execute(context)
        try:
            self._start(context)
        except services.ParleyError as e:
            self.report({'ERROR'}, f"Parley: {e}")
            return {'CANCELLED'}
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.progress_begin(0, 100)
        wm.modal_handler_add(self)
        return {'RUNNING_MODAL'}

    def _stop_ui(self, context):
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)

    def modal(self, context, event):  # a thin wrapper over job.GenerateJob (tested without a window)
        if event.type == 'ESC':
            state = self._job.cancel()
            self._stop_ui(context)
            return self._finish(context, state)
        if event.type != 'TIMER':
            return {'PASS_THROUGH'}
        state = self._job.poll()
        context.window_manager.progress_update(state.percent)
        if context.workspace is not None:
            context.workspace.status_text_set(state.status_text())
        if state.done:
            self._stop_ui(context)
            return self._finish(context, state)
        return {'RUNNING_MODAL'}
