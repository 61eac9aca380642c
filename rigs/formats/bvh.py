"""BVH motion files: read, forward kinematics, write (numpy only).

A BVH file is a HIERARCHY (joints with rest OFFSETs from their parent, CHANNELS, ``End Site`` tips)
followed by MOTION (``Frames:``, ``Frame Time:`` and one line of channel values per frame).

Conventions used here, which are those of the Biovision format as Blender, MotionBuilder and the CMU
conversions read it:

* Rotation channels are Euler angles in degrees, applied in the order they are listed (intrinsic):
  ``Zrotation Xrotation Yrotation`` means ``R = Rz @ Rx @ Ry``. Any order, per joint, is accepted.
* A joint's local transform is ``translate(offset) @ R``; the rest pose is all rotations zero, so joint
  frames are parallel to the file axes at rest (rest world rotations are the identity).
* Position channels (normally only on the root) give the joint's position in its parent's frame and
  *replace* its OFFSET (Blender's importer: ``location = channels - rest_offset``). Missing position
  components keep the offset's value.
* Units are whatever the file uses; :func:`export_bvh` writes centimetres or metres.

A clip's body motion: :func:`export_bvh` writes the canonical skeleton in **centimetres** (``units="m"`` for metres), Y up,
+Z forward, T-pose rest offsets in the HIERARCHY; the root (``pelvis``) has ``Xposition Yposition
Zposition`` + three rotations, every other joint three rotations, all in ``order`` (default
``"ZXY"``); the root OFFSET is its rest position and its position channels are absolute (rest +
root translation), as Blender's importer expects. ``Frame Time`` = 1/fps. Leaf joints get End Sites.
Blender import: ``bpy.ops.import_anim.bvh(filepath=..., global_scale=0.01, axis_forward='-Z',
axis_up='Y')`` gives a metre-sized armature facing -Y, Z up.

A retargeted rig's motion (:func:`export_retargeted_bvh`): the motion of :func:`rigs.retarget.retarget_clip`
on another rig's rest skeleton (a Mixamo, UE5 or Rigify map), written with that rig's bone names and
proportions; BVH has no bone rolls, so each joint carries its bone's world rotation change from rest.

References: Meredith & Maddock 2001, "Motion Capture File Formats Explained" (BVH section); Blender's
``io_anim_bvh`` importer (channel and root-location semantics checked against it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.clip import Clip
from ..core.errors import ClipError, RigError
from ..core.files import atomic_write
from ..core.rotations import axis_angle_to_matrix, euler_to_matrix, matrix_to_euler
from ..core.skeleton import canonical_skeleton, forward_kinematics, rest_positions

_POS = ("Xposition", "Yposition", "Zposition")
_ROT = ("Xrotation", "Yrotation", "Zrotation")


@dataclass(frozen=True)
class Bvh:
    """A parsed BVH file.

    ``names``/``parents`` (-1 for the root)/``offsets`` (J, 3) describe the hierarchy in the file's
    units; ``channels[j]`` the channel names of joint j in file order; ``end_sites`` maps a joint index
    to the (3,) offset of its End Site; ``motion`` is (F, C) raw channel values (degrees for
    rotations) and ``frame_time_s`` the time between frames.
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray
    channels: tuple[tuple[str, ...], ...]
    frame_time_s: float
    motion: np.ndarray
    end_sites: dict = field(default_factory=dict)

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time_s

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise RigError(f"BVH has no joint named {name!r}") from None

    def channel_slices(self) -> list[slice]:
        """Column range of each joint's channels in ``motion``."""
        out, c = [], 0
        for ch in self.channels:
            out.append(slice(c, c + len(ch)))
            c += len(ch)
        return out

    def rest_positions(self) -> np.ndarray:
        """(J, 3) joint positions in the rest pose (all channels zero, offsets only)."""
        return rest_positions(self.parents, self.offsets)

    def local_rotations(self) -> np.ndarray:
        """(F, J, 3, 3) local rotation of every joint (identity for joints without rotation channels)."""
        F, J = self.num_frames, self.num_joints
        out = np.broadcast_to(np.eye(3), (F, J, 3, 3)).copy()
        for j, (ch, sl) in enumerate(zip(self.channels, self.channel_slices())):
            rot = [(k, c[0]) for k, c in enumerate(ch) if c in _ROT]
            if not rot:
                continue
            cols = [sl.start + k for k, _ in rot]
            order = "".join(a for _, a in rot)
            ang = np.deg2rad(self.motion[:, cols])
            if len(order) < 3:  # fewer than three rotation channels: pad with zero angles
                missing = [a for a in "XYZ" if a not in order]
                ang = np.concatenate([ang, np.zeros((F, 3 - len(order)))], axis=1)
                order += "".join(missing)
            out[:, j] = euler_to_matrix(ang, order)
        return out

    def local_translations(self) -> np.ndarray:
        """(F, J, 3) each joint's translation in its parent's frame: OFFSET, replaced by position channels."""
        F, J = self.num_frames, self.num_joints
        out = np.broadcast_to(self.offsets, (F, J, 3)).copy()
        for j, (ch, sl) in enumerate(zip(self.channels, self.channel_slices())):
            for k, c in enumerate(ch):
                if c in _POS:
                    out[:, j, _POS.index(c)] = self.motion[:, sl.start + k]
        return out

    def forward_kinematics(self) -> tuple[np.ndarray, np.ndarray]:
        """World rotations (F, J, 3, 3) and positions (F, J, 3) of every joint, in file units."""
        return forward_kinematics(self.parents, self.local_rotations(), self.local_translations())

    def end_site_positions(self, rot: np.ndarray, pos: np.ndarray) -> dict[int, np.ndarray]:
        """World positions (F, 3) of every End Site, given :meth:`forward_kinematics` output."""
        return {j: pos[:, j] + rot[:, j] @ np.asarray(off) for j, off in self.end_sites.items()}


