"""The demo character's body shape as implicit surfaces: lofted metaball chains and a knitted collar (numpy).

The body is a sum of metaball elements, so torso, shoulders, limbs and fingers join in smooth fillets with
no Boolean seams. Each limb, the torso and each finger is a *loft*: a dense chain of ellipsoid elements along
a polyline whose cross-section half-axes follow a profile. Blender's metaball field of one element is
``s * (1 - d^2 / R^2)^3`` (``d`` the distance in the element's frame divided by its size, zero beyond
``R``); a chain with spacing ``c * R`` integrates to ``s * (32/35) / c * (1 - rho^2 / R^2)^3.5``, so its
surface (field = threshold ``t``) is a tube of radius ``R * sqrt(1 - k)`` with
``k = (t * c * 35 / (32 * s))^(2/7)`` (:data:`TUBE_FACTOR`): a loft asks for half-axes in metres and gets
them, within the ripple of the chain. :func:`field` evaluates the same sum in numpy (tests, material
assignment). The outfit: a long-sleeved top with a mock-neck collar (:func:`collar_mesh`, sized from the
ICT head's own neck so that it sheathes the head's cut edge), trousers and shoes; hands, with a thumb and
four fingers, are skin and come out of the sleeves.

Canonical axes, Y up, metres, the character faces +Z and +X is its left; the shapes are laid on the
canonical skeleton's T-pose (:mod:`rigs.core.skeleton`); :mod:`addon.blender.demo_character` converts to
Blender's Z-up and polygonises the elements with Blender's metaball tessellation.

References: Blinn 1982, "A generalization of algebraic surface drawing" (blobby models); Wyvill, McPheeters
and Wyvill 1986, "Data structure for soft objects" (the polynomial field Blender uses); Blender manual,
"Metaball"; anthropometric proportions after Tilley, "The Measure of Man and Woman" (2002).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STIFFNESS = 2.0          # Blender's default element stiffness
THRESHOLD = 0.6          # Blender's default metaball threshold
CHAIN_STEP = 0.25        # spacing of a loft's elements as a fraction of their radius (ripple < 1%)
TUBE_FACTOR = float(np.sqrt(1.0 - (THRESHOLD * CHAIN_STEP * 35.0 / (32.0 * STIFFNESS)) ** (2.0 / 7.0)))
BODY_RESOLUTION_M = 0.008  # metaball polygonisation cell of the body and of the hands
HAND_RESOLUTION_M = 0.0025

PARTS = ("top", "trousers", "shoes", "skin")   # material slots of the body mesh, in this order
WAIST_Y_M = 0.985        # top above, trousers below

# the collar (a mock neck): clearance over the head's neck at its top edge, how far the top edge rises above
# the head's cut at the front and at the back, and how far the collar reaches down into the torso (metres)
COLLAR_CLEARANCE_M = 0.0045
COLLAR_RISE_M = (0.011, 0.022)
COLLAR_DEPTH_M = 0.045
COLLAR_TUCK_M = 0.014    # how far the collar's foot tucks in under the neckline
COLLAR_ANGLES = 64

# profiles: (position along the path, half-axis along the loft's width direction, half-axis across) in m.
# Torso: height y, half-width (x), half-depth (z), centre z.
TORSO_PROFILE = np.array([
    # y      half-w  half-d  centre z
    [0.800, 0.135, 0.090, -0.010],
    [0.860, 0.165, 0.105, -0.012],
    [0.930, 0.165, 0.105, -0.010],
    [1.000, 0.150, 0.098, -0.004],
    [1.060, 0.142, 0.096, 0.000],
    [1.140, 0.146, 0.100, 0.004],
    [1.220, 0.158, 0.106, 0.008],
    [1.290, 0.165, 0.108, 0.010],
    [1.340, 0.160, 0.100, 0.004],
    [1.380, 0.130, 0.082, -0.010],
    [1.405, 0.085, 0.060, -0.016],
])
# the base of the neck under the collar: y, half-width, half-depth, centre z
NECK_BASE_PROFILE = np.array([
    [1.350, 0.070, 0.062, -0.010],
    [1.400, 0.058, 0.054, 0.000],
    [1.425, 0.052, 0.050, 0.006],
])
# shoulder line from the neck base to the shoulder joint: x, y, z, vertical half-axis, depth half-axis
SHOULDER_PATH = np.array([
    [0.000, 1.400, -0.020, 0.040, 0.055],
    [0.080, 1.396, -0.022, 0.042, 0.056],
    [0.150, 1.382, -0.030, 0.047, 0.056],
    [0.192, 1.374, -0.033, 0.049, 0.052],
])
# sleeve from the shoulder to the cuff: x, vertical half-axis, depth half-axis (y and z follow the bones)
ARM_PROFILE = np.array([
    [0.180, 0.051, 0.053],
    [0.250, 0.047, 0.048],
    [0.330, 0.043, 0.045],
    [0.440, 0.038, 0.040],
    [0.520, 0.040, 0.042],
    [0.620, 0.035, 0.036],
    [0.680, 0.033, 0.034],
    [0.695, 0.031, 0.032],
])
# trouser leg from inside the hips to the hem: y, half-width, half-depth (x and z follow the bones)
LEG_PROFILE = np.array([
    [0.900, 0.085, 0.088],
    [0.760, 0.078, 0.082],
    [0.600, 0.068, 0.072],
    [0.470, 0.060, 0.064],
    [0.330, 0.060, 0.064],
    [0.180, 0.054, 0.058],
    [0.075, 0.052, 0.056],
])
# shoe from the heel to the toe: x offset from the ankle, y, z, half-width, half-height
SHOE_PATH = np.array([
    [0.000, 0.042, -0.075, 0.038, 0.040],
    [0.012, 0.040, 0.020, 0.046, 0.040],
    [0.028, 0.030, 0.110, 0.047, 0.030],
    [0.034, 0.026, 0.170, 0.036, 0.024],
])
# the left hand in the T-pose (palm down, thumb forward), offsets from the wrist joint (x out, y up, z fwd):
# wrist and palm: x, y, z, half-width (z), half-thickness (y)
PALM_PATH = np.array([
    [-0.045, 0.000, 0.000, 0.026, 0.019],
    [0.000, 0.000, 0.000, 0.027, 0.017],
    [0.030, -0.002, 0.002, 0.036, 0.016],
    [0.070, -0.003, 0.002, 0.042, 0.0135],
    [0.082, -0.004, 0.002, 0.040, 0.012],
])
# fingers: base (x, y, z), length, base radius, tip radius, curl per joint (degrees, downwards)
FINGERS = {
    "index": ((0.080, -0.002, 0.029), 0.074, 0.0092, 0.0072, 14.0),
    "middle": ((0.083, -0.002, 0.010), 0.082, 0.0094, 0.0074, 15.0),
    "ring": ((0.081, -0.003, -0.009), 0.077, 0.0090, 0.0071, 16.0),
    "little": ((0.074, -0.004, -0.027), 0.061, 0.0080, 0.0064, 18.0),
}
THUMB_PATH = np.array([  # x, y, z, radius: from the ball of the thumb to its tip
    [0.012, -0.010, 0.022, 0.0150],
    [0.040, -0.014, 0.040, 0.0120],
    [0.062, -0.020, 0.058, 0.0100],
    [0.084, -0.026, 0.068, 0.0082],
])


@dataclass(frozen=True)
class Elements:
    """Metaball ellipsoids (N of them): centres ``co_m`` (N,3), radii ``radius_m`` (N,), sizes (N,3) along the
    element's local axes, ``frames`` (N,3,3) local-to-world rotations (columns are the local axes), and the
    material ``part`` index into :data:`PARTS` (N,)."""

    co_m: np.ndarray
    radius_m: np.ndarray
    size: np.ndarray
    frames: np.ndarray
    part: np.ndarray

    def __len__(self) -> int:
        return len(self.radius_m)

    @staticmethod
    def concat(items) -> "Elements":
        items = list(items)
        return Elements(*(np.concatenate([getattr(e, f) for e in items]) for f in
                          ("co_m", "radius_m", "size", "frames", "part")))

    def mirrored_x(self) -> "Elements":
        """The mirror image through the x = 0 plane (left side -> right side)."""
        flip = np.diag([-1.0, 1.0, 1.0])
        frames = flip @ self.frames @ flip   # proper rotations again: local x flipped with world x
        return Elements(self.co_m * [-1.0, 1.0, 1.0], self.radius_m, self.size, frames, self.part)


def _frame(tangent: np.ndarray, width_dir: np.ndarray) -> np.ndarray:
    """(3,3) rotation with columns (width, tangent, width x tangent)."""
    t = tangent / np.linalg.norm(tangent)
    u = width_dir - np.dot(width_dir, t) * t
    n = np.linalg.norm(u)
    if n < 1e-6:  # width direction along the path: any perpendicular
        u = np.cross(t, [0.0, 0.0, 1.0] if abs(t[2]) < 0.9 else [1.0, 0.0, 0.0])
        n = np.linalg.norm(u)
    u = u / n
    return np.stack([u, t, np.cross(u, t)], axis=1)


def loft(path_m, half_axes_m, *, width_dir=(1.0, 0.0, 0.0), part: str) -> Elements:
    """A chain of ellipsoid elements along the polyline ``path_m`` (K,3) whose surface has the half-axes
    ``half_axes_m`` (K,2) at the path's vertices (interpolated along its length): the first along
    ``width_dir`` (made perpendicular to the path), the second across it. Ends are rounded."""
    path = np.asarray(path_m, np.float64)
    axes = np.asarray(half_axes_m, np.float64)
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    s_at = np.concatenate([[0.0], np.cumsum(seg)])
    length = float(s_at[-1])

    def at(s: float):
        p = np.array([np.interp(s, s_at, path[:, j]) for j in range(3)])
        a = np.array([np.interp(s, s_at, axes[:, j]) for j in range(2)])
        k = int(np.clip(np.searchsorted(s_at, s, side="right") - 1, 0, len(seg) - 1))
        return p, a, path[k + 1] - path[k]

    stations = [0.0]
    while stations[-1] < length:
        _, a, _ = at(stations[-1])
        stations.append(stations[-1] + CHAIN_STEP * a.max() / TUBE_FACTOR)
    stations[-1] = length
    co, radius, size, frames = [], [], [], []
    w = np.asarray(width_dir, np.float64)
    for s in stations:
        p, a, tangent = at(s)
        big = a.max()
        co.append(p)
        radius.append(big / TUBE_FACTOR)
        size.append([a[0] / big, 1.0, a[1] / big])
        frames.append(_frame(tangent, w))
    n = len(stations)
    return Elements(np.array(co), np.array(radius), np.array(size), np.array(frames),
                    np.full(n, PARTS.index(part)))


def field(points_m, elements: Elements, *, chunk: int = 4096) -> np.ndarray:
    """(P,) Blender's metaball field of ``elements`` at ``points_m`` (P,3); the surface is ``THRESHOLD``."""
    return part_fields(points_m, elements, chunk=chunk).sum(axis=1)


