"""Tests of rigs.core.rotations conversions that no other test pins down."""
from __future__ import annotations

import numpy as np
import pytest

from rigs.core.errors import RigError
from rigs.core.rotations import axis_angle_to_matrix, euler_to_axis_angle, euler_to_matrix

ORDERS = ("XYZ", "XZY", "YXZ", "YZX", "ZXY", "ZYX")


@pytest.mark.parametrize("order", ORDERS)
def test_euler_to_axis_angle_matches_euler_to_matrix(order):
    rng = np.random.default_rng(0)
    e = rng.uniform(-np.pi, np.pi, (200, 4, 3))
    e[0] = 0.0                      # identity
    e[1, :, 1:] = 0.0               # single-axis rotations
    aa = euler_to_axis_angle(e, order)
    assert aa.shape == e.shape
    assert np.all(np.linalg.norm(aa, axis=-1) <= np.pi + 1e-12)   # angle in [0, pi]
    np.testing.assert_allclose(axis_angle_to_matrix(aa), euler_to_matrix(e, order), atol=1e-12)
    np.testing.assert_allclose(aa[0], 0.0, atol=0.0)


def test_euler_to_axis_angle_single_axis():
    # 30 degrees about the order's first axis only: axis-angle is that axis times the angle
    a = np.deg2rad(30.0)
    for order in ORDERS:
        aa = euler_to_axis_angle(np.array([a, 0.0, 0.0]), order)
        expected = np.zeros(3)
        expected["XYZ".index(order[0])] = a
        np.testing.assert_allclose(aa, expected, atol=1e-15)


@pytest.mark.parametrize("order", ["XYX", "XY", "ABC", ""])
def test_euler_to_axis_angle_rejects_non_tait_bryan_orders(order):
    with pytest.raises(RigError):
        euler_to_axis_angle(np.zeros(3), order)
