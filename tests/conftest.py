"""Shared fixtures: synthetic panoramas whose pixels encode their own direction, and the real photos."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from panovlm.geometry import angles_to_ray

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
# Three small CC0 panoramas shipped with the repository (licences in tests/data/panoramas/SOURCES.md).
PANORAMA_DIR = REPO_ROOT / "tests" / "data" / "panoramas"


def direction_erp(width: int = 512, height: int = 256, dtype: type = np.uint8) -> np.ndarray:
    """ERP ``(H, W, 3)`` whose pixel centres store their own unit ray, mapped to [0, 255] (or [0, 1] float).

    Ray components are continuous across the seam and the poles, so bilinear sampling of this
    image gives (after normalisation) the ray of the sampled point.
    """
    lon = (np.arange(width) + 0.5) / width * 360.0 - 180.0
    lat = 90.0 - (np.arange(height) + 0.5) / height * 180.0
    lon, lat = np.meshgrid(lon, lat)  # (H, W) each
    rays = angles_to_ray(lon, lat)  # (H, W, 3)
    unit = (rays + 1.0) / 2.0
    if dtype == np.uint8:
        return np.rint(unit * 255.0).astype(np.uint8)
    return unit.astype(dtype)


def decode_direction(pixels: np.ndarray) -> np.ndarray:
    """Inverse of :func:`direction_erp`: pixels ``(..., 3)`` (uint8 or float) -> unit rays ``(..., 3)``."""
    unit = pixels.astype(np.float64) / (255.0 if pixels.dtype == np.uint8 else 1.0)
    rays = unit * 2.0 - 1.0
    return rays / np.linalg.norm(rays, axis=-1, keepdims=True)


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.degrees(np.arccos(np.clip((a * b).sum(-1), -1.0, 1.0)))


@pytest.fixture(scope="session")
def direction_erp_u8() -> np.ndarray:
    return direction_erp()


@pytest.fixture(scope="session")
def real_panoramas() -> list[Path]:
    paths = sorted(PANORAMA_DIR.glob("*.jpg"))
    assert len(paths) >= 3, f"the shipped test panoramas are missing from {PANORAMA_DIR}"
    return paths


@pytest.fixture()
def pano_file(tmp_path: Path) -> Path:
    """A small 2:1 JPEG panorama with structure (gradients + shapes), written to a temp dir."""
    from PIL import Image

    h, w = 128, 256
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 255 // w, yy * 255 // h, ((xx // 16 + yy // 16) % 2) * 200], axis=-1).astype(np.uint8)
    path = tmp_path / "pano.jpg"
    Image.fromarray(rgb).save(path, quality=95)
    return path


@pytest.fixture(scope="session")
def direction_codec():
    """The helper functions, for tests in sub-folders (conftest is not importable from there)."""
    from types import SimpleNamespace

    return SimpleNamespace(erp=direction_erp, decode=decode_direction, angle=angle_deg)


@pytest.fixture(scope="session")
def adapted_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen2.5-VL adapter (model.kind: adapt) trained 2 steps on PanoShapes, a checkpoint every step.

    Shared by the adapter's export tests (tests/adapt) and the push tests (tests/hub); ``RUN/data`` holds the data.
    """
    from panovlm.config.run_config import load_run_config
    from panovlm.data.synth import generate_panoshapes
    from panovlm.training.runner import run_training

    root = tmp_path_factory.mktemp("adapted_run")
    generate_panoshapes(root / "data", train=4, val=2, test=1, size=(256, 128), backgrounds="plain")
    config = load_run_config(None, [
        "model.kind=adapt", "model.base=tiny-qwen2_5_vl", "model.view_size=56", f"data.data_dir={root / 'data'}",
        "data.num_workers=0", "stages.finetune.batch_size=2", "stages.finetune.max_steps=2",
        "checkpoint.every_n_steps=1", "logging.tensorboard=false", "trainer.progress_bar=false"])
    run_training(config, "finetune", root / "run")
    return root
