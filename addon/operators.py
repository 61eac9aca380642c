"""Parley operators: generate from audio, apply a clip, mapping, takes, sound and render.

Every user error is ``self.report({'ERROR'}, ...)`` + ``{'CANCELLED'}`` with the scene unchanged;
poll functions say why a button is disabled (``poll_message_set``). The work itself is in
:mod:`addon.services`; bakes go through :mod:`addon.blender.bake` (the one apply-clip-to-rig code, shared
with the renderer) and are recorded as takes (:mod:`addon.blender.takes`) so each can be flipped, muted or
removed exactly.
"""
from __future__ import annotations

import functools
import shutil
import time
from pathlib import Path

import bpy
from bpy.props import IntProperty, StringProperty

from . import job, mapping, prefs, runner, services
from .blender import encode, takes
from .vocab import arkit


def _settings(context):
    return context.scene.parley


def reports_errors(method):
    """Wrap an operator method: a :class:`ParleyError` (the user's to fix) becomes one reported line and
    ``{'CANCELLED'}``; anything else is a bug and keeps its traceback."""
    @functools.wraps(method)
    def wrapper(self, context, *args):
        try:
            return method(self, context, *args)
        except services.ParleyError as e:
            self.report({'ERROR'}, f"Parley: {e}")
            return {'CANCELLED'}
    return wrapper


# --------------------------------------------------------------------------- generate

class PARLEY_OT_generate(bpy.types.Operator):
    """Animate the face (and body) from the audio with the Parley engine, then bake the take(s)"""

    bl_idname = "parley.generate"
    bl_label = "Generate"
    bl_options = {'REGISTER', 'UNDO'}

    _timer = None
    _job = None

    @classmethod
    def poll(cls, context):
        s = _settings(context)
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
        s = _settings(context)
        audio = services.resolve_audio(context)
        # check the targets before spending time in the engine
        if s.target_mesh is not None:
            services.face_mapping(context, s.target_mesh, store=False)
        if s.target_armature is not None and s.body:
            services.bone_mapping(s.target_armature)
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
            s = _settings(context)
            clips = [services.load_clip_file(p) for p in state.paths]
            keep = services.keep_dir(gen.run)
            before = len(s.take_list)
            try:
                for k, (clip, path) in enumerate(zip(clips, state.paths)):
                    kept = shutil.copy2(path, keep / f"{Path(self._audio).stem}_{s.mode}_seed{s.seed + k}.npz")
                    services.bake_take(context, clip, name=services.next_take_name(context, "Parley take "),
                                      seed=s.seed + k,
                              clip_path=str(kept), face=s.target_mesh is not None, body=bool(s.body))
            except BaseException:
                while len(s.take_list) > before:  # leave the scene as it was
                    takes.remove(take=s.take_list[-1])
                    s.take_list.remove(len(s.take_list) - 1)
                raise
            if s.audio_source == 'FILE' and s.add_sound:
                services.add_sound_strip(context, self._audio, int(s.start_frame))
            self.report({'INFO'}, f"Parley: baked {len(clips)} take(s); {s.mapping_report}")
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


# --------------------------------------------------------------------------- apply / takes

class PARLEY_OT_apply_clip(bpy.types.Operator):
    """Bake a Parley clip (.npz) or a Live Link Face CSV onto the face mesh and armature as a new take"""

    bl_idname = "parley.apply_clip"
    bl_label = "Apply Clip"
    bl_options = {'REGISTER', 'UNDO'}

    filepath: StringProperty(subtype='FILE_PATH', options={'SKIP_SAVE'})

    @classmethod
    def poll(cls, context):
        s = _settings(context)
        if (s.target_mesh is None or not s.apply_face) and (s.target_armature is None or not s.apply_body):
            cls.poll_message_set("pick a face mesh or an armature and the parts to apply")
            return False
        return True

    @reports_errors
    def execute(self, context):
        s = _settings(context)
        path = self.filepath or s.clip_path
        clip = services.load_clip_file(path)
        take = services.bake_take(context, clip, name=services.next_take_name(context, "Parley clip "),
                                  seed=int(clip.meta.get("seed") or 0), clip_path=bpy.path.abspath(path),
                                  face=s.apply_face, body=s.apply_body)
        self.report({'INFO'}, f"Parley: baked {take.name}")
        return {'FINISHED'}


