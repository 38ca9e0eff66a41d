"""The VICReg projector: a token-wise MLP between the resampler and the overlap loss.

Shapes: ``(..., in_dim) -> (..., out_dim)``; every token is projected on its own, so the token
grid (and with it the ray correspondences) survives the projection.

The origin's projector (``losses/vicreg_projector.py``): ``depth`` Linear layers, each hidden layer
followed by LayerNorm (optional) and GELU; CORA added Dropout after the activation. The official
VICReg expander uses BatchNorm + ReLU instead; BatchNorm would mix statistics across the tokens
the loss compares, so we keep the origin's LayerNorm.
"""

from __future__ import annotations

from torch import Tensor, nn


class VICRegProjector(nn.Module):
    """Token-wise MLP ``Linear -> [LayerNorm] -> GELU -> [Dropout]`` repeated, then a final Linear.

    Args:
        in_dim: width of the resampler output.
        out_dim: width of the VICReg embedding (``vicreg_projector_dim``).
        hidden_dim: width of the hidden layers; ``None`` means ``max(in_dim, out_dim)`` (the origin's default).
        depth: number of Linear layers, at least 1 (1 is a single Linear).
        use_ln: LayerNorm after every hidden Linear.
        dropout: dropout probability after every hidden activation, in [0, 1).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        hidden_dim: int | None = None,
        depth: int = 2,
        use_ln: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        for name, value in (("in_dim", in_dim), ("out_dim", out_dim)):
            if value < 1:
                raise ValueError(f"VICRegProjector {name} must be >= 1, got {value}")
        if depth < 1:
            raise ValueError(f"VICRegProjector depth must be >= 1, got {depth}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"VICRegProjector dropout must be in [0, 1), got {dropout}")
        hidden = max(in_dim, out_dim) if hidden_dim is None else hidden_dim
        if hidden < 1:
            raise ValueError(f"VICRegProjector hidden_dim must be >= 1 or None, got {hidden_dim}")
        self.in_dim, self.out_dim, self.hidden_dim, self.depth = in_dim, out_dim, hidden, depth
        layers: list[nn.Module] = []
        width = in_dim
        for _ in range(depth - 1):
            layers.append(nn.Linear(width, hidden))
            if use_ln:
                layers.append(nn.LayerNorm(hidden))
            layers.append(nn.GELU())
            if dropout > 0.0:
                layers.append(nn.Dropout(dropout))
            width = hidden
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Project every token: ``(..., in_dim) -> (..., out_dim)``."""
        if x.shape[-1] != self.in_dim:
            raise ValueError(f"VICRegProjector expected last dim {self.in_dim}, got shape {tuple(x.shape)}")
        return self.net(x)
