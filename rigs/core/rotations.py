"""Rotation conversions with numpy (axis-angle, matrices, quaternions w-first, Euler) and axis frames.

Batched over leading dimensions. Axis-angle is the clip's rotation format (SMPL-X convention);
quaternions are ``(w, x, y, z)`` as Blender stores ``rotation_quaternion``.
Reference: Rodrigues' formula; Shoemake 1985 for matrix -> quaternion.
"""
from __future__ import annotations

import numpy as np

from .errors import RigError

AXES: dict[str, tuple[float, float, float]] = {"X": (1.0, 0.0, 0.0), "Y": (0.0, 1.0, 0.0), "Z": (0.0, 0.0, 1.0)}
# canonical / ICT axes (+X left, +Y up, +Z forward) -> Blender's (Z up, -Y forward): (x, y, z) -> (x, -z, y)
YUP_TO_ZUP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def axis_vector(axis: str) -> np.ndarray:
    """(3,) unit vector of a signed axis name: ``"X"``, ``"-Y"``, ``"+Z"``... Raises RigError otherwise."""
    a = str(axis).strip().upper()
    s = -1.0 if a.startswith("-") else 1.0
    try:
        return s * np.array(AXES[a.lstrip("+-")], dtype=np.float64)
    except KeyError:
        raise RigError(f"unknown axis {axis!r}: use X, Y, Z, -X, -Y or -Z") from None


def axes_matrix(up: str = "Y", forward: str = "Z") -> np.ndarray:
    """(3, 3) rotation taking canonical axes (+X left, +Y up, +Z forward) to a space with the given
    ``up``/``forward`` axes (``"Z"``, ``"-Y"``...). Blender rigs: ``up="Z", forward="-Y"``."""
    u, f = axis_vector(up), axis_vector(forward)
    if abs(u @ f) > 0.5:
        raise RigError(f"up {up!r} and forward {forward!r} must be different axes")
    return np.stack([np.cross(u, f), u, f], axis=1)


def yup_to_zup(points) -> np.ndarray:
    """(..., 3) canonical/ICT axes (Y up, +Z forward) -> Blender axes (Z up, -Y forward): (x, -z, y)."""
    p = np.asarray(points)
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1)


def axis_angle_to_matrix(aa: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle radians -> (..., 3, 3) rotation matrices (Rodrigues)."""
    aa = np.asarray(aa, dtype=np.float64)
    theta = np.linalg.norm(aa, axis=-1, keepdims=True)  # (..., 1)
    small = theta < 1e-8
    k = aa / np.where(small, 1.0, theta)
    kx, ky, kz = k[..., 0], k[..., 1], k[..., 2]
    zero = np.zeros_like(kx)
    K = np.stack([zero, -kz, ky, kz, zero, -kx, -ky, kx, zero], axis=-1).reshape(aa.shape[:-1] + (3, 3))
    s = np.sin(theta)[..., None]
    c = np.cos(theta)[..., None]
    eye = np.broadcast_to(np.eye(3), K.shape)
    R = eye + s * K + (1.0 - c) * (K @ K)
    # first-order for tiny angles keeps the map smooth through zero
    Ksmall = np.stack([zero, -aa[..., 2], aa[..., 1], aa[..., 2], zero, -aa[..., 0], -aa[..., 1], aa[..., 0], zero],
                      axis=-1).reshape(K.shape)
    return np.where(small[..., None], eye + Ksmall, R)


def matrix_to_quaternion(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 4) unit quaternions (w, x, y, z), w >= 0."""
    R = np.asarray(R, dtype=np.float64)
    m00, m11, m22 = R[..., 0, 0], R[..., 1, 1], R[..., 2, 2]
    q = np.stack([
        1.0 + m00 + m11 + m22,
        1.0 + m00 - m11 - m22,
        1.0 - m00 + m11 - m22,
        1.0 - m00 - m11 + m22,
    ], axis=-1)
    best = np.argmax(q, axis=-1)
    out = np.empty(R.shape[:-2] + (4,))
    # candidate quaternions from each of the four largest-diagonal branches
    w = np.sqrt(np.maximum(q[..., 0], 1e-300)) * 0.5
    x = np.sqrt(np.maximum(q[..., 1], 1e-300)) * 0.5
    y = np.sqrt(np.maximum(q[..., 2], 1e-300)) * 0.5
    z = np.sqrt(np.maximum(q[..., 3], 1e-300)) * 0.5
    c0 = np.stack([w, (R[..., 2, 1] - R[..., 1, 2]) / (4 * w), (R[..., 0, 2] - R[..., 2, 0]) / (4 * w),
                   (R[..., 1, 0] - R[..., 0, 1]) / (4 * w)], -1)
    c1 = np.stack([(R[..., 2, 1] - R[..., 1, 2]) / (4 * x), x, (R[..., 0, 1] + R[..., 1, 0]) / (4 * x),
                   (R[..., 0, 2] + R[..., 2, 0]) / (4 * x)], -1)
    c2 = np.stack([(R[..., 0, 2] - R[..., 2, 0]) / (4 * y), (R[..., 0, 1] + R[..., 1, 0]) / (4 * y), y,
                   (R[..., 1, 2] + R[..., 2, 1]) / (4 * y)], -1)
    c3 = np.stack([(R[..., 1, 0] - R[..., 0, 1]) / (4 * z), (R[..., 0, 2] + R[..., 2, 0]) / (4 * z),
                   (R[..., 1, 2] + R[..., 2, 1]) / (4 * z), z], -1)
    for i, c in enumerate((c0, c1, c2, c3)):
        sel = best == i
        out[sel] = c[sel]
    out *= np.where(out[..., :1] < 0, -1.0, 1.0)
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (w, x, y, z) -> (..., 3, 3)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    return np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], axis=-1).reshape(q.shape[:-1] + (3, 3))


