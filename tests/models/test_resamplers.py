"""Resamplers: shapes and gradients through each, registry errors, output_grid semantics, the scan."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from panovlm.models.resamplers import RESAMPLERS, build_resampler, resampler_options
from panovlm.models.resamplers.bimamba import MambaMixer, mamba_kernel, selective_scan

GRID = (4, 4)
SMALL = {"mlp": {}, "qformer": {"num_queries": 5, "num_heads": 4}, "perceiver": {"num_latents": 6, "num_heads": 4},
         "bimamba": {"hidden_dim": 16, "d_state": 4}}
EXPECTED = {"mlp": (16, GRID), "qformer": (5, None), "perceiver": (6, None), "bimamba": (16, GRID)}


@pytest.mark.parametrize("name", sorted(RESAMPLERS))
def test_shapes_grid_and_gradients(name: str) -> None:
    torch.manual_seed(0)
    resampler = build_resampler(name, 24, 40, GRID, **SMALL[name])
    x = torch.randn(3, 16, 24, requires_grad=True)
    y = resampler(x)
    tokens, grid = EXPECTED[name]
    assert y.shape == (3, tokens, 40)
    assert resampler.output_grid == grid
    assert resampler.num_tokens == tokens
    y.square().mean().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    missing = [n for n, p in resampler.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"parameters without a finite gradient: {missing}"


def test_every_registered_resampler_is_tested() -> None:
    assert set(RESAMPLERS) == set(SMALL) == {"mlp", "qformer", "perceiver", "bimamba"}


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"'conv'.*\['bimamba', 'mlp', 'perceiver', 'qformer'\]"):
        build_resampler("conv", 8, 8, GRID)


def test_unknown_option_lists_valid_options() -> None:
    with pytest.raises(ValueError, match=r"\['num_queries'\].*'mlp'.*\['depth', 'dropout', 'hidden_dim', 'pool', 'pool_mode', 'use_ln'\]"):
        build_resampler("mlp", 8, 8, GRID, num_queries=4)


def test_alias_and_defaults() -> None:
    assert type(build_resampler("bi_mamba", 8, 8, GRID, d_state=2)).__name__ == "BiMambaResampler"
    assert resampler_options("qformer") == {"num_queries": 64, "num_layers": 2, "num_heads": 8}
    assert resampler_options("perceiver") == {"num_latents": 64, "depth": 2, "num_heads": 8, "ff_mult": 4}


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("mlp", {"depth": 0}, "depth must be an int >= 1, got 0"),
        ("mlp", {"dropout": 1.5}, r"dropout must be in \[0, 1\), got 1.5"),
        ("qformer", {"num_heads": 5}, r"num_heads must divide in_dim=8, got 5; valid: \[1, 2, 4, 8\]"),
        ("perceiver", {"num_latents": 0}, "num_latents must be an int >= 1"),
        ("bimamba", {"expand": 0}, "expand must be"),
    ],
)
def test_bad_option_values_name_the_field(name: str, options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_resampler(name, 8, 8, GRID, **options)


def test_wrong_token_count_is_refused() -> None:
    resampler = build_resampler("mlp", 8, 8, GRID)
    with pytest.raises(ValueError, match=r"\(N, 16, 8\) for grid \(4, 4\), got \(2, 15, 8\)"):
        resampler(torch.randn(2, 15, 8))


@pytest.mark.parametrize("mode", ["avg", "max"])
def test_mlp_pool_reduces_grid_cells(mode: str) -> None:
    torch.manual_seed(0)
    resampler = build_resampler("mlp", 4, 6, (4, 6), depth=1, pool=2, pool_mode=mode)
    assert resampler.output_grid == (2, 3) and resampler.num_tokens == 6
    x = torch.randn(2, 24, 4)
    grid = x.view(2, 4, 6, 4)  # (N, gh, gw, D)
    block = grid[:, 2:4, 2:4].flatten(1, 2)  # (N, 4, D): row 1, column 1 of the pooled grid
    cell = block.mean(dim=1) if mode == "avg" else block.amax(dim=1)
    expected = resampler.mlp(cell)  # depth 1 = one Linear
    torch.testing.assert_close(resampler(x)[:, 1 * 3 + 1], expected)


def test_mlp_pool_mode_is_checked() -> None:
    with pytest.raises(ValueError, match=r"pool_mode must be one of \['avg', 'max'\], got 'mean'"):
        build_resampler("mlp", 8, 8, GRID, pool=2, pool_mode="mean")


def test_mlp_pool_must_divide_grid() -> None:
    with pytest.raises(ValueError, match=r"pool must divide the token grid \(6, 4\), got 4; valid: \[1, 2\]"):
        build_resampler("mlp", 8, 8, (6, 4), pool=4)


def test_mlp_structure() -> None:
    resampler = build_resampler("mlp", 8, 12, GRID, depth=3)
    linears = [m for m in resampler.mlp if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(8, 12), (12, 12), (12, 12)]
    assert sum(isinstance(m, torch.nn.LayerNorm) for m in resampler.mlp) == 2


@pytest.mark.parametrize("name", ["qformer", "perceiver"])
def test_query_resamplers_ignore_token_order(name: str) -> None:
    torch.manual_seed(0)
    resampler = build_resampler(name, 8, 8, GRID, **SMALL[name] | {"num_heads": 2}).eval()
    x = torch.randn(2, 16, 8)
    perm = torch.randperm(16)
    torch.testing.assert_close(resampler(x), resampler(x[:, perm]), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["qformer", "perceiver"])
def test_query_resamplers_start_with_distinct_outputs(name: str) -> None:
    """A fresh resampler's queries must not leave it as one token repeated: on a view whose tokens are all
    equal only the learned queries tell the outputs apart (at a 0.02 init their |cos| was 0.997)."""
    torch.manual_seed(0)
    resampler = build_resampler(name, 24, 40, GRID, **SMALL[name])
    x = torch.randn(1, 1, 24).expand(3, 16, 24)  # (N, S, Din): one token repeated
    out = F.normalize(resampler(x), dim=-1)  # (N, Q, Dout)
    cos = (out @ out.transpose(1, 2)).abs()  # (N, Q, Q)
    off_diagonal = cos[:, ~torch.eye(cos.shape[1], dtype=torch.bool)]
    assert off_diagonal.mean() < 0.5


def test_mamba_mixer_is_causal_and_bimamba_sees_both_ways() -> None:
    torch.manual_seed(0)
    x = torch.randn(1, 16, 8)
    later = x.clone()
    later[0, 15] += 10.0  # change only the last token
    mixer = MambaMixer(8, d_state=4)
    with torch.no_grad():
        assert torch.equal(mixer(later)[0, :15], mixer(x)[0, :15])  # a one-way scan cannot see ahead
        resampler = build_resampler("bimamba", 8, 8, GRID, hidden_dim=8, d_state=4, num_layers=1).eval()
        assert (resampler(later)[0, 0] - resampler(x)[0, 0]).abs().max() > 1e-6  # the reversed scan does


def _scan_closed_form(u, delta, A, B, C, D, z, bias):
    """h_t = sum_{s<=t} prod_{s<r<=t} exp(d_r A) d_s B_s u_s, written without a recurrence."""
    d = F.softplus(delta + bias[:, None])  # (N, Di, S)
    seq = u.shape[-1]
    y = torch.zeros_like(u)
    for t in range(seq):
        for s in range(t + 1):
            decay = torch.exp(d[..., s + 1 : t + 1].sum(-1, keepdim=True) * A)  # (N, Di, Ns)
            contrib = decay * (d[..., s : s + 1] * u[..., s : s + 1]) * B[:, None, :, s]  # (N, Di, Ns)
            y[..., t] += (contrib * C[:, None, :, t]).sum(-1)
    return (y + u * D[:, None]) * F.silu(z)


def test_selective_scan_matches_closed_form() -> None:
    torch.manual_seed(0)
    n, di, ns, s = 2, 3, 4, 6
    args = (torch.randn(n, di, s), torch.randn(n, di, s), -torch.rand(di, ns) * 3, torch.randn(n, ns, s),
            torch.randn(n, ns, s), torch.randn(di), torch.randn(n, di, s), torch.randn(di))
    torch.testing.assert_close(selective_scan(*args), _scan_closed_form(*args), atol=1e-5, rtol=1e-5)


@pytest.mark.skipif(mamba_kernel() is None or not torch.cuda.is_available(), reason="needs mamba_ssm and CUDA")
def test_mamba_kernel_parity() -> None:
    from mamba_ssm import Mamba

    torch.manual_seed(0)
    mixer = MambaMixer(32, d_state=8, d_conv=4, expand=2).cuda()
    reference = Mamba(32, d_state=8, d_conv=4, expand=2).cuda()
    reference.load_state_dict(mixer.state_dict())  # same parameter names and shapes
    h = torch.randn(2, 49, 32, device="cuda")
    with torch.no_grad():
        kernel_out = mixer(h)
        mixer.use_kernel = False
        torch_out = mixer(h)
        torch.testing.assert_close(kernel_out, torch_out, atol=1e-4, rtol=1e-3)
        torch.testing.assert_close(reference(h), torch_out, atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize(("name", "grid", "options"), [
    ("mlp", (4, 4), {}), ("mlp", (6, 4), {"pool": 2}), ("mlp", (8, 8), {"pool": 4, "pool_mode": "max"}),
    ("qformer", (4, 4), {"num_queries": 5, "num_heads": 4}), ("qformer", (3, 5), {"num_heads": 4}),
    ("perceiver", (4, 4), {"num_latents": 6, "num_heads": 4}), ("bimamba", (3, 5), {"hidden_dim": 16, "d_state": 4}),
])
def test_token_count_without_building_equals_the_built_resampler(name: str, grid: tuple, options: dict) -> None:
    from panovlm.models.resamplers import count_tokens

    built = build_resampler(name, 24, 40, grid, **options)
    assert count_tokens(name, grid, **options) == RESAMPLERS[name].count_tokens(grid, **options) == built.num_tokens


def test_token_count_applies_the_constructor_rules() -> None:
    from panovlm.models.resamplers import count_tokens

    with pytest.raises(ValueError, match=r"pool must divide the token grid \(6, 4\), got 4; valid: \[1, 2\]"):
        count_tokens("mlp", (6, 4), pool=4)
    with pytest.raises(ValueError, match=r"\['num_queries'\].*'mlp'"):
        count_tokens("mlp", GRID, num_queries=4)
    with pytest.raises(ValueError, match="num_latents must be an int >= 1"):
        count_tokens("perceiver", GRID, num_latents=0)
    assert count_tokens("bi_mamba", (2, 3)) == 6