def part_fields(points_m, elements: Elements, *, chunk: int = 4096) -> np.ndarray:
    """(P, len(PARTS)) the field of each material part's elements at ``points_m`` (P,3)."""
    pts = np.asarray(points_m, np.float64)
    out = np.zeros((len(pts), len(PARTS)))
    onehot = np.eye(len(PARTS))[elements.part]  # (N, parts)
    for a in range(0, len(pts), chunk):
        d = pts[a:a + chunk, None, :] - elements.co_m[None]              # (p, N, 3)
        local = np.einsum("pni,nij->pnj", d, elements.frames)              # world -> element axes
        q = ((local / elements.size[None]) ** 2).sum(-1) / elements.radius_m[None] ** 2
        f = STIFFNESS * np.clip(1.0 - q, 0.0, None) ** 3                   # (p, N)
        out[a:a + chunk] = f @ onehot
    return out


def _offsets(layout: dict, joint: str) -> np.ndarray:
    return np.asarray(layout[joint][0], np.float64)


def torso(layout: dict) -> Elements:
    """Torso (top above :data:`WAIST_Y_M`, trousers below) and both shoulder lines."""
    prof = TORSO_PROFILE
    path = np.stack([np.zeros(len(prof)), prof[:, 0], prof[:, 3]], axis=1)
    whole = loft(path, prof[:, 1:3], width_dir=(1, 0, 0), part="top")
    below = whole.co_m[:, 1] < WAIST_Y_M
    part = np.where(below, PARTS.index("trousers"), whole.part)
    whole = Elements(whole.co_m, whole.radius_m, whole.size, whole.frames, part)
    sp = SHOULDER_PATH
    shoulder = loft(sp[:, :3], sp[:, 3:5], width_dir=(0, 1, 0), part="top")
    nb = NECK_BASE_PROFILE
    neck = loft(np.stack([np.zeros(len(nb)), nb[:, 0], nb[:, 3]], 1), nb[:, 1:3], width_dir=(1, 0, 0), part="top")
    return Elements.concat([whole, neck, shoulder, shoulder.mirrored_x()])


