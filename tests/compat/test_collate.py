"""The seed's ``tile_metas_batch`` in each batch: SeedCollator around the training collator."""

import torch

from panovlm.compat import SeedCollator
from panovlm.plans import build_view_plan
from panovlm.training.datamodule import Collator


def test_batch_contract():
    plan = build_view_plan("anyres_e2p", image_size=(64, 64))
    b = 3
    items = [{"pixel_values": torch.zeros(len(plan), 3, 64, 64), "input_ids": torch.arange(1, i + 2),
              "labels": torch.arange(1, i + 2)} for i in range(b)]
    collate = Collator(0, plan)
    batch = SeedCollator(collate)(items)
    assert batch["view_plan"] is plan
    assert batch["tile_metas_batch"] == [plan.tile_metas()] * b
    assert "tile_metas_batch" not in collate(items)  # the core collator leaves it out
    assert SeedCollator(collate)([None]) == {"pixel_values": None, "skipped": 1}