def _tokens(text: str):
    for line_no, line in enumerate(text.splitlines(), 1):
        for tok in line.split():
            yield line_no, tok


def parse_bvh(text: str, *, source: str = "<bvh>") -> Bvh:
    """Parse BVH text. Raises :class:`RigError` with the line number on malformed input."""
    toks = list(_tokens(text))
    i = 0

    def err(msg):
        ln = toks[min(i, len(toks) - 1)][0] if toks else 0
        return RigError(f"{source}: line {ln}: {msg}")

    def take():
        nonlocal i
        if i >= len(toks):
            raise err("unexpected end of file")
        i += 1
        return toks[i - 1][1]

    def take_float():
        t = take()
        try:
            return float(t)
        except ValueError:
            raise err(f"expected a number, got {t!r}") from None

    if not toks or take().upper() != "HIERARCHY":
        raise RigError(f"{source}: not a BVH file (no HIERARCHY)")
    names, parents, offsets, channels, end_sites = [], [], [], [], {}
    stack: list[int] = []
    kw = take()
    if kw.upper() != "ROOT":
        raise err(f"expected ROOT, got {kw!r}")
    pending = ("joint", take())
    while True:
        kind, name = pending
        if take() != "{":
            raise err("expected '{'")
        if take().upper() != "OFFSET":
            raise err("expected OFFSET")
        off = [take_float() for _ in range(3)]
        if kind == "end":
            end_sites[stack[-1]] = np.array(off)
            stack.append(-1)
        else:
            j = len(names)
            names.append(name)
            parents.append(stack[-1] if stack else -1)
            offsets.append(off)
            if take().upper() != "CHANNELS":
                raise err("expected CHANNELS")
            try:
                n = int(take())
            except ValueError:
                raise err("CHANNELS count is not an integer") from None
            ch = []
            for _ in range(n):
                c = take()
                canon = next((x for x in _POS + _ROT if x.lower() == c.lower()), None)
                if canon is None:
                    raise err(f"unknown channel {c!r}")
                ch.append(canon)
            channels.append(tuple(ch))
            stack.append(j)
        # children or closing braces
        while True:
            t = take()
            if t == "}":
                stack.pop()
                if not stack:
                    break
                continue
            if t.upper() == "JOINT":
                pending = ("joint", take())
                break
            if t.upper() == "END":
                if take().upper() != "SITE":
                    raise err("expected 'Site' after 'End'")
                pending = ("end", "")
                break
            raise err(f"unexpected {t!r} in HIERARCHY")
        if not stack:
            break
    if take().upper() != "MOTION":
        raise err("expected MOTION")
    if take().rstrip(":").upper() != "FRAMES":
        raise err("expected 'Frames:'")
    try:
        n_frames = int(take())
    except ValueError:
        raise err("Frames count is not an integer") from None
    if take().upper() != "FRAME" or take().upper() != "TIME:":
        raise err("expected 'Frame Time:'")
    frame_time = take_float()
    if not (frame_time > 0 and np.isfinite(frame_time)):
        raise err(f"Frame Time must be positive, got {frame_time}")
    n_ch = sum(len(c) for c in channels)
    rest = [t for _, t in toks[i:]]
    if len(rest) < n_frames * n_ch:
        raise RigError(f"{source}: MOTION has {len(rest)} values, expected {n_frames} frames x {n_ch} channels")
    try:
        motion = np.array(rest[: n_frames * n_ch], dtype=np.float64).reshape(n_frames, n_ch)
    except ValueError:
        raise RigError(f"{source}: MOTION contains a value that is not a number") from None
    return Bvh(names=tuple(names), parents=tuple(parents), offsets=np.array(offsets, dtype=np.float64),
               channels=tuple(channels), frame_time_s=float(frame_time), motion=motion, end_sites=end_sites)