def arm(layout: dict) -> Elements:
    """The left sleeve along the shoulder, elbow and wrist joints (the right one is its mirror image)."""
    joints = np.array([_offsets(layout, j) for j in ("left_shoulder", "left_elbow", "left_wrist")])
    xs = ARM_PROFILE[:, 0]
    path = np.stack([xs, np.interp(xs, joints[:, 0], joints[:, 1]), np.interp(xs, joints[:, 0], joints[:, 2])], 1)
    return loft(path, ARM_PROFILE[:, 1:3], width_dir=(0, 1, 0), part="top")


def leg(layout: dict) -> Elements:
    """The left trouser leg and shoe (the right ones are their mirror images)."""
    joints = np.array([_offsets(layout, j) for j in ("left_hip", "left_knee", "left_ankle")])
    ys = LEG_PROFILE[:, 0]
    order = np.argsort(joints[:, 1])
    path = np.stack([np.interp(ys, joints[order, 1], joints[order, 0]), ys,
                     np.interp(ys, joints[order, 1], joints[order, 2])], 1)
    trouser = loft(path, LEG_PROFILE[:, 1:3], width_dir=(1, 0, 0), part="trousers")
    ankle = _offsets(layout, "left_ankle")
    shoe_path = np.stack([ankle[0] + SHOE_PATH[:, 0], SHOE_PATH[:, 1], ankle[2] + SHOE_PATH[:, 2]], 1)
    shoe = loft(shoe_path, SHOE_PATH[:, 3:5], width_dir=(1, 0, 0), part="shoes")
    return Elements.concat([trouser, shoe])


