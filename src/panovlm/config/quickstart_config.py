"""The run config's ``quickstart`` block: data sizes, level and stages of ``panovlm quickstart``."""

from __future__ import annotations

from dataclasses import dataclass

from panovlm.config.typed import check
from panovlm.data.synth_render import BACKGROUND_LEVELS
from panovlm.stages import STAGE_NAMES, in_stage_order


@dataclass(frozen=True)
class QuickstartSettings:
    """Data sizes and level used by ``panovlm quickstart``."""

    train: int = 400
    val: int = 24
    test: int = 48
    size: tuple[int, int] = (512, 256)  # ERP width, height: 128 px per 90-degree view, the tiny views' resolution
    eval_batch_size: int = 16
    # PanoShapes background level: "plain" (one grey) or "varied" (docs/training.md, sections 7 and 8).
    backgrounds: str = "plain"
    stages: tuple[str, ...] = STAGE_NAMES  # the stages the quickstart trains (the ablation drops "vision")

    def __post_init__(self) -> None:
        check(in_stage_order(self.stages), "quickstart.stages", list(self.stages),
              f"distinct stages from {list(STAGE_NAMES)} in that order")
        check(self.backgrounds in BACKGROUND_LEVELS, "quickstart.backgrounds", self.backgrounds,
              f"one of {list(BACKGROUND_LEVELS)}")