def matrix_to_axis_angle(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 3) axis-angle radians, angle in [0, pi]."""
    q = matrix_to_quaternion(R)
    return quaternion_to_axis_angle(q)


def quaternion_to_axis_angle(q: np.ndarray) -> np.ndarray:
    """(..., 4) (w, x, y, z) -> (..., 3) axis-angle radians."""
    q = np.asarray(q, dtype=np.float64)
    q = q * np.where(q[..., :1] < 0, -1.0, 1.0)
    v = q[..., 1:]
    s = np.linalg.norm(v, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(s, q[..., :1])
    scale = np.where(s < 1e-12, 2.0, angle / np.where(s < 1e-12, 1.0, s))
    return v * scale


def axis_angle_to_quaternion(aa: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 4) (w, x, y, z)."""
    aa = np.asarray(aa, dtype=np.float64)
    theta = np.linalg.norm(aa, axis=-1, keepdims=True)
    half = 0.5 * theta
    k = np.where(theta < 1e-12, 0.5, np.sin(half) / np.where(theta < 1e-12, 1.0, theta))
    return np.concatenate([np.cos(half), aa * k], axis=-1)


def euler_to_matrix(angles_rad: np.ndarray, order: str = "XYZ") -> np.ndarray:
    """(..., 3) Euler angles applied in ``order`` (intrinsic, as BVH channels list them) -> (..., 3, 3).

    ``angles_rad[..., i]`` is the angle about axis ``order[i]``; the matrix is R_order[0] @ R_order[1] @ R_order[2].
    """
    angles_rad = np.asarray(angles_rad, dtype=np.float64)
    out = np.broadcast_to(np.eye(3), angles_rad.shape[:-1] + (3, 3)).copy()
    for i, ax in enumerate(order.upper()):
        out = out @ _axis_matrix(ax, angles_rad[..., i])
    return out


def euler_to_axis_angle(angles_rad: np.ndarray, order: str = "XYZ") -> np.ndarray:
    """(..., 3) intrinsic Euler angles in ``order`` -> (..., 3) axis-angle radians, without matrices.

    Same convention as :func:`euler_to_matrix` (``angles_rad[..., i]`` about axis ``order[i]``), composed as
    the quaternion product q_order[0] q_order[1] q_order[2]. ``order`` is a permutation of ``"XYZ"``
    (Tait-Bryan angles); anything else raises RigError.
    """
    o = str(order).upper()
    if sorted(o) != ["X", "Y", "Z"]:
        raise RigError(f"Euler order must be a permutation of XYZ, got {order!r}")
    i, j, k = ("XYZ".index(c) for c in o)
    h = 0.5 * np.asarray(angles_rad, dtype=np.float64)
    c, s = np.cos(h), np.sin(h)
    # q_a q_b = (ca cb, sa cb e_i + ca sb e_j + sa sb e_i e_j), where e_i e_j = +e_k for a cyclic order, -e_k else
    w0, x0, y0, z0 = c[..., 0] * c[..., 1], s[..., 0] * c[..., 1], c[..., 0] * s[..., 1], s[..., 0] * s[..., 1]
    odd = (j - i) % 3 != 1
    if odd:
        z0 = -z0
    cc, sc = c[..., 2], s[..., 2]
    # ... times (cc + sc e_k); e_i e_k = -e_j and e_j e_k = +e_i for a cyclic order (signs swap when odd)
    xi, yj = (x0 * cc - y0 * sc, y0 * cc + x0 * sc) if odd else (x0 * cc + y0 * sc, y0 * cc - x0 * sc)
    q = np.empty(h.shape[:-1] + (4,))
    q[..., 0] = w0 * cc - z0 * sc
    q[..., 1 + i] = xi
    q[..., 1 + j] = yj
    q[..., 1 + k] = z0 * cc + w0 * sc
    return quaternion_to_axis_angle(q)