def _curled(base, length: float, curl_deg: float, n_joints: int = 3) -> np.ndarray:
    """A finger's polyline: ``n_joints`` phalanges along +x, each bent ``curl_deg`` further down (-y)."""
    pts = [np.asarray(base, np.float64)]
    seg = length / n_joints
    for k in range(n_joints):
        a = np.radians(curl_deg * (k + 0.5))
        pts.append(pts[-1] + seg * np.array([np.cos(a), -np.sin(a), 0.0]))
    return np.array(pts)


def hand(layout: dict) -> Elements:
    """The left hand (skin): wrist, palm, thumb and four slightly curled fingers, in the T-pose."""
    w = _offsets(layout, "left_wrist")
    palm = loft(w + PALM_PATH[:, :3], PALM_PATH[:, 3:5], width_dir=(0, 0, 1), part="skin")
    parts = [palm]
    for base, length, r0, r1, curl in FINGERS.values():
        pts = _curled(w + np.array(base), length, curl)
        radii = np.linspace(r0, r1, len(pts))
        parts.append(loft(pts, np.stack([radii, radii * 0.92], 1), width_dir=(0, 0, 1), part="skin"))
    thumb = w + THUMB_PATH[:, :3]
    parts.append(loft(thumb, np.stack([THUMB_PATH[:, 3], THUMB_PATH[:, 3] * 0.9], 1), width_dir=(0, 1, 0),
                      part="skin"))
    return Elements.concat(parts)


def body_elements(layout: dict) -> Elements:
    """Everything but the hands and the collar, both sides."""
    a, lg = arm(layout), leg(layout)
    return Elements.concat([torso(layout), a, a.mirrored_x(), lg, lg.mirrored_x()])


