"""Each visual token's ray equals the direction its pixels show, through the family's real pipeline.

The family's image processor, the vision tower's token order (Qwen2.5-VL's window reordering and its
reversal; InternVL's pixel shuffle) and the hook after the merger / projector all run as in
training. Only the learned layers are replaced by probes that carry the mean pixel colour of each
token through (mean = std = 0.5 turns a direction-encoding pixel into its ray), so the hooked
token tells which direction it saw.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from panovlm.adapt.views import token_rays


class _QwenPatches(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width
        self.anchor = nn.Parameter(torch.zeros(1))  # the tower reads its dtype from its parameters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rgb = x.reshape(x.shape[0], 3, -1).mean(-1)  # (N, 3): patch pixels are laid out channel first
        return nn.functional.pad(rgb, (0, self.width - 3))  # (N, D)


class _MeanOfFour(nn.Module):
    """Qwen merger probe: the 4 consecutive patches of a merge unit -> their mean."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, 4, x.shape[-1]).mean(1)  # (N / 4, D)


class _InternPatches(nn.Module):
    def __init__(self, width: int, patch: int) -> None:
        super().__init__()
        self.width, self.patch = width, patch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rgb = nn.functional.avg_pool2d(x, self.patch).flatten(2).transpose(1, 2)  # (N, h * w, 3)
        return nn.functional.pad(rgb, (0, self.width - 3))  # (N, h * w, D)


class _MeanOfChunks(nn.Module):
    """InternVL projector probe: pixel shuffle stacks 4 patches along channels -> their mean."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, s, c = x.shape
        return x.reshape(n, s, 4, c // 4).mean(2)  # (N, S, D)


def _install_probes(adapter) -> None:
    inner = adapter.base.model
    if adapter.family.name == "qwen2_5_vl":
        visual = inner.visual
        visual.patch_embed = _QwenPatches(visual.config.hidden_size)
        visual.blocks = nn.ModuleList()
        visual.merger = _MeanOfFour()
        return
    tower = inner.vision_tower
    tower.embeddings.patch_embeddings = _InternPatches(tower.config.hidden_size, tower.config.patch_size[0])
    with torch.no_grad():
        tower.embeddings.position_embeddings.zero_()
        tower.embeddings.cls_token.zero_()
    tower.encoder.layer = nn.ModuleList()
    tower.layernorm = nn.Identity()
    inner.multi_modal_projector = _MeanOfChunks()
    adapter.tap.remove()
    adapter.tap.__init__(adapter.base, adapter.family)  # the hook follows the replaced projector


@pytest.mark.parametrize("mode", ["views", "native"])
def test_token_rays_match_pixels(base: str, mode: str, direction_codec, make_adapter) -> None:
    adapter = make_adapter(base, view_size=112, adapt_mode=mode)
    _install_probes(adapter)
    batch = adapter.processor.generation_batch([[{"role": "user", "content": "q"}]], [direction_codec.erp()])
    adapter.tap.active = True
    with torch.no_grad():
        adapter.base(**batch)
    tokens = adapter.tap.pop()[:, :3].double().numpy()  # (V * h * w, 3)
    seen = tokens / np.linalg.norm(tokens, axis=-1, keepdims=True)
    start = 0
    for view, rays in zip(adapter.plan.views, token_rays(adapter.plan, adapter.family), strict=True):
        h, w, _ = rays.shape
        error = direction_codec.angle(seen[start : start + h * w], rays.reshape(-1, 3))
        start += h * w
        token_deg = view.hfov_deg / w
        assert error.max() < 0.5 * token_deg, (view.kind, view.yaw_deg, error.max(), token_deg)
        # The check discriminates: the same tokens read in column-mirrored order miss the bound.
        mirrored = direction_codec.angle(seen[start - h * w : start], rays[:, ::-1].reshape(-1, 3))
        assert mirrored.max() > 0.5 * token_deg
    assert start == len(seen)
