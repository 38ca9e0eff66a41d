"""The visualiser (seed 001): similarity metrics, PCA colouring, ERP painting, loading and the CLI."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image

from panovlm.cli import main
from panovlm.data.io import ImageLoadError
from panovlm.evaluation.dino import DinoVisualizer
from panovlm.evaluation.dino_loading import CheckpointError, checkpoint_name, load_for_visualization
from panovlm.evaluation.dino_render import paint_erp
from panovlm.evaluation.pca import fit_basis, fit_shared_bases
from panovlm.evaluation.similarity import (
    hungarian_cosine,
    linear_cka,
    neighbour_pairs,
    pair_similarity,
    position_cosine,
    ssim,
)
from panovlm.geometry import angles_to_ray, token_centers, view_pixel_to_ray
from panovlm.plans import build_view_plan

# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


def test_linear_cka_is_one_on_itself_and_invariant_to_rotation_and_scale():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 16, generator=gen)
    q, _ = torch.linalg.qr(torch.randn(16, 16, generator=gen))  # orthogonal
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-9)
    assert linear_cka(x, x @ q) == pytest.approx(1.0, abs=1e-9)
    assert linear_cka(x, 7.5 * x) == pytest.approx(1.0, abs=1e-9)
    assert linear_cka(x, 0.3 * x @ q) == pytest.approx(1.0, abs=1e-9)
    assert linear_cka(x, torch.randn(64, 16, generator=gen)) < 0.5  # unrelated features score low


def test_hungarian_cosine_is_at_least_position_wise_and_undoes_a_permutation():
    gen = torch.Generator().manual_seed(1)
    for _ in range(5):
        x, y = torch.randn(20, 8, generator=gen), torch.randn(20, 8, generator=gen)
        assert hungarian_cosine(x, y) >= position_cosine(x, y) - 1e-12
    x = torch.randn(30, 8, generator=gen)
    shuffled = x[torch.randperm(30, generator=gen)]
    assert position_cosine(x, shuffled) < 0.5
    assert hungarian_cosine(x, shuffled) == pytest.approx(1.0, abs=1e-9)


def test_ssim_of_an_image_with_itself_is_one():
    rng = np.random.default_rng(0)
    a = rng.random((32, 32, 3)).astype(np.float32)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    assert ssim(a, rng.random((32, 32, 3)).astype(np.float32)) < 0.2


def _ray_features(plan, grid):
    """Features that are a function of the token centre's ray alone: ``(V, h, w, 6)``."""
    out = []
    for view in plan.views:
        cols, rows = token_centers(view, grid)
        rays = view_pixel_to_ray(view, cols, rows)  # (h, w, 3)
        out.append(np.concatenate([rays, 0.5 * np.sin(3.0 * rays)], axis=-1))
    return torch.from_numpy(np.stack(out)).float()


def test_ray_function_features_match_by_ray_not_by_position():
    plan = build_view_plan("e2p", (64, 64), fov_deg=90.0, overlap_ratio=0.5)
    features = _ray_features(plan, (8, 8))
    pairs = neighbour_pairs(plan)
    assert len(pairs) == len(plan)  # a closed ring
    scores = pair_similarity(features, plan, pairs)
    for s in scores:
        assert s.ray_tokens >= 8
        assert s.values["token_cosine_ray"] > 0.99
        assert s.values["token_cosine"] < 0.9
        assert s.values["hungarian_cosine"] >= s.values["token_cosine"]


# ---------------------------------------------------------------------------------------------
# PCA colouring and ERP painting
# ---------------------------------------------------------------------------------------------


def test_threshold_removal_blacks_out_the_larger_cluster():
    gen = torch.Generator().manual_seed(2)
    background = torch.randn(90, 12, generator=gen) * 0.1
    foreground = torch.randn(10, 12, generator=gen) * 0.3 + 4.0
    basis = fit_basis([background, foreground], bg_removal="threshold")
    assert not basis.keep_mask(background).any()
    assert basis.keep_mask(foreground).all()
    assert torch.all(basis.colours(background) == 0)
    assert basis.colours(foreground).sum() > 0