def matrix_to_euler(R: np.ndarray, order: str = "XYZ") -> np.ndarray:
    """(..., 3, 3) -> (..., 3) intrinsic Euler angles in ``order`` (inverse of :func:`euler_to_matrix`)."""
    R = np.asarray(R, dtype=np.float64)
    order = order.upper()
    i, j, k = ("XYZ".index(c) for c in order)
    parity = 1.0 if (j - i) % 3 == 1 else -1.0  # even permutation of XYZ
    # R = Ri(a) Rj(b) Rk(c): R[i,k] = parity * sin(b)
    sb = np.clip(parity * R[..., i, k], -1.0, 1.0)
    b = np.arcsin(sb)
    a = np.arctan2(-parity * R[..., j, k], R[..., k, k])
    c = np.arctan2(-parity * R[..., i, j], R[..., i, i])
    gimbal = np.abs(sb) > 1 - 1e-9
    if np.any(gimbal):
        a = np.where(gimbal, np.arctan2(parity * R[..., k, j], R[..., j, j]), a)
        c = np.where(gimbal, 0.0, c)
    return np.stack([a, b, c], axis=-1)


def _axis_matrix(axis: str, a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    if axis == "X":
        m = [o, z, z, z, c, -s, z, s, c]
    elif axis == "Y":
        m = [c, z, s, z, o, z, -s, z, c]
    elif axis == "Z":
        m = [c, -s, z, s, c, z, z, z, o]
    else:
        raise ValueError(f"unknown axis {axis!r}")
    return np.stack(m, axis=-1).reshape(a.shape + (3, 3))


def continuous_quaternions(q: np.ndarray) -> np.ndarray:
    """Flip signs so consecutive quaternions lie in the same hemisphere."""
    q = np.array(q, dtype=np.float64)
    if len(q) > 1:
        flips = np.cumsum(np.einsum("ki,ki->k", q[1:], q[:-1]) < 0) % 2
        q[1:][flips == 1] *= -1
    return q


EXTRINSIC_ORDERS = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")


def quaternions_to_extrinsic_euler(q: np.ndarray, order: str = "XYZ") -> np.ndarray:
    """(T, 4) quaternions (w, x, y, z) -> (T, 3) Euler angles ``(x, y, z)`` in radians for an *extrinsic*
    ``order`` (rotate about X, then Y, then Z for ``"XYZ"``: ``R = Rz Ry Rx``), the convention of Blender's
    ``rotation_mode`` and ``rotation_euler``; each angle is unwrapped over time so keys interpolate the short
    way. Raises RigError for an unknown order."""
    o = str(order).upper()
    if o not in EXTRINSIC_ORDERS:
        raise RigError(f"Euler order must be one of {EXTRINSIC_ORDERS}, got {order!r}")
    intrinsic = o[::-1]  # extrinsic XYZ == intrinsic ZYX
    e = matrix_to_euler(quaternion_to_matrix(np.asarray(q, dtype=np.float64)), intrinsic)  # (T, 3) by intrinsic axis
    out = np.empty_like(e)
    for i, ax in enumerate(intrinsic):
        out[..., "XYZ".index(ax)] = e[..., i]
    return np.unwrap(out, axis=0) if out.ndim == 2 and len(out) > 1 else out


def quaternions_to_angle_axis(q: np.ndarray) -> np.ndarray:
    """(T, 4) quaternions -> (T, 4) ``(angle, x, y, z)`` with a unit axis, as Blender's
    ``rotation_axis_angle`` stores it (axis +Y for no rotation); quaternion signs are made continuous first."""
    q = continuous_quaternions(np.asarray(q, dtype=np.float64))
    v = q[..., 1:]
    s = np.linalg.norm(v, axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(s[..., 0], q[..., 0])
    axis = np.where(s < 1e-12, np.array([0.0, 1.0, 0.0]), v / np.where(s < 1e-12, 1.0, s))
    return np.concatenate([angle[..., None], axis], axis=-1)
