"""Retargeting canonical motion onto any rig, without bpy (numpy only).

rest (RestSkeleton: what a rig provides), maps (which bone plays each canonical joint; the shipped maps in
``maps/*.json``), solve (the direction-and-twist retarget), plan (how a bake drives an armature's bones),
controls (the animator controls of a control rig such as Rigify's), face (jaw-bone rotation, mouthOpen and
viseme fallbacks for faces without ARKit's jaw shapes), testing (synthetic rest rigs for tests). The names below are the package's public API.
"""
from .maps import MAPS_DIR, RetargetMap, detect_rig, list_maps, load_map, resolve_bones
from . import face
from .controls import ControlPose, ControlSpec, rigid_motion, solve_controls, usable_controls
from .plan import (POSE_CONVENTION_JOINTS, BonePlan, bake_options, bone_quaternions, control_poses, matches_tpose,
                   plan_bones, retarget_motion, retarget_rotations, rig_axes)
from .rest import RestSkeleton, bvh_motion, bvh_rest, canonical_rest, clip_motion
from .solve import (DIRECTION_CHILDREN, RetargetResult, bvh_to_canonical, retarget, retarget_clip,
                    retarget_with_maps, shortest_rotation)
from .testing import synthetic_rest

__all__ = ["face", "MAPS_DIR", "RetargetMap", "detect_rig", "list_maps", "load_map", "resolve_bones", "BonePlan",
           "bone_quaternions", "matches_tpose", "plan_bones", "retarget_rotations", "rig_axes", "RestSkeleton",
           "ControlPose", "ControlSpec", "rigid_motion", "solve_controls", "usable_controls",
           "POSE_CONVENTION_JOINTS", "bake_options", "control_poses", "retarget_motion",
           "bvh_motion", "bvh_rest", "canonical_rest", "clip_motion", "DIRECTION_CHILDREN", "RetargetResult",
           "bvh_to_canonical", "retarget", "retarget_clip", "retarget_with_maps", "shortest_rotation",
           "synthetic_rest"]
