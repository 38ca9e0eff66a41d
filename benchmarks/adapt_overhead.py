"""Adapter overhead: per-step time of views + overlap loss + hook vs the base model on the same images.

Both arms run the same tiny random-init base (``tiny-qwen2_5_vl`` / ``tiny-internvl``), the same
batch of PanoShapes-sized panoramas rendered through the same plan (1 global + 8 tiles), LoRA on
the LM and the trainable projector, forward + backward + AdamW step. The base arm calls the model
with the hook inactive and no overlap loss; the adapter arm adds the hook's capture and the
ray-matched VICReg at weight 0.1. Arms alternate step by step (and which goes first), so machine load hits both alike;
the median of each is reported.

Run: ``HF_HUB_OFFLINE=1 PYTHONPATH=src python benchmarks/adapt_overhead.py [--base tiny-internvl]
[--view-size 112] [--batch 2] [--steps 12]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from panovlm.adapt import AdaptSettings, PanoAdapter
from panovlm.adapt.data import AdaptCollator, model_inputs
from panovlm.adapt.train import set_trainable, stage_groups

MSGS = [{"role": "user", "content": "What is in front of you?"},
        {"role": "assistant", "content": "A red cube stands in front of you, a blue ball to the left."}]


def _batch(adapter: PanoAdapter, size: int) -> dict:
    rng = np.random.default_rng(0)
    items = []
    for _ in range(size):
        ids, labels = adapter.processor.training_ids(MSGS, 8192)
        erp = rng.integers(0, 255, (256, 512, 3), dtype=np.uint8)
        items.append({"input_ids": ids, "labels": labels, "views": adapter.processor.render(erp)})
    return model_inputs(AdaptCollator(adapter.processor)(items))


def _step(adapter: PanoAdapter, optimizer: torch.optim.Optimizer, batch: dict, overlap: bool) -> float:
    start = time.perf_counter()
    out = adapter(**batch, overlap=overlap)
    loss = out.ar_loss + 0.1 * out.vicreg_loss if overlap else out.ar_loss
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", default="tiny-qwen2_5_vl", help="tiny preset (default tiny-qwen2_5_vl)")
    parser.add_argument("--view-size", type=int, default=112, help="px per view, a multiple of 28 (default 112)")
    parser.add_argument("--batch", type=int, default=2, help="panoramas per step (default 2)")
    parser.add_argument("--steps", type=int, default=12, help="timed steps per arm after 2 warm-up steps (default 12)")
    args = parser.parse_args()
    torch.manual_seed(0)
    adapter = PanoAdapter.from_settings(AdaptSettings(base=args.base, view_size=args.view_size))
    adapter.add_lora()
    set_trainable(adapter, stage_groups("finetune", adapter.settings, overlap=True))
    optimizer = torch.optim.AdamW([p for p in adapter.parameters() if p.requires_grad], lr=1e-4)
    batch = _batch(adapter, args.batch)
    adapter.check_overlap()
    times: dict[bool, list[float]] = {False: [], True: []}
    for i in range(args.steps + 2):
        for overlap in ((False, True) if i % 2 == 0 else (True, False)):  # neither arm always runs second
            elapsed = _step(adapter, optimizer, batch, overlap)
            if i >= 2:
                times[overlap].append(elapsed)
    base, adapted = statistics.median(times[False]), statistics.median(times[True])
    print(f"{args.base}: {len(adapter.plan)} views of {args.view_size} px, {adapter.visual_tokens} visual tokens "
          f"per panorama, batch {args.batch}, {batch['input_ids'].shape[1]} tokens per sample, torch threads "
          f"{torch.get_num_threads()}")
    print(f"base step   {base * 1e3:8.1f} ms (median of {args.steps})")
    print(f"adapter step {adapted * 1e3:7.1f} ms (hook + ray-matched VICReg)")
    print(f"ratio {adapted / base:.3f} (overhead {100 * (adapted / base - 1):+.1f} %)")


if __name__ == "__main__":
    main()
