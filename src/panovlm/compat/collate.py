"""``SeedCollator``: the training collator's batch plus the seed API's ``tile_metas_batch``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["SeedCollator", "add_tile_metas"]


def add_tile_metas(batch: dict) -> dict:
    """``batch`` with ``tile_metas_batch``: the tile metas of its ``view_plan``, one list per panorama."""
    if batch.get("pixel_values") is None:  # every sample was bad: nothing to describe
        return batch
    metas = batch["view_plan"].tile_metas()
    return {**batch, "tile_metas_batch": [metas for _ in range(batch["pixel_values"].shape[0])]}


class SeedCollator:
    """Wraps a collator (``panovlm.training.datamodule.Collator``) so that each batch carries ``tile_metas_batch``."""

    def __init__(self, collate: Callable[[Sequence[dict | None]], dict]) -> None:
        self.collate = collate

    def __call__(self, items: Sequence[dict | None]) -> dict:
        return add_tile_metas(self.collate(items))
