"""Parley operators, one module per panel: generate from audio, apply a clip, mapping, takes, sound and render.

Every user error is ``self.report({'ERROR'}, ...)`` + ``{'CANCELLED'}`` with the scene unchanged;
poll functions say why a button is disabled (``poll_message_set``). The work itself is in
:mod:`addon.services`; bakes go through :mod:`addon.blender.bake` (the one apply-clip-to-rig code, shared
with the renderer) and are recorded as takes (:mod:`addon.blender.takes`) so each can be flipped, muted or
removed exactly.
"""
from __future__ import annotations

from .clips import PARLEY_OT_apply_clip, PARLEY_OT_take_activate, PARLEY_OT_take_remove, PARLEY_OT_take_uncover
from .generate import PARLEY_OT_generate
from .mapping import (PARLEY_OT_bone_mapping_add, PARLEY_OT_bone_mapping_remove, PARLEY_OT_mapping_add,
                      PARLEY_OT_mapping_detect, PARLEY_OT_mapping_load, PARLEY_OT_mapping_remove,
                      PARLEY_OT_mapping_save)
from .output import PARLEY_OT_add_sound, PARLEY_OT_render_take
from .targets import PARLEY_OT_meshes_add, PARLEY_OT_meshes_remove

CLASSES = (PARLEY_OT_generate, PARLEY_OT_apply_clip, PARLEY_OT_take_activate, PARLEY_OT_take_uncover,
           PARLEY_OT_take_remove, PARLEY_OT_mapping_detect, PARLEY_OT_mapping_add, PARLEY_OT_mapping_remove,
           PARLEY_OT_bone_mapping_add, PARLEY_OT_bone_mapping_remove, PARLEY_OT_mapping_save,
           PARLEY_OT_mapping_load, PARLEY_OT_meshes_add, PARLEY_OT_meshes_remove, PARLEY_OT_add_sound,
           PARLEY_OT_render_take)
