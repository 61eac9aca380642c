"""addon.blender.body_shape (numpy): lofts that keep their sizes, a body of human proportions, hands with a
thumb and four fingers, and a collar that hides the head's cut edge."""
import numpy as np
import pytest

from addon.blender import body_shape as bs
from addon.blender.geometry import bone_layout, head_offset_m, neck_ring
from rigs.core.skeleton import canonical_skeleton


@pytest.fixture(scope="module")
def layout():
    sk = canonical_skeleton()
    pos = sk.rest_positions_m()
    return bone_layout(np.zeros(3), {s: pos[sk.index(f"{s}_eye")] for s in ("left", "right")})


def _surface_along(elements, start, direction, *, reach_m=0.4, step_m=0.0005):
    """Distance (m) from ``start`` (inside) along ``direction`` to where the field drops below the threshold."""
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    s = np.arange(0.0, reach_m, step_m)
    f = bs.field(np.asarray(start) + s[:, None] * d, elements)
    assert f[0] > bs.THRESHOLD, "start point is outside the surface"
    return s[np.argmax(f < bs.THRESHOLD)]


def _runs_inside(elements, a, b, n=2000):
    """How many separate stretches of the segment a -> b lie inside the surface."""
    t = np.linspace(0.0, 1.0, n)[:, None]
    inside = bs.field(np.asarray(a) + t * (np.asarray(b) - np.asarray(a)), elements) > bs.THRESHOLD
    return int(np.sum(inside[1:] & ~inside[:-1]) + inside[0])


def test_a_loft_has_the_half_axes_it_asks_for():
    path = np.array([[0.0, 0.0, 0.0], [0.0, 0.4, 0.0]])
    el = bs.loft(path, [[0.06, 0.03], [0.04, 0.02]], width_dir=(1, 0, 0), part="top")
    for y, (a, b) in ((0.1, (0.055, 0.0275)), (0.2, (0.05, 0.025)), (0.3, (0.045, 0.0225))):
        assert _surface_along(el, (0, y, 0), (1, 0, 0)) == pytest.approx(a, abs=0.0015)   # within 1.5 mm
        assert _surface_along(el, (0, y, 0), (0, 0, 1)) == pytest.approx(b, abs=0.0015)


def test_body_has_human_proportions(layout):
    el = bs.body_elements(layout)
    chest = 2 * _surface_along(el, (0, 1.25, 0.0), (1, 0, 0), reach_m=0.17)   # below the armpits
    waist = 2 * _surface_along(el, (0, 1.06, 0.0), (1, 0, 0))
    depth = _surface_along(el, (0, 1.25, 0.0), (0, 0, 1)) + _surface_along(el, (0, 1.25, 0.0), (0, 0, -1))
    shoulder_top = 1.37 + _surface_along(el, (0.19, 1.37, -0.033), (0, 1, 0))
    trapezius_top = 1.40 + _surface_along(el, (0.08, 1.40, -0.022), (0, 1, 0))
    assert 0.29 < chest < 0.36 and 0.26 < waist < chest - 0.02       # a waist narrower than the chest
    assert 0.18 < depth < 0.25
    assert 1.40 < shoulder_top < trapezius_top < 1.48                # shoulders slope down from the neck
    upper_arm = 2 * _surface_along(el, (0.33, 1.372, -0.041), (0, 0, 1))
    forearm_at_cuff = 2 * _surface_along(el, (0.66, 1.376, -0.053), (0, 0, 1))
    assert 0.07 < upper_arm < 0.10 and forearm_at_cuff < upper_arm
    # the legs part below the crotch: a gap between the knees
    assert _runs_inside(el, (-0.2, 0.46, 0.0), (0.2, 0.46, 0.0)) == 2
    assert _runs_inside(el, (-0.2, 1.10, 0.0), (0.2, 1.10, 0.0)) == 1


def test_hand_has_four_fingers_and_a_thumb(layout):
    el = bs.hand(layout)
    w = np.asarray(layout["left_wrist"][0])
    # four separate fingers: each finger's middle is inside, the point between two neighbours is not
    mids = []
    for base, length, *_, curl in bs.FINGERS.values():
        pts = bs._curled(w + np.array(base), length, curl)
        mids.append(0.5 * (pts[1] + pts[2]))
    f_mid = bs.field(np.array(mids), el)
    f_gap = bs.field(0.5 * (np.array(mids[1:]) + np.array(mids[:-1])), el)
    assert (f_mid > bs.THRESHOLD).all() and (f_gap < bs.THRESHOLD).all(), (f_mid, f_gap)
    # across the palm: one piece
    assert _runs_inside(el, w + (0.05, -0.003, -0.06), w + (0.05, -0.003, 0.06)) == 1
    # the thumb's tip stands apart from the index finger
    assert _runs_inside(el, w + (0.084, -0.026, 0.068), w + (0.084, -0.006, 0.029)) == 2
    both = bs.hand_elements(layout)
    assert len(both) == 2 * len(el)
    np.testing.assert_allclose(both.co_m[len(el):], el.co_m * [-1, 1, 1])


def test_mirrored_elements_give_the_mirrored_field(layout):
    el = bs.hand(layout)
    pts = np.random.default_rng(0).uniform([0.6, 1.3, -0.12], [0.9, 1.42, 0.08], size=(500, 3))
    np.testing.assert_allclose(bs.field(pts * [-1, 1, 1], el.mirrored_x()), bs.field(pts, el), atol=1e-9)


def test_collar_hides_the_heads_cut_edge(data_dir):
    from rigs import ict

    head = ict.load_ict()
    offset = head_offset_m(head)
    cut, centre, _ = neck_ring(head, offset)
    skin = head.neutral_m[slice(*ict.VERTEX_PARTS["skin"])] + offset
    contour = bs.neck_contour(skin, centre, cut)
    v, faces = bs.collar_mesh(contour, centre, cut)
    n = len(contour)
    rows = v.reshape(-1, n, 3)
    radius = np.hypot(rows[..., 0] - centre[0], rows[..., 2] - centre[2])
    top = np.argmax(rows[:, :, 1].mean(axis=1))
    assert rows[top, :, 1].min() > cut + 0.009                        # the top edge stands above the cut
    assert (radius[top] - contour).min() > 0.002                      # and outside the neck all round
    # every vertex of the neck at the cut height lies inside the collar's inner lining
    band = skin[(skin[:, 1] >= cut) & (skin[:, 1] < cut + 0.006)]
    ang = np.mod(np.arctan2(band[:, 2] - centre[2], band[:, 0] - centre[0]), 2 * np.pi)
    k = np.minimum((ang / (2 * np.pi) * n).astype(int), n - 1)
    r = np.hypot(band[:, 0] - centre[0], band[:, 2] - centre[2])
    assert (r < radius[0][k]).all()
    assert all(len(f) == 4 for f in faces) and len(faces) == (len(rows) - 1) * n
