"""RayPositionalEncoding: shapes, neutral start, same ray -> same features, global view, query grids."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from panovlm.geometry import angles_to_ray, correspondences
from panovlm.models.positional import RayPositionalEncoding, fourier_features, ray_features
from panovlm.plans import build_view_plan

GRID = (4, 4)


def anyres(global_mode: str = "squash"):
    return build_view_plan("anyres_e2p", image_size=(32, 32), global_mode=global_mode)


def randomised(pe: RayPositionalEncoding) -> RayPositionalEncoding:
    torch.manual_seed(0)
    with torch.no_grad():
        for p in pe.parameters():
            p.normal_()
    return pe


def test_shape_dtype_and_device() -> None:
    plan = anyres()
    out = RayPositionalEncoding(24)(plan, GRID, "cpu", torch.float64)
    assert out.shape == (9, 16, 24)
    assert out.dtype == torch.float64


def test_fresh_encoding_is_neutral_but_trainable() -> None:
    pe = RayPositionalEncoding(24)
    out = pe(anyres(), GRID, "cpu", torch.float32)
    assert torch.count_nonzero(out) == 0
    out.sum().backward()
    assert pe.proj.weight.grad is not None and pe.proj.weight.grad.abs().sum() > 0


def test_fourier_features_layout() -> None:
    ray = np.array([0.6, 0.0, 0.8])
    feats = fourier_features(ray, 2)  # [sin(x pi), sin(x 2pi), sin(y..), .., sin(z 2pi), cos(...)]
    assert feats.shape == (12,)
    np.testing.assert_allclose(feats[:2], np.sin([0.6 * np.pi, 1.2 * np.pi]))
    np.testing.assert_allclose(feats[6 + 4 : 6 + 6], np.cos([0.8 * np.pi, 1.6 * np.pi]))
    np.testing.assert_array_equal(fourier_features(np.full(3, np.nan), 2), np.zeros(12))


@pytest.mark.parametrize(("a", "b"), [(0, 1), (7, 0)])  # (7, 0) crosses the +-180 degree seam
def test_tokens_seeing_the_same_ray_get_the_same_encoding(a: int, b: int) -> None:
    # Sliding windows 45 degrees apart on a 4-wide grid of 22.5-degree cells: shared tokens coincide exactly.
    plan = build_view_plan("sliding_window", image_size=(32, 32), fov_deg=90.0, overlap_ratio=0.5)
    match = correspondences(plan, GRID, a, b)
    assert match.num_tokens == 8
    coords = np.rint(match.coords_b).astype(int)
    np.testing.assert_allclose(match.coords_b, coords, atol=1e-6)
    index_b = coords[:, 1] * GRID[1] + coords[:, 0]  # row-major flat index on B's grid
    feats = ray_features(plan, GRID, 8)
    np.testing.assert_allclose(feats[a, match.index_a], feats[b, index_b], atol=1e-4)
    out = randomised(RayPositionalEncoding(16))(plan, GRID, "cpu", torch.float32)
    rows_a, rows_b = torch.from_numpy(match.index_a.copy()), torch.from_numpy(index_b)
    torch.testing.assert_close(out[a, rows_a], out[b, rows_b], atol=1e-3, rtol=1e-4)
    unmatched = np.setdiff1d(np.arange(16), match.index_a)
    assert not np.allclose(feats[a, unmatched], feats[b, unmatched], atol=1e-2)


def test_global_view_sees_rays_and_gets_its_embedding() -> None:
    plan = anyres()
    feats = ray_features(plan, GRID, 8)
    # Squashed global view: 4 x 4 cells of 90 x 45 degrees; cell (row 1, col 2) is centred at lon 45, lat 22.5.
    expected = fourier_features(angles_to_ray(np.array(45.0), np.array(22.5)), 8)
    np.testing.assert_allclose(feats[0, 1 * 4 + 2], expected, atol=1e-5)
    pe = RayPositionalEncoding(8)
    with torch.no_grad():
        pe.global_embedding.fill_(1.0)
    out = pe(plan, GRID, "cpu", torch.float32)
    assert torch.all(out[0] == 1.0) and torch.count_nonzero(out[1:]) == 0
    assert RayPositionalEncoding(8, global_embedding=False).global_embedding is None


def test_letterbox_rows_see_nothing() -> None:
    feats = ray_features(anyres("letterbox"), GRID, 8)[0].reshape(4, 4, -1)  # (gh, gw, 6F) of the global view
    assert np.count_nonzero(feats[[0, 3]]) == 0  # the bands above and below the 2:1 image
    assert np.all(np.abs(feats[[1, 2]]).sum(-1) > 0)


def test_query_grid_uses_view_axes() -> None:
    plan = anyres()
    feats = ray_features(plan, None, 4)
    assert feats.shape == (9, 1, 24)
    assert np.count_nonzero(feats[0]) == 0  # the global view has no single direction
    for i in plan.tile_indices:
        np.testing.assert_allclose(feats[i, 0], fourier_features(np.array(plan.views[i].center_xyz), 4), atol=1e-6)
    pe = randomised(RayPositionalEncoding(8, num_frequencies=4))
    assert pe(plan, None, "cpu", torch.float32).shape == (9, 1, 8)
    expanded = pe(plan, None, "cpu", torch.float32, num_tokens=5)
    assert expanded.shape == (9, 5, 8)
    torch.testing.assert_close(expanded[:, 0], expanded[:, 4])


def test_features_are_cached_per_plan_and_grid() -> None:
    plan = anyres()
    assert ray_features(plan, GRID, 8) is ray_features(anyres(), GRID, 8)
    assert ray_features(plan, (2, 2), 8).shape == (9, 4, 48)
    with pytest.raises(ValueError, match="read-only"):
        ray_features(plan, GRID, 8)[0, 0, 0] = 1.0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="num_frequencies must be an int >= 1, got 0"):
        RayPositionalEncoding(8, num_frequencies=0)
    with pytest.raises(ValueError, match="num_tokens=5 does not match grid_hw"):
        RayPositionalEncoding(8)(anyres(), GRID, "cpu", torch.float32, num_tokens=5)


def test_random_init_encodes_directions_from_the_start_and_bad_init_is_refused():
    plan = build_view_plan("anyres_e2p", (64, 64))
    assert not RayPositionalEncoding(16)(plan, (4, 4)).any()  # zero init: a fresh encoding adds nothing
    random_pe = RayPositionalEncoding(16, init="random")(plan, (4, 4))
    assert random_pe.abs().max() > 0
    assert not torch.allclose(random_pe[1], random_pe[3])  # tiles looking elsewhere differ
    with pytest.raises(ValueError, match="pe_init"):
        RayPositionalEncoding(16, init="ones")


def test_token_norm_projector_and_config_field():
    from panovlm.models import PanoLLaVaConfig
    from panovlm.models.tiny import tiny_model

    model = tiny_model(test=True, pe_init="random", pe_token_norm=True)
    assert model.projector.token_norm is not None and model.config.pe_init == "random"
    tokens = torch.randn(2, 9, model.resampler.num_tokens, model.config.latent_dimension) * 50
    out = model.projector(tokens, model.config.view_plan(), model.resampler.output_grid)
    assert out.shape == (2, 9 * model.resampler.num_tokens, model.language_model.config.hidden_size)
    with pytest.raises(ValueError, match="pe_init"):
        PanoLLaVaConfig(pe_init="ones")
