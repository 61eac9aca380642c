"""Per-region intensity of a clip's joint motion before baking (numpy only, no bpy).

Face channels are scaled by ``addon.blender.bake`` per ARKit region; joint angles are scaled here: ``jaw`` for
the jaw joint, ``eyes`` for the eye joints, ``head`` for neck and head, ``body`` for every other joint
(and the root translation). Scaling a local axis-angle vector scales the rotation angle about the
same axis, so 0 is the rest pose and 1 the clip as generated.
"""
from __future__ import annotations

import dataclasses

import numpy as np

JOINT_REGIONS = {"jaw": ("jaw",), "eyes": ("left_eye", "right_eye"), "head": ("neck", "head")}
FACE_REGIONS = ("jaw", "lips", "brows", "eyes")


def joint_gains(joint_names, intensities: dict) -> np.ndarray:
    """(J,) gain per joint from ``{region: gain}`` (regions jaw, eyes, head, body; missing = 1)."""
    region_of = {j: r for r, js in JOINT_REGIONS.items() for j in js}
    return np.array([float(intensities.get(region_of.get(j, "body"), 1.0)) for j in joint_names])


def scale_joints(clip, intensities: dict):
    """A copy of ``clip`` with joint angles and root translation scaled per region (clip is unchanged)."""
    g = joint_gains(clip.joint_names, intensities)
    if np.allclose(g, 1.0) and float(intensities.get("body", 1.0)) == 1.0:
        return clip
    return dataclasses.replace(
        clip, joint_angles=(clip.joint_angles * g[None, :, None]).astype(np.float32),
        root_translation=(clip.root_translation * float(intensities.get("body", 1.0))).astype(np.float32))


def face_intensity(intensities: dict) -> dict:
    """The ARKit-region gains ``addon.blender.bake.bake_clip(intensity=...)`` takes."""
    return {r: float(intensities[r]) for r in FACE_REGIONS if r in intensities}
