import numpy as np
import pytest

from panovlm.data.projection import Projector
from panovlm.geometry import (
    View,
    ViewPlan,
    angles_to_ray,
    correspondences,
    ray_to_angles,
    ray_to_erp,
    ray_to_view_pixel,
    view_overlap,
    view_pixel_to_ray,
    view_rays,
)
from panovlm.plans import build_view_plan

VIEWS = [
    View("tile", 30.0, 20.0, 90.0, 90.0, 64, 64),
    View("tile", -180.0, -70.0, 60.0, 45.0, 48, 32),
    View("tile", 0.0, 90.0, 100.0, 100.0, 40, 40),
    View("global", 0.0, 0.0, 360.0, 180.0, 64, 64, projection="equirect"),
    View("global", 0.0, 0.0, 360.0, 180.0, 64, 64, projection="equirect", letterbox=0.5),
    View("tile", 170.0, 0.0, 90.0, 90.0, 32, 32, projection="equirect"),
]


@pytest.mark.parametrize("view", VIEWS)
def test_pixel_ray_pixel_round_trip(view):
    rng = np.random.default_rng(0)
    cols = rng.uniform(-0.4, view.width - 0.6, 500)
    band = view.height * (1 - view.letterbox)
    top = (view.height - band) / 2
    rows = rng.uniform(top, top + band - 1, 500)
    rays = view_pixel_to_ray(view, cols, rows)
    assert np.allclose(np.linalg.norm(rays, axis=-1), 1.0)
    pix, visible = ray_to_view_pixel(view, rays)
    assert visible.all()
    assert np.allclose(pix[:, 0], cols, atol=1e-6) and np.allclose(pix[:, 1], rows, atol=1e-6)


def test_letterbox_rows_see_nothing():
    view = VIEWS[4]
    rays = view_rays(view)
    assert np.isnan(rays[:16]).all() and np.isnan(rays[-16:]).all() and np.isfinite(rays[16:48]).all()


def test_ray_to_erp_known_points_and_seam():
    w, h = 360, 180
    cases = {(0.0, 0.0): ((w - 1) / 2, (h - 1) / 2), (90.0, 0.0): (0.75 * w - 0.5, (h - 1) / 2),
             (-90.0, 45.0): (0.25 * w - 0.5, 0.25 * h - 0.5), (0.0, 90.0): ((w - 1) / 2, -0.5)}
    for (lon, lat), expected in cases.items():
        assert np.allclose(ray_to_erp(angles_to_ray(np.array(lon), np.array(lat)), w, h), expected, atol=1e-9)
    # Just left of the seam (-180) wraps to the right end, staying in [-0.5, W - 0.5).
    u = ray_to_erp(angles_to_ray(np.array([-179.9, 179.9]), np.zeros(2)), w, h)[:, 0]
    assert -0.5 <= u[0] < 0 and w - 1 < u[1] < w - 0.5


def test_angles_ray_round_trip():
    yaw = np.array([-179.0, -90.0, 0.0, 45.0, 135.0])
    pitch = np.array([-80.0, -10.0, 0.0, 30.0, 89.0])
    lon, lat = ray_to_angles(angles_to_ray(yaw, pitch))
    assert np.allclose(lon, yaw) and np.allclose(lat, pitch)


def _centre_direction(plan, erp, index):
    views = Projector(plan, antialias=False).render(erp)
    s = views.shape[1]
    return views[index, s // 2 - 1: s // 2 + 1, s // 2 - 1: s // 2 + 1].reshape(-1, 3)


def test_sign_conventions_on_direction_erp(direction_codec):
    """+yaw looks right (+x), +pitch looks up (+y), read off rendered pixels, not the formulas."""
    erp = direction_codec.erp()
    views = [View("tile", yaw, pitch, 60.0, 60.0, 32, 32)
             for yaw, pitch in [(0, 0), (90, 0), (-90, 0), (0, 45), (0, -45), (-180, 0)]]
    plan = ViewPlan(views=tuple(views))
    expected = angles_to_ray(np.array([0, 90, -90, 0, 0, 180.0]), np.array([0, 0, 0, 45, -45, 0.0]))
    for i in range(len(views)):
        got = direction_codec.decode(_centre_direction(plan, erp, i)).mean(0)
        assert direction_codec.angle(got / np.linalg.norm(got), expected[i]) < 1.5
    # Within a view: the right edge looks further right, the top row looks up.
    rendered = direction_codec.decode(Projector(plan, antialias=False).render(erp)[0])
    assert rendered[16, -1, 0] > 0.4 and rendered[16, 0, 0] < -0.4
    assert rendered[0, 16, 1] > 0.4 and rendered[-1, 16, 1] < -0.4


@pytest.mark.parametrize("pair", [(1, 2), (8, 1), (2, 1), (1, 10), (9, 17), (1, 0)])
def test_correspondences_decode_to_the_same_direction(direction_codec, pair):
    """Token centres of view A and their matches on view B sample the same ray of the sphere."""
    import cv2

    erp = direction_codec.erp(1024, 512)
    plan = build_view_plan("anyres_e2p", image_size=(112, 112), pitch_range=(-90.0, 90.0))
    views = Projector(plan, antialias=False, fixed_point=False).render(erp)
    a, b = pair
    grid = (14, 14)
    corr = correspondences(plan, grid, a, b)
    assert corr.num_tokens > 10
    s = 112
    cols_a = (np.arange(grid[1]) + 0.5) * s / grid[1] - 0.5
    cc, rr = np.meshgrid(cols_a, cols_a)
    pts_a = np.stack([cc.ravel(), rr.ravel()], -1)[corr.index_a].astype(np.float32)
    pts_b = ((corr.coords_b + 0.5) * s / np.array(grid[::-1]) - 0.5).astype(np.float32)

    def sample(img, pts):
        m = pts.reshape(-1, 1, 2)
        return cv2.remap(img, m[..., 0], m[..., 1], cv2.INTER_LINEAR).reshape(-1, 3)

    da = direction_codec.decode(sample(views[a], pts_a))
    db = direction_codec.decode(sample(views[b], pts_b))
    assert np.median(direction_codec.angle(da, db)) < 0.6
    assert direction_codec.angle(da, db).max() < 3.0
    # ... and that shared ray is the one geometry says token A sees.
    expected = view_pixel_to_ray(plan.views[a], pts_a[:, 0], pts_a[:, 1])
    assert np.median(direction_codec.angle(da, expected)) < 0.6


def test_overlap_is_geometric():
    plan = build_view_plan("e2p")
    assert 0.4 < view_overlap(plan, 0, 1) < 0.6
    assert view_overlap(plan, 0, 7) == pytest.approx(view_overlap(plan, 0, 1))
    assert view_overlap(plan, 0, 4) == 0.0
    narrow = build_view_plan("e2p", fov_deg=45.0, overlap_ratio=0.0)
    assert view_overlap(narrow, 0, 1) < 0.03