def test_outlier_removal_keeps_an_extreme_token_out_of_the_fit():
    gen = torch.Generator().manual_seed(3)
    tokens = torch.randn(200, 12, generator=gen)
    tokens[0] = 100.0  # an artifact token
    plain = fit_basis([tokens], bg_removal="none")
    robust = fit_basis([tokens], bg_removal="outlier_removal")
    assert not bool(robust.keep_mask(tokens)[0]) and bool(robust.keep_mask(tokens)[1:].all())
    direction = torch.nn.functional.normalize(torch.ones(12), dim=0).double()
    assert abs(float(plain.components[0] @ direction)) > 0.99  # the outlier owns the first component
    assert abs(float(robust.components[0] @ direction)) < 0.9


def test_remove_first_pc_drops_the_dominant_direction():
    gen = torch.Generator().manual_seed(4)
    tokens = torch.randn(300, 10, generator=gen)
    tokens[:, 0] *= 20.0  # the dominant direction
    basis = fit_basis([tokens], bg_removal="remove_first_pc")
    assert torch.all(basis.components[:, 0].abs() < 0.2)


def test_shared_bases_ignore_the_offset_between_two_models():
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(100, 12, generator=gen)
    shifted = x + 10.0  # a second model whose tokens differ from the first by a constant offset
    first, second = fit_shared_bases([[x], [shifted]], bg_removal="none")
    assert torch.allclose(first.components, second.components)
    assert torch.allclose(first.colours(x), second.colours(shifted), atol=1e-5)  # float32 rounding of x + 10
    joint = fit_basis([x, shifted], bg_removal="none")  # without per-model centring the offset is component 1
    offset = torch.nn.functional.normalize(torch.ones(12), dim=0).double()
    assert abs(float(joint.components[0] @ offset)) > 0.99


def test_one_basis_across_token_sets_needs_one_width():
    with pytest.raises(ValueError, match="one width"):
        fit_basis([torch.randn(20, 8), torch.randn(20, 6)])


def test_painted_erp_colours_come_from_the_tokens_that_see_each_pixel():
    plan = build_view_plan("e2p", (64, 64), fov_deg=90.0, overlap_ratio=0.5)
    grid = (16, 16)
    colours = (_ray_features(plan, grid)[..., :3].numpy() + 1.0) / 2.0  # each token coloured by its own ray
    erp = paint_erp(colours, plan, (64, 128))  # (64, 128, 3)
    lon = (np.arange(128) + 0.5) / 128 * 360.0 - 180.0
    lat = 90.0 - (np.arange(64) + 0.5) / 64 * 180.0
    truth = angles_to_ray(*np.meshgrid(lon, lat))  # (64, 128, 3)
    painted = erp.sum(-1) > 0
    assert painted[32].all() and not painted[0].any()  # the horizon is seen by the ring, the pole is not
    decoded = erp[painted] * 2.0 - 1.0
    decoded /= np.linalg.norm(decoded, axis=-1, keepdims=True)
    angle = np.degrees(np.arccos(np.clip((decoded * truth[painted]).sum(-1), -1, 1)))
    assert np.median(angle) < 90.0 / grid[0]  # within a token cell