def read_bvh(path) -> Bvh:
    """Read a ``.bvh`` file (see :func:`parse_bvh`)."""
    path = Path(path)
    if not path.is_file():
        raise RigError(f"{path}: no such BVH file")
    return parse_bvh(path.read_text(encoding="utf-8", errors="replace"), source=str(path))


def _fmt(x: float) -> str:
    s = f"{x:.6f}".rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def format_bvh(names, parents, offsets, local_rotations, root_positions, *, frame_time_s: float,
               order: str = "ZXY", end_sites: dict | None = None) -> str:
    """BVH text for a skeleton whose rest frames are parallel to the world axes.

    names/parents: J joints, parents before children; offsets (J, 3) rest offsets (root: its rest
    position); local_rotations (F, J, 3, 3); root_positions (F, 3) absolute root positions (written
    to the root's position channels); end_sites {joint index: (3,) offset} for tips. All lengths in
    the units wanted in the file. Root gets ``Xposition Yposition Zposition`` + 3 rotations, other
    joints 3 rotations, all in ``order`` (intrinsic, e.g. ``"ZXY"``).
    """
    order = order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise RigError(f"Euler order must be a permutation of XYZ, got {order!r}")
    J = len(names)
    offsets = np.asarray(offsets, dtype=np.float64)
    R = np.asarray(local_rotations, dtype=np.float64)
    root_positions = np.asarray(root_positions, dtype=np.float64)
    F = R.shape[0]
    if R.shape != (F, J, 3, 3) or root_positions.shape != (F, 3) or offsets.shape != (J, 3):
        raise RigError("format_bvh: shapes of offsets, rotations and root positions disagree")
    end_sites = end_sites or {}
    children = {j: [k for k in range(J) if parents[k] == j] for j in range(J)}
    rot_ch = " ".join(f"{a}rotation" for a in order)
    lines = ["HIERARCHY"]

    def emit(j, depth):
        ind = "\t" * depth
        kw = "ROOT" if parents[j] < 0 else "JOINT"
        lines.append(f"{ind}{kw} {names[j]}")
        lines.append(f"{ind}{{")
        lines.append(f"{ind}\tOFFSET {' '.join(_fmt(v) for v in offsets[j])}")
        if parents[j] < 0:
            lines.append(f"{ind}\tCHANNELS 6 Xposition Yposition Zposition {rot_ch}")
        else:
            lines.append(f"{ind}\tCHANNELS 3 {rot_ch}")
        for c in children[j]:
            emit(c, depth + 1)
        if not children[j] or j in end_sites:
            tip = np.asarray(end_sites.get(j, np.zeros(3)), dtype=np.float64)
            lines.extend([f"{ind}\tEnd Site", f"{ind}\t{{",
                          f"{ind}\t\tOFFSET {' '.join(_fmt(v) for v in tip)}", f"{ind}\t}}"])
        lines.append(f"{ind}}}")

    roots = [j for j in range(J) if parents[j] < 0]
    if len(roots) != 1:
        raise RigError(f"BVH needs exactly one root joint, got {len(roots)}")
    emit(roots[0], 0)
    eul = np.rad2deg(matrix_to_euler(R, order))  # (F, J, 3)
    # depth-first order of joints as written in the hierarchy
    dfs, stack = [], [roots[0]]
    while stack:
        j = stack.pop()
        dfs.append(j)
        stack.extend(reversed(children[j]))
    lines += ["MOTION", f"Frames: {F}", f"Frame Time: {frame_time_s:.10f}"]
    for f in range(F):
        vals = list(root_positions[f]) + [v for j in dfs for v in eul[f, j]]
        lines.append(" ".join(_fmt(v) for v in vals))
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------- a clip's body motion as BVH

