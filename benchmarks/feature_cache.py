"""Resampler-stage steps per second with and without the frozen-encoder feature cache, same run.

The same model (frozen vision tower, resampler + projector + LM training) loops over the same few
batches for several epochs, once computing the encoder every step and once through the cache; the
cached run's first epoch fills the cache, later epochs are served from it. Timed: the epochs after
the first. Towers: the tiny preset's (a small ResNet at 128 px) and a SigLIP-base-shaped random-init one
(h768 x 12 at 224 px) with the tiny LM, on the preset's view plan.

    python benchmarks/feature_cache.py [--tower tiny|siglip_base] [--batch-size 4] [--batches 4] [--epochs 3]
"""

from __future__ import annotations

import argparse
import os
import time

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SIGLIP_BASE = {"model_type": "siglip_vision_model", "hidden_size": 768, "intermediate_size": 3072,
               "num_hidden_layers": 12, "num_attention_heads": 12, "patch_size": 16, "image_size": 224}


def build(tower: str):
    from panovlm.config.stage_config import StageSet
    from panovlm.models.modeling_panollava import PanoLLaVaForConditionalGeneration
    from panovlm.models.tiny import TINY_SETTINGS, tiny_model, tiny_specs, tiny_tokenizer
    from panovlm.training.stages import set_trainable

    torch.manual_seed(0)
    if tower == "tiny":
        model = tiny_model(vision_init="random")
    else:
        _, text = tiny_specs()
        model = PanoLLaVaForConditionalGeneration.from_components(dict(SIGLIP_BASE), text, tiny_tokenizer(),
                                                                  **TINY_SETTINGS)
    set_trainable(model, "resampler", StageSet().resampler)
    return model


def batches(model, batch_size: int, count: int) -> list[dict]:
    from panovlm.models.fusion import build_training_example, pad_batch
    from panovlm.models.tiny import tiny_tokenizer

    tok = tiny_tokenizer()
    size = model.vision_tower.image_size
    views = len(model.config.view_plan())
    out = []
    for index in range(count):
        examples = [build_training_example(tok, [{"role": "user", "content": f"What is to your right? {index} {i}"},
                                                 {"role": "assistant", "content": "a small red star"}], 96)
                    for i in range(batch_size)]
        out.append({
            "pixel_values": torch.randn(batch_size, views, 3, *size),  # (B, V, 3, S, S)
            "input_ids": pad_batch([e["input_ids"] for e in examples], tok.pad_token_id, "right"),
            "attention_mask": pad_batch([[1] * len(e["input_ids"]) for e in examples], 0, "right"),
            "labels": pad_batch([e["labels"] for e in examples], -100, "right"),
        })
    return out


def steps_per_second(model, data: list[dict], epochs: int, cache) -> float:
    model.vision_tower.feature_cache = cache
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()
    start, steps = 0.0, 0
    for epoch in range(epochs):
        if epoch == 1:
            start, steps = time.perf_counter(), 0
        for batch in data:
            loss = model(**batch, stage="resampler", loss_only=True).loss
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            steps += 1
    return steps / (time.perf_counter() - start)


def main() -> None:
    from panovlm.models.feature_cache import FeatureCache

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tower", choices=("tiny", "siglip_base"), default="tiny")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    model = build(args.tower)
    data = batches(model, args.batch_size, args.batches)
    plain = steps_per_second(model, data, args.epochs, None)
    cache = FeatureCache(2**31)
    cached = steps_per_second(model, data, args.epochs, cache)
    print(f"tower={args.tower} batch={args.batch_size} views={data[0]['pixel_values'].shape[1]} "
          f"threads={torch.get_num_threads()} timed epochs={args.epochs - 1} x {args.batches} steps")
    print(f"without cache: {plain:.2f} steps/s")
    print(f"with cache:    {cached:.2f} steps/s  (cache {cache.stats()})")
    print(f"ratio: {cached / plain:.2f}x")


if __name__ == "__main__":
    main()