# ---------------------------------------------------------------------------------------------
# Loading, bad input, the CLI
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """The test preset saved as an HF model folder, and a Lightning-style checkpoint of it in a run layout."""
    from panovlm.models.tiny import tiny_model

    model = tiny_model(test=True)
    root = tmp_path_factory.mktemp("viz")
    folder = root / "run" / "vision" / "model_final"
    model.save_pretrained(folder)
    ckpt = root / "run" / "vision" / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir(parents=True)
    torch.save({"epoch": 0, "state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}}, ckpt)
    return folder, ckpt


@pytest.fixture()
def pano(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "pano.png"
    Image.fromarray(rng.integers(0, 255, (64, 128, 3), dtype=np.uint8)).save(path)
    return path


def test_checkpoint_and_folder_load_the_same_weights(tiny_dir, pano):
    folder, ckpt = tiny_dir
    a = DinoVisualizer.from_checkpoint(folder, device="cpu")
    b = DinoVisualizer.from_checkpoint(ckpt, device="cpu")  # config found beside it: model_final/config.json
    fa, fb = a.extract(pano), b.extract(pano)
    for level in fa.tokens:
        assert torch.equal(fa.tokens[level], fb.tokens[level])
    assert fa.tokens["vision_encoder"].shape == (9, 4, 4, 32)
    assert checkpoint_name(ckpt) == "run_vision_last" and checkpoint_name(folder) == "run_vision"


def test_a_vision_stage_checkpoint_without_the_language_model_loads(tiny_dir, tmp_path):
    folder, ckpt = tiny_dir
    state = torch.load(ckpt, weights_only=True)["state_dict"]
    vision_only = {k: v for k, v in state.items() if not k.startswith("model.language_model.")}
    path = tmp_path / "vision_only.ckpt"
    torch.save({"state_dict": vision_only}, path)
    loaded = load_for_visualization(path, config=folder, device="cpu")
    assert loaded.not_loaded and all(k.startswith("language_model.") for k in loaded.not_loaded)


def _one_line_error(call, *needles):
    with pytest.raises((CheckpointError, ImageLoadError)) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert str(needle) in message
    return message


def test_bad_checkpoints_are_one_line_errors_naming_the_file(tiny_dir, tmp_path):
    folder, _ = tiny_dir
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint")
    _one_line_error(lambda: load_for_visualization(text, device="cpu"), text, "not a PyTorch / Lightning checkpoint")
    foreign = tmp_path / "resnet.ckpt"
    torch.save({"state_dict": {"conv1.weight": torch.zeros(2, 3, 3, 3)}}, foreign)
    _one_line_error(lambda: load_for_visualization(foreign, device="cpu"), foreign, "expected")
    other = tmp_path / "other_module.ckpt"
    torch.save({"state_dict": {"model.conv1.weight": torch.zeros(2, 3, 3, 3)}}, other)
    _one_line_error(lambda: load_for_visualization(other, device="cpu"), other, "another architecture")
    from panovlm.models.tiny import tiny_model

    wider = tmp_path / "wider.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in tiny_model(test=True, latent_dimension=48).state_dict()
                               .items()}}, wider)
    _one_line_error(lambda: load_for_visualization(wider, config=folder, device="cpu"), wider, "another architecture",
                    "shape")
    _one_line_error(lambda: load_for_visualization(wider, device="cpu"), wider, "no config", "--config")


def test_bad_images_and_untrained_settings_are_one_line_errors(tiny_dir, tmp_path):
    folder, _ = tiny_dir
    square = tmp_path / "square.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(square)
    viz = DinoVisualizer.from_checkpoint(folder, device="cpu")
    _one_line_error(lambda: viz.extract(square), square, "not 2:1")
    _one_line_error(lambda: DinoVisualizer.from_checkpoint(folder, device="cpu", crop_strategy="cubemap"),
                    "'cubemap'", "'anyres_e2p'")
    _one_line_error(lambda: DinoVisualizer.from_checkpoint(folder, device="cpu", image_size=224), "224", "64x64")
    allowed = DinoVisualizer.from_checkpoint(folder, device="cpu", crop_strategy="e2p", allow_untrained_strategy=True)
    assert allowed.plan.strategy == "e2p"


def test_cli_writes_the_seed_outputs(tiny_dir, pano, tmp_path):
    folder, ckpt = tiny_dir
    out = tmp_path / "out"
    assert main(["visualize", "--checkpoint", str(ckpt), "--image", str(pano), "--output_dir", str(out),
                 "--device", "cpu", "--bg_removal", "none"]) == 0
    name = "run_vision_last"
    for stem in ("vision_encoder_pca", "resampled_features_pca", "original_views", "erp_pca"):
        assert Image.open(out / f"{stem}_{name}.png").size[0] > 64
    text = (out / f"similarity_analysis_{name}.txt").read_text()
    assert "View 1 (yaw +0, pitch +0) <-> View 2 (yaw +45, pitch +0)" in text
    assert "mean:" in text and "±" in text and "lpips:" in text
    report = json.loads((out / f"similarity_{name}.json").read_text())
    summary = report["levels"]["vision_encoder"]["summary"]
    assert summary["token_cosine"]["count"] == 8 and summary["ssim"]["count"] == 8
    assert summary["lpips"] is None or summary["lpips"]["count"] == 8  # computed, or said why not: never invented


