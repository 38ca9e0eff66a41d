import numpy as np
import pytest
import torch
from transformers.feature_extraction_utils import BatchFeature

from panovlm.data.image import PanoramaImageProcessor
from panovlm.plans import STRATEGIES


def test_seed_000_processor_snippet_runs_as_written(pano_file, capsys):
    image_path = str(pano_file)
    from panovlm.data.image import PanoramaImageProcessor

    processor = PanoramaImageProcessor(
        image_size=(224, 224),
        crop_strategy="anyres_e2p",  # 새로운 전략
        fov_deg=90.0,
        overlap_ratio=0.5,

        # AnyRes ERP 전용 파라미터
        anyres_e2p_base_size=336,           # 전역 이미지 크기
        anyres_e2p_tile_size=672,           # 타일 렌더 크기
        anyres_e2p_vit_size=224,            # 최종 ViT 입력 크기
        anyres_e2p_closed_loop=True,        # 360도 폐곡선 분할
        anyres_e2p_pitch_range=(-45.0, 45.0)  # pitch 범위
    )

    # 이미지 처리
    views_tensor = processor(image_path)  # [V, 3, H, W]
    # or
    views_tensor, metadata = processor(image_path, return_metadata=True)

    # 타일 메타데이터 접근
    tile_metas = processor.tile_metas
    for meta in tile_metas:
        print(f"Tile {meta['tile_id']}: yaw={meta['yaw_deg']:.1f}°, pitch={meta['pitch_deg']:.1f}°")

    assert views_tensor.shape == (9, 3, 224, 224)
    assert capsys.readouterr().out.splitlines()[1] == "Tile 1: yaw=45.0°, pitch=0.0°"
    assert metadata["source"] == image_path and metadata["erp_size"] == (256, 128)
    assert metadata["view_plan"] is processor.view_plan and len(metadata["views"]) == 9


@pytest.mark.parametrize("strategy, views", [("e2p", 8), ("anyres_e2p", 9), ("cubemap", 4),
                                             ("sliding_window", 8), ("resize", 1)])
def test_shapes_and_tile_metas_for_every_strategy(pano_file, strategy, views):
    processor = PanoramaImageProcessor(image_size=(32, 48), crop_strategy=strategy)
    out = processor(pano_file)
    assert out.shape == (views, 3, 32, 48) and out.dtype == torch.float32 and out.is_contiguous()
    assert processor.num_views == views
    metas = processor.tile_metas
    assert [m["view_index"] for m in metas] == list(processor.view_plan.tile_indices)
    assert [m["tile_id"] for m in metas] == list(range(len(metas)))
    for m in metas:
        assert {"yaw_deg", "pitch_deg", "hfov_deg", "vfov_deg", "center_xyz"} <= set(m)


def test_default_strategy_is_the_seed_default():
    assert PanoramaImageProcessor().crop_strategy == "e2p"
    assert set(STRATEGIES) >= {"e2p", "anyres_e2p"}


def test_normalisation():
    white = np.full((64, 128, 3), 255, np.uint8)
    black = np.zeros((64, 128, 3), np.uint8)
    p = PanoramaImageProcessor(image_size=16, crop_strategy="anyres_e2p")
    assert torch.allclose(p(white), torch.ones(9, 3, 16, 16), atol=1e-6)
    assert torch.allclose(p(black), -torch.ones(9, 3, 16, 16), atol=1e-6)
    raw = PanoramaImageProcessor(image_size=16, normalize=False)
    assert torch.allclose(raw(white), torch.ones(8, 3, 16, 16), atol=1e-6)
    clip = PanoramaImageProcessor(image_size=16, image_mean=(0.48145466, 0.4578275, 0.40821073),
                                  image_std=(0.26862954, 0.26130258, 0.27577711))
    grey = clip(np.full((64, 128, 3), 128, np.uint8))
    assert grey[0, 0, 0, 0].item() == pytest.approx((128 / 255 - 0.48145466) / 0.26862954, abs=1e-5)
    assert grey[0, 2, 0, 0].item() == pytest.approx((128 / 255 - 0.40821073) / 0.27577711, abs=1e-5)


def test_channels_stay_rgb(pano_file):
    red = np.zeros((64, 128, 3), np.uint8)
    red[..., 0] = 255
    out = PanoramaImageProcessor(image_size=16, normalize=False)(red)
    assert (out[:, 0] == 1).all() and (out[:, 1:] == 0).all()


def test_preprocess_returns_batch_feature(pano_file):
    p = PanoramaImageProcessor(image_size=16, crop_strategy="anyres_e2p")
    batch = p.preprocess([pano_file, pano_file], return_tensors="pt")
    assert isinstance(batch, BatchFeature) and batch["pixel_values"].shape == (2, 9, 3, 16, 16)
    assert p([pano_file], return_tensors="pt")["pixel_values"].shape == (1, 9, 3, 16, 16)
    assert torch.equal(batch["pixel_values"][0], p(pano_file))


def test_save_and_load_round_trip(tmp_path, pano_file):
    p = PanoramaImageProcessor(image_size=(32, 32), crop_strategy="anyres_e2p", fov_deg=80.0, overlap_ratio=0.25,
                               anyres_e2p_pitch_range=(-60.0, 60.0), global_mode="letterbox", antialias=False)
    p.save_pretrained(tmp_path)
    q = PanoramaImageProcessor.from_pretrained(tmp_path)
    assert q.to_dict() == p.to_dict() and q.view_plan == p.view_plan
    assert torch.equal(q(pano_file), p(pano_file))
    assert q.anyres_e2p_pitch_range == [-60.0, 60.0] and q.image_size == [32, 32]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"crop_strategy": "anyres"}, r"crop_strategy must be one of \['e2p', 'anyres_e2p'"),
        ({"fov_deg": 180.0}, r"fov_deg must be in \(0, 180\), got 180.0"),
        ({"overlap_ratio": -0.1}, r"overlap_ratio must be in \[0, 1\)"),
        ({"image_size": (224,)}, "image_size"),
        ({"image_std": (0.5, 0.0, 0.5)}, "image_std"),
        ({"anyres_e2p_pitch_range": (10.0, -10.0)}, "anyres_e2p_pitch_range"),
        ({"anyres_e2p_vit_size": 0}, "anyres_e2p_vit_size"),
        ({"global_mode": "pad"}, "global_mode"),
        ({"max_pixels": -1}, "max_pixels"),
    ],
)
def test_bad_constructor_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        PanoramaImageProcessor(**kwargs)


def test_bad_file_error_names_it(tmp_path):
    bad = tmp_path / "x.jpg"
    bad.write_text("not an image")
    with pytest.raises(ValueError, match="x.jpg"):
        PanoramaImageProcessor()(bad)
