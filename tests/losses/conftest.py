"""Shared fixtures of the loss tests."""

import numpy as np
import pytest
import torch

from panovlm.geometry import token_centers, view_pixel_to_ray


def _direction_features(plan, grid_hw=(14, 14), batch=2):
    """Features that are the unit ray of every token centre: ``(B, V, H, W, 3)``."""
    rays = []
    for view in plan.views:
        cols, rows = token_centers(view, grid_hw)
        rays.append(np.nan_to_num(view_pixel_to_ray(view, cols, rows)))  # (H, W, 3)
    grid = torch.as_tensor(np.stack(rays), dtype=torch.float32)  # (V, H, W, 3)
    return grid.expand(batch, *grid.shape).contiguous()


@pytest.fixture
def direction_features():
    """Factory: ``direction_features(plan, grid_hw=(14, 14), batch=2)`` -> ``(B, V, H, W, 3)`` token rays."""
    return _direction_features
