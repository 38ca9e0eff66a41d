import numpy as np
import pytest
import torch

from panovlm.data.io import load_image
from panovlm.data.projection import Projector, prefilter_size, wrap_pad
from panovlm.geometry import View, ViewPlan
from panovlm.plans import build_view_plan

py360convert = pytest.importorskip("py360convert", reason="py360convert is the test oracle (pip install 'panovlm[dev]')")

# Horizon ring, both sides of the +-180 seam, and pitches up to the poles.
ORACLE_VIEWS = [(yaw, 0.0) for yaw in (0, 45, 90, 135, -180, 180 - 1e-3, 170, -170, -90)] + [
    (0, 90), (0, -90), (60, 60), (-120, -60), (-180, 45), (175, -80), (30, 89)]


def _oracle_plan(size=(96, 96), fov=90.0):
    return ViewPlan(views=tuple(View("tile", float(y), float(p), fov, fov, size[1], size[0]) for y, p in ORACLE_VIEWS))


def _max_mean_diff_vs_py360(erp, plan):
    views = Projector(plan, antialias=False).render(erp)
    diffs = []
    for view, ours in zip(plan.views, views, strict=True):
        ref = py360convert.e2p(erp, fov_deg=(view.hfov_deg, view.vfov_deg), u_deg=view.yaw_deg,
                               v_deg=view.pitch_deg, out_hw=(view.height, view.width))
        diffs.append(np.abs(ref.astype(np.float64) - ours).mean() / 255.0)
    return max(diffs)


def test_agrees_with_py360convert_on_real_panoramas(real_panoramas):
    plan = _oracle_plan()
    for path in real_panoramas:
        erp = load_image(path)
        if erp.shape[1] > 1024:  # the oracle is slow; the geometry does not depend on the ERP size
            import cv2

            erp = cv2.resize(erp, (1024, 512), interpolation=cv2.INTER_AREA)
        assert _max_mean_diff_vs_py360(erp, plan) < 1.0 / 255.0, path.name


@pytest.mark.parametrize("kind", ["noise", "direction"])
def test_agrees_with_py360convert_on_synthetic(kind, direction_codec):
    rng = np.random.default_rng(0)
    erp = rng.integers(0, 256, (200, 400, 3), dtype=np.uint8) if kind == "noise" else direction_codec.erp(400, 200)
    assert _max_mean_diff_vs_py360(erp, _oracle_plan((64, 80), fov=75.0)) < 1.0 / 255.0


def test_disagrees_when_yaw_sign_is_flipped(real_panoramas):
    """The oracle comparison can fail: a mirrored yaw is far off."""
    erp = load_image(real_panoramas[0])
    view = View("tile", 60.0, 0.0, 90.0, 90.0, 64, 64)
    ours = Projector(ViewPlan(views=(view,)), antialias=False).render(erp)[0]
    ref = py360convert.e2p(erp, fov_deg=90.0, u_deg=-60.0, v_deg=0.0, out_hw=(64, 64))
    assert np.abs(ref.astype(float) - ours).mean() / 255.0 > 0.02


@pytest.mark.parametrize("antialias, supersample", [(False, 1), (True, 1), (True, 2)])
@pytest.mark.parametrize("global_mode", ["squash", "letterbox"])
def test_torch_path_agrees_with_cv2(antialias, supersample, global_mode):
    rng = np.random.default_rng(1)
    smooth = np.kron(rng.integers(0, 256, (32, 64, 3)), np.ones((8, 8, 1))).astype(np.uint8)  # (256, 512, 3)
    plan = build_view_plan("anyres_e2p", image_size=(48, 48), pitch_range=(-90, 90), global_mode=global_mode)
    projector = Projector(plan, antialias=antialias, fixed_point=False, supersample=supersample)
    cpu = projector.render(smooth).astype(np.float32) / 255.0  # (V, S, S, 3)
    erp = torch.from_numpy(smooth).permute(2, 0, 1)[None].float().div(255.0).repeat(2, 1, 1, 1)
    out = projector.render_torch(erp)
    assert out.shape == (2, len(plan), 3, 48, 48)
    got = out[1].permute(0, 2, 3, 1).numpy()
    assert np.abs(got - cpu).mean() < 0.5 / 255.0
    assert np.abs(got - cpu).max() < 4.0 / 255.0


