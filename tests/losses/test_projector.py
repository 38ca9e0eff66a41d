"""VICRegProjector: a token-wise MLP."""

import pytest
import torch
from torch import nn

from panovlm.losses.vicreg_overlap import VICRegProjector


def test_shapes_and_layers():
    proj = VICRegProjector(16, 8, hidden_dim=32, depth=3)
    assert proj(torch.randn(2, 5, 7, 16)).shape == (2, 5, 7, 8)
    kinds = [type(m) for m in proj.net]
    assert kinds == [nn.Linear, nn.LayerNorm, nn.GELU, nn.Linear, nn.LayerNorm, nn.GELU, nn.Linear]
    assert proj.net[0].out_features == 32 and proj.net[-1].in_features == 32


def test_defaults_depth_one_and_dropout():
    assert VICRegProjector(16, 8).hidden_dim == 16
    assert [type(m) for m in VICRegProjector(4, 6, depth=1).net] == [nn.Linear]
    no_ln = VICRegProjector(4, 6, use_ln=False, dropout=0.1)
    assert [type(m) for m in no_ln.net] == [nn.Linear, nn.GELU, nn.Dropout, nn.Linear]


def test_tokens_are_projected_independently():
    proj = VICRegProjector(8, 4).eval()
    x = torch.randn(3, 10, 8)
    full = proj(x)
    torch.testing.assert_close(proj(x[:, 4:5]), full[:, 4:5])


@pytest.mark.parametrize("kwargs,field", [
    ({"in_dim": 0, "out_dim": 4}, "in_dim"),
    ({"in_dim": 4, "out_dim": 4, "depth": 0}, "depth"),
    ({"in_dim": 4, "out_dim": 4, "dropout": 1.0}, "dropout"),
])
def test_bad_config_raises(kwargs, field):
    with pytest.raises(ValueError, match=field):
        VICRegProjector(**kwargs)


def test_wrong_width_raises():
    with pytest.raises(ValueError, match="last dim 8"):
        VICRegProjector(8, 4)(torch.randn(2, 3, 5))