def clip_bvh_text(clip: Clip, *, units: str = "cm", order: str = "ZXY") -> str:
    """BVH text of a clip's skeleton motion (see the module docstring)."""
    scale = {"cm": 100.0, "m": 1.0}.get(units)
    if scale is None:
        raise ClipError(f"units must be 'cm' or 'm', got {units!r}")
    sk = canonical_skeleton()
    if tuple(clip.joint_names) != sk.names:
        raise ClipError("export_bvh: clip is not on the canonical skeleton")
    offsets = sk.offsets_m * scale
    R = axis_angle_to_matrix(np.asarray(clip.joint_angles, dtype=np.float64))
    root = (sk.offsets_m[0] + np.asarray(clip.root_translation, dtype=np.float64)) * scale
    ends = {sk.index(n): v * scale for n, v in sk.end_sites_m().items() if n in sk.names and n != "head"}
    return format_bvh(sk.names, sk.parents, offsets, R, root, frame_time_s=1.0 / clip.fps, order=order,
                      end_sites=ends)


def export_bvh(clip: Clip, path, *, units: str = "cm", order: str = "ZXY") -> Path:
    """Write the clip's body motion as BVH (centimetres by default, Euler ``order``)."""
    return atomic_write(path, lambda f: f.write(clip_bvh_text(clip, units=units, order=order)), text=True)


# -------------------------------------------------------------------- a retargeted rig's motion as BVH

def retargeted_bvh_text(rest, world_rotations, world_positions, *, fps: float, length_scale: float = 100.0,
                        order: str = "ZXY") -> str:
    """BVH text of motion retargeted onto another rig, in that rig's bone names and proportions.

    rest: the rig's rest skeleton (any object with ``names``, ``parents``, ``positions`` (J, 3) in metres,
    ``rotations`` (J, 3, 3) bone frames, ``up`` and ``forward`` axes, as :class:`rigs.retarget.RestSkeleton`);
    world_rotations (F, J, 3, 3) and world_positions (F, J, 3): the retargeted motion in the rig's space
    (:class:`rigs.retarget.RetargetResult`'s ``world_rotations``/``world_positions``). ``length_scale``
    multiplies every length: 100 writes a rig in metres as centimetres, 1 keeps the rig's own units (a rig
    read from a BVH file).

    BVH joint frames are parallel to the file axes at rest, so the rig's bone rolls are not written: each
    joint's channels are the change of its bone's world rotation from rest (``W_j Rrest_j^T``) relative to
    its parent's, and offsets are the rest head differences, all turned into BVH's Y up, +Z forward.
    Importing the file reproduces every bone's world rotation change and head position.
    """
    from ..core.rotations import axes_matrix

    scale = float(length_scale)
    if not np.isfinite(scale) or scale <= 0:
        raise ClipError(f"length_scale must be > 0, got {length_scale!r}")
    if not np.isfinite(fps) or fps <= 0:
        raise ClipError(f"fps must be > 0, got {fps}")
    names, parents = tuple(rest.names), tuple(rest.parents)
    J = len(names)
    W = np.asarray(world_rotations, dtype=np.float64)
    P = np.asarray(world_positions, dtype=np.float64)
    if W.ndim != 4 or W.shape[1:] != (J, 3, 3) or P.shape != W.shape[:2] + (3,):
        raise ClipError(f"retargeted motion must be (F, {J}, 3, 3) rotations and (F, {J}, 3) positions, "
                        f"got {W.shape} and {P.shape}")
    C = axes_matrix(rest.up, rest.forward).T            # rig space -> BVH's Y up, +Z forward
    rest_pos = np.asarray(rest.positions, dtype=np.float64) @ C.T
    D = C @ (W @ np.swapaxes(np.asarray(rest.rotations, dtype=np.float64), -1, -2)) @ C.T  # (F, J, 3, 3)
    local = np.empty_like(D)
    offsets = np.empty((J, 3))
    for j, p in enumerate(parents):
        if p < 0:
            local[:, j], offsets[j] = D[:, j], rest_pos[j]
        else:
            local[:, j] = np.swapaxes(D[:, p], -1, -2) @ D[:, j]
            offsets[j] = rest_pos[j] - rest_pos[p]
    roots = [j for j, p in enumerate(parents) if p < 0]
    if len(roots) != 1:
        raise RigError(f"BVH needs exactly one root bone, the rig has {len(roots)}")
    root_pos = P[:, roots[0]] @ C.T
    return format_bvh(names, parents, offsets * scale, local, root_pos * scale, frame_time_s=1.0 / fps, order=order)


def export_retargeted_bvh(rest, world_rotations, world_positions, path, *, fps: float, length_scale: float = 100.0,
                          order: str = "ZXY") -> Path:
    """Write :func:`retargeted_bvh_text` to ``path`` (atomically)."""
    text = retargeted_bvh_text(rest, world_rotations, world_positions, fps=fps, length_scale=length_scale,
                               order=order)
    return atomic_write(path, lambda f: f.write(text), text=True)