class _TakeOperator:
    """Shared by the take operators: ``index`` (-1: the active take), poll and index checking."""

    index: IntProperty(default=-1)

    @classmethod
    def poll(cls, context):
        if not len(_settings(context).take_list):
            cls.poll_message_set("no takes baked yet")
            return False
        return True

    def _take_index(self, context):
        """The index of the take to act on, or None (reported) when there is no such take."""
        s = _settings(context)
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
        s = _settings(context)
        i = self._take_index(context)
        if i is None:
            return {'CANCELLED'}
        s.take_index = i
        takes.activate(s.take_list, i)
        return {'FINISHED'}


class PARLEY_OT_take_remove(_TakeOperator, bpy.types.Operator):
    """Remove this bake: delete exactly the NLA tracks and Actions it created"""

    bl_idname = "parley.take_remove"
    bl_label = "Remove Bake"
    bl_options = {'REGISTER', 'UNDO'}

    def execute(self, context):
        s = _settings(context)
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


# --------------------------------------------------------------------------- mapping

class PARLEY_OT_mapping_detect(bpy.types.Operator):
    """Match the face mesh's shape keys to ARKit channels by name (and detect the armature layout)"""

    bl_idname = "parley.mapping_detect"
    bl_label = "Auto-detect"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        s = _settings(context)
        if s.target_mesh is None:
            cls.poll_message_set("pick a face mesh first")
            return False
        if s.target_mesh.data.shape_keys is None:
            cls.poll_message_set("the face mesh has no shape keys")
            return False
        return True

    def execute(self, context):
        s = _settings(context)
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
        s = _settings(context)
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
        s = _settings(context)
        if not 0 <= s.mapping_index < len(s.mapping):
            cls.poll_message_set("no mapping row selected")
            return False
        return True

    def execute(self, context):
        s = _settings(context)
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
        if not len(_settings(context).mapping):
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
        s = _settings(context)
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
        s = _settings(context)
        try:
            preset = mapping.load_preset(bpy.path.abspath(self.filepath))
        except mapping.MappingError as e:
            self.report({'ERROR'}, f"Parley: {e}")
            return {'CANCELLED'}
        s.set_mapping(preset["shape_keys"])
        s.mapping_report = f"preset {preset['name']}: {len(preset['shape_keys'])}/52 channels"
        self.report({'INFO'}, "Parley: " + s.mapping_report)
        return {'FINISHED'}


# --------------------------------------------------------------------------- preview / render

class PARLEY_OT_add_sound(bpy.types.Operator):
    """Add the audio file as a sound strip at the start frame, for playback with sound"""

    bl_idname = "parley.add_sound"
    bl_label = "Add Sound Strip"
    bl_options = {'REGISTER', 'UNDO'}

    @classmethod
    def poll(cls, context):
        s = _settings(context)
        if s.audio_source != 'FILE' or not s.audio_path:
            cls.poll_message_set("no audio file selected")
            return False
        return True

    def execute(self, context):
        s = _settings(context)
        try:
            path = services.resolve_audio(context)
            services.add_sound_strip(context, path, int(s.start_frame))
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
        if not len(_settings(context).take_list):
            cls.poll_message_set("no takes baked yet")
            return False
        if context.scene.camera is None:
            cls.poll_message_set("the scene has no camera")
            return False
        return True

    def execute(self, context):
        s = _settings(context)
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


CLASSES = (PARLEY_OT_generate, PARLEY_OT_apply_clip, PARLEY_OT_take_activate, PARLEY_OT_take_remove,
           PARLEY_OT_mapping_detect, PARLEY_OT_mapping_add, PARLEY_OT_mapping_remove, PARLEY_OT_mapping_save,
           PARLEY_OT_mapping_load, PARLEY_OT_add_sound, PARLEY_OT_render_take)