def test_letterbox_bands_are_zero_and_band_is_not():
    erp = np.full((64, 128, 3), 200, dtype=np.uint8)
    plan = build_view_plan("anyres_e2p", image_size=(32, 32), global_mode="letterbox")
    views = Projector(plan).render(erp)
    assert (views[0, :8] == 0).all() and (views[0, -8:] == 0).all()
    assert (views[0, 8:24] == 200).all()
    assert (views[1:] == 200).all()  # tiles of a flat ERP are flat: the pole rows and the seam pad correctly


def test_one_remap_per_prefilter_level_and_sizes():
    plan = build_view_plan("anyres_e2p")
    levels = Projector(plan).levels(2048, 1024)
    assert [(lv.start, lv.stop) for lv in levels] == [(0, 1), (1, 9)]
    assert levels[1].size == (1024, 512)  # 360/90*224 = 896 -> largest power-of-two reduction that keeps >= 896
    assert levels[0].size == (256, 256)  # squash global: 224 px for 360 deg and for 180 deg
    assert [(lv.start, lv.stop) for lv in Projector(plan, antialias=False).levels(2048, 1024)] == [(0, 9)]
    assert prefilter_size(plan.views[1], (300, 150)) == (300, 150)  # never enlarged


def test_antialias_reduces_aliasing_on_fine_stripes():
    """A 1-pixel checkerboard averages to grey; point sampling it does not."""
    yy, xx = np.mgrid[0:1024, 0:2048]
    erp = np.repeat((((xx + yy) % 2) * 255).astype(np.uint8)[..., None], 3, axis=2)
    plan = build_view_plan("anyres_e2p", image_size=(64, 64))
    smooth = Projector(plan).render(erp).astype(float)
    sharp = Projector(plan, antialias=False).render(erp).astype(float)
    assert smooth.std() < 8.0 < sharp.std()


def test_supersampling_is_closer_to_the_footprint_integral(direction_codec):
    """Rendering at 2x and area-averaging approximates an 8x reference better than one sample per pixel."""
    yy, xx = np.mgrid[0:512, 0:1024].astype(np.float32)
    zone = np.repeat((127.5 + 127.5 * np.cos((xx ** 2 + yy ** 2) * (np.pi / 1024))).astype(np.uint8)[..., None], 3, 2)
    plan = build_view_plan("e2p", image_size=(112, 112))
    ref = Projector(plan, antialias=False, supersample=6, fixed_point=False).render(zone).astype(float)
    err1 = np.abs(Projector(plan).render(zone) - ref).mean()
    err2 = np.abs(Projector(plan, supersample=2).render(zone) - ref).mean()
    assert err2 < 0.75 * err1


def test_wrap_pad_matches_py360convert_rule():
    erp = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    padded = wrap_pad(erp)
    assert padded.shape == (6, 8, 3)
    assert (padded[1:-1, 0] == erp[:, -1]).all() and (padded[1:-1, -1] == erp[:, 0]).all()
    assert (padded[0, 1:-1] == np.roll(erp[0], 3, axis=0)).all()


def test_bad_input_is_rejected():
    plan = build_view_plan("e2p", image_size=(16, 16))
    with pytest.raises(ValueError, match="uint8"):
        Projector(plan).render(np.zeros((8, 16, 3), np.float32))
    mixed = ViewPlan(views=(View("tile", 0, 0, 90, 90, 16, 16), View("tile", 0, 0, 90, 90, 8, 8)))
    with pytest.raises(ValueError, match="one size"):
        Projector(mixed)