def hand_elements(layout: dict) -> Elements:
    """Both hands."""
    h = hand(layout)
    return Elements.concat([h, h.mirrored_x()])


def neck_contour(skin_m: np.ndarray, centre_m: np.ndarray, cut_y: float, *, band_m: float = 0.012,
                 n: int = COLLAR_ANGLES) -> np.ndarray:
    """(n,) the head's neck radius (m) around ``centre_m`` at angles ``2 pi k / n`` from +X towards +Z: the
    largest radius of the skin vertices ``skin_m`` (Y-up) in the band ``cut_y .. cut_y + band_m``, with empty
    angular bins filled by circular interpolation, then widened to each bin's neighbours and lightly smoothed
    (never inside a vertex of the band)."""
    band = skin_m[(skin_m[:, 1] >= cut_y) & (skin_m[:, 1] <= cut_y + band_m)]
    dx, dz = band[:, 0] - centre_m[0], band[:, 2] - centre_m[2]
    theta = np.mod(np.arctan2(dz, dx), 2 * np.pi)
    k = np.minimum((theta / (2 * np.pi) * n).astype(int), n - 1)
    r = np.full(n, np.nan)
    np.fmax.at(r, k, np.hypot(dx, dz))
    ok = np.nonzero(~np.isnan(r))[0]
    if len(ok) < 3:
        raise ValueError("the head has no neck vertices above the cut")
    idx = np.arange(n)
    r = np.interp(idx, np.concatenate([ok - n, ok, ok + n]), np.tile(r[ok], 3))
    r = np.maximum(np.maximum(np.roll(r, 1), r), np.roll(r, -1))  # widened first, so smoothing never cuts in
    return (np.roll(r, 1) + 2 * r + np.roll(r, -1)) / 4


def collar_mesh(contour_m: np.ndarray, centre_m: np.ndarray, cut_y: float) -> tuple[np.ndarray, list]:
    """A mock-neck collar around the head's neck: (V,3) Y-up vertices and quad faces (lists of indices).

    The outer wall stands :data:`COLLAR_CLEARANCE_M` outside the neck ``contour_m`` (from
    :func:`neck_contour`), its top edge :data:`COLLAR_RISE_M` above the cut (higher at the back, as a
    collar follows the neck's slant), rolls over and returns inside as a short lining hugging the neck;
    below the cut its foot tucks in (:data:`COLLAR_TUCK_M`) under the top's neckline, :data:`COLLAR_DEPTH_M`
    further down."""
    n = len(contour_m)
    theta = 2 * np.pi * np.arange(n) / n
    cos_t, sin_t = np.cos(theta), np.sin(theta)
    front = np.clip(sin_t, 0.0, 1.0)  # +Z is the front
    top = cut_y + COLLAR_RISE_M[1] + (COLLAR_RISE_M[0] - COLLAR_RISE_M[1]) * front
    c = COLLAR_CLEARANCE_M
    # (height below the top edge m, extra radius m): the lining (inside, from its lower edge up), the roll
    # over the top, then the outer wall down into the torso
    lining = [(-0.010, 0.0008), (-0.006, 0.0010), (-0.0025, 0.0014)]
    roll = [(-0.0005, 0.0022), (0.0, 0.0032), (-0.0007, c)]
    rows = lining + roll
    # the outer wall down to just below the cut, then tucked in under the top's neckline
    for dh in (0.003, 0.008):
        rows.append((-dh, c + 0.0002))
    for t in np.linspace(0.0, 1.0, 5)[1:]:
        rows.append((-(0.008 + t * (COLLAR_DEPTH_M + 0.01)), c - COLLAR_TUCK_M * t * t))
    verts = []
    for dh, dr in rows:
        r = contour_m + dr
        verts.append(np.stack([centre_m[0] + r * cos_t, top + dh, centre_m[2] + r * sin_t], 1))
    v = np.concatenate(verts)
    faces = []
    for i in range(len(rows) - 1):
        for j in range(n):
            a, b = i * n + j, i * n + (j + 1) % n
            faces.append([a, b, b + n, a + n])
    return v, faces
