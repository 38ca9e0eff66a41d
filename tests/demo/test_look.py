"""Look-around views: the same camera as the image processor, clicks land where they were made."""

import numpy as np
import pytest

from panovlm.data.image import PanoramaImageProcessor
from panovlm.demo.look import Look, look_from_click, render_look, view_label
from panovlm.directions import direction_name
from panovlm.geometry import angles_to_ray, ray_to_erp


def test_a_square_look_renders_like_the_processors_tile(direction_erp_u8):
    processor = PanoramaImageProcessor(image_size=96, crop_strategy="e2p", fov_deg=90.0, normalize=False)
    tile = processor.view_plan.views[0]  # yaw 0, pitch 0
    expected = processor.views_from_array(direction_erp_u8)[0].permute(1, 2, 0).numpy() * 255.0  # (S, S, 3)
    shown = render_look(direction_erp_u8, Look(tile.yaw_deg, tile.pitch_deg, tile.hfov_deg), size_hw=(96, 96))
    assert shown.dtype == np.uint8 and shown.shape == (96, 96, 3)
    assert np.abs(shown.astype(float) - expected).max() <= 1.0


def test_the_look_centre_sees_the_direction_asked_for(direction_erp_u8, direction_codec):
    for yaw, pitch in ((0.0, 0.0), (90.0, 20.0), (-135.0, -30.0), (179.0, 60.0)):
        shown = render_look(direction_erp_u8, Look(yaw, pitch, 60.0), size_hw=(65, 97))
        seen = direction_codec.decode(shown[32:33, 48:49])[0, 0]
        assert direction_codec.angle(seen, angles_to_ray(yaw, pitch)) < 3.0, (yaw, pitch)


def test_a_click_maps_back_to_the_direction_of_that_pixel():
    width, height = 1024, 512
    for yaw, pitch in ((0.0, 0.0), (120.0, -30.0), (-170.0, 45.0)):
        col, row = ray_to_erp(angles_to_ray(yaw, pitch), width, height)
        look = look_from_click(col, row, width, height, fov_deg=75.0)
        assert look.yaw_deg == pytest.approx(yaw, abs=1e-6) and look.pitch_deg == pytest.approx(pitch, abs=1e-6)
        assert look.fov_deg == 75.0


def test_bad_looks_and_clicks_are_refused_with_the_value():
    with pytest.raises(ValueError, match="pitch_deg must be in"):
        Look(0.0, 95.0)
    with pytest.raises(ValueError, match="fov_deg must be in"):
        Look(0.0, 0.0, 170.0)
    with pytest.raises(ValueError, match="outside the 512x256 panorama"):
        look_from_click(600, 10, 512, 256, 90.0)


def test_views_are_named_by_direction():
    plan = PanoramaImageProcessor(image_size=64, crop_strategy="anyres_e2p").view_plan
    labels = [view_label(v) for v in plan.views]
    assert labels[0] == "global: the whole panorama"
    assert labels[1].startswith("tile: ") and len(set(labels)) == len(labels)
    assert [direction_name(y, 0.0) for y in (0.0, 80.0, -179.0, -100.0)] == ["front", "right", "behind", "left"]
    assert [direction_name(y, 0.0) for y in (45.0, 135.0, -135.0, -45.0)] == [
        "front-right", "behind-right", "behind-left", "front-left"]
    assert direction_name(10.0, 60.0) == "above" and direction_name(10.0, -60.0) == "below"