def test_cli_compare_and_several_images(tiny_dir, pano, tmp_path, caplog):
    folder, ckpt = tiny_dir
    second = tmp_path / "pano2.png"
    Image.fromarray(np.full((64, 128, 3), 90, np.uint8)).save(second)
    out = tmp_path / "cmp"
    assert main(["visualize", "--checkpoint", str(folder), "--compare", str(ckpt), "--image", str(pano), str(second),
                 "--output_dir", str(out), "--device", "cpu"]) == 0
    tag = "run_vision_vs_run_vision_last"
    assert (out / f"summary_{tag}.md").read_text().count("| pano") == 4  # 2 images x 2 models
    compare = json.loads((out / "pano" / f"similarity_compare_{tag}.json").read_text())
    # the same weights on one basis: no difference
    assert compare["deltas"]["vision_encoder"]["token_cosine"]["delta"] == pytest.approx(0.0, abs=1e-9)
    assert (out / "pano2" / f"compare_vision_encoder_pca_{tag}.png").is_file()
    with caplog.at_level(logging.ERROR):
        assert main(["visualize", "--checkpoint", str(tmp_path / "missing.ckpt"), "--image", str(pano)]) == 2
    assert "missing.ckpt: checkpoint not found" in caplog.text


def test_a_query_resampler_has_no_ray_metrics_and_says_why(pano, tmp_path):
    from panovlm.models.processing_panollava import image_processor_for
    from panovlm.models.tiny import tiny_model

    model = tiny_model(test=True, resampler_type="qformer", resampler_num_queries=6).eval()
    viz = DinoVisualizer(model, image_processor_for(model.config), name="q")
    report = viz.visualize(pano, tmp_path)
    summary = report["levels"]["resampled_features"]["summary"]
    assert summary["token_cosine"]["count"] == 8
    assert summary["token_cosine_ray"] is None and summary["ssim"] is None
    text = (tmp_path / "similarity_analysis_q.txt").read_text()
    assert "token_cosine_ray: not computed (needs a token grid)" in text
    assert report["levels"]["resampled_features"]["grid"] is None


def test_cls_tokens_enter_the_pca_fit_only_when_kept(pano):
    from panovlm.models.modeling_panollava import PanoLLaVaForConditionalGeneration
    from panovlm.models.processing_panollava import image_processor_for
    from panovlm.models.tiny import TEST_SETTINGS, tiny_specs, tiny_tokenizer

    _, text = tiny_specs(test=True)
    dino = {"model_type": "dinov2", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
            "num_attention_heads": 2, "patch_size": 16, "image_size": 64}
    torch.manual_seed(0)
    model = PanoLLaVaForConditionalGeneration.from_components(dino, text, tiny_tokenizer(), **TEST_SETTINGS).eval()
    dropped = DinoVisualizer(model, image_processor_for(model.config), bg_removal="none")
    kept = DinoVisualizer(model, image_processor_for(model.config), bg_removal="none", keep_cls_token=True)
    features = dropped.extract(pano)
    assert features.prefix.shape == (9, 1, 32) and features.tokens["vision_encoder"].shape == (9, 4, 4, 32)
    a, b = dropped.fit([features])[0]["vision_encoder"], kept.fit([features])[0]["vision_encoder"]
    assert not torch.allclose(a.mean, b.mean)  # the 9 CLS tokens moved the fit
    flat = features.tokens["vision_encoder"].reshape(-1, 32)
    expected = torch.cat([flat, features.prefix.reshape(-1, 32)]).double().mean(0)
    assert torch.allclose(b.mean, expected)
