"""The overlap loss on the base model's visual tokens: a forward hook after the merger / projector.

The hook (``VisualTokenTap``) records the output of the family's visual module, i.e. the tokens the
LM actually receives (Qwen2.5-VL: after the 2 x 2 merger; InternVL: after pixel shuffle and the
MLP projector). They are laid out as ``(B, V, h, w, D)`` and fed to the project's ray-matched VICReg
(``panovlm.losses.overlap_loss``; ``strip`` mode for the origin's comparison). The guard
``panovlm.losses.check_overlap`` refuses a plan whose views do not overlap before any step runs.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from panovlm.adapt.config import AdaptSettings
from panovlm.adapt.families import Family
from panovlm.geometry import ViewPlan
from panovlm.losses import check_overlap, overlap_loss


class VisualTokenTap:
    """Keeps the visual tokens of the last forward of ``family``'s visual module while ``active``."""

    def __init__(self, model: nn.Module, family: Family) -> None:
        self.family = family
        self.active = False
        self.tokens: Tensor | None = None
        self.handle = family.visual_module(model).register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, args: Any, output: Any) -> None:
        if self.active:  # off during generation and plain inference: no reference kept to the tokens
            self.tokens = self.family.visual_tokens(output)  # (B * V * h * w, D)

    def pop(self) -> Tensor:
        if self.tokens is None:
            raise RuntimeError(f"the {self.family.name} visual module did not run in this forward "
                               "(no pixel inputs?), so there are no visual tokens for the overlap loss")
        tokens, self.tokens = self.tokens, None
        return tokens

    def remove(self) -> None:
        self.handle.remove()


def require_overlap(plan: ViewPlan, grid_hw: tuple[int, int], settings: AdaptSettings) -> None:
    """The overlap guard: ValueError unless the plan's views overlap on the visual-token grid."""
    if settings.adapt_mode == "native":
        raise ValueError("the overlap loss needs several overlapping views, but model.adapt_mode is 'native' "
                         "(one ERP image); set stages.<stage>.vicreg_loss_weight to 0 or use adapt_mode: views")
    check_overlap(plan, grid_hw, include_global=settings.overlap_include_global)


def overlap_terms(tokens: Tensor, batch_size: int, plan: ViewPlan, grid_hw: tuple[int, int],
                  settings: AdaptSettings, head: nn.Module | None = None) -> dict:
    """VICReg overlap loss of flat visual tokens ``(B * V * h * w, D)``; keys as ``overlap_loss``."""
    h, w = grid_hw
    features = tokens.reshape(batch_size, len(plan), h, w, tokens.shape[-1])  # (B, V, h, w, D)
    if head is not None:
        features = head(features)  # (B, V, h, w, Dp)
    return overlap_loss(features, plan, mode=settings.overlap_mode, include_global=settings.overlap_include_global)
