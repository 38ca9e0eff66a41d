"""Greedy decoding speed of the tiny preset VLM against the bare LM from the same prefix embeddings.

    HF_HUB_OFFLINE=1 python benchmarks/generate.py [--new-tokens 64] [--repeats 3]

Both sides generate exactly ``--new-tokens`` tokens (min = max) greedily with the KV cache:
the VLM through ``model.generate(pixel_values, input_ids, ...)`` (vision tower + resampler at prefill,
then the LM), the baseline through ``model.language_model.generate(inputs_embeds=...)`` on the
prefix embeddings the VLM builds (vision work excluded). Tokens/s = batch x new tokens / wall time
(median of ``--repeats`` after a warm-up). "decode" rates exclude the prefill: (time of N tokens - time of
1 token) / (N - 1) steps. Targets: VLM >= 0.9x the bare LM; batch 8 >= 4x batch 1.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from panovlm.models.tiny import tiny_model, tiny_processor


def _timed(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench(batch: int, new_tokens: int, repeats: int, model, processor) -> dict[str, float]:
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (512, 1024, 3), dtype=np.uint8) for _ in range(batch)]
    texts = [f"Describe the scene{' in detail' * (i % 3)}." for i in range(batch)]
    inputs = processor(text=texts, images=images)
    out = {}
    with torch.inference_mode():
        _, mask, _, embeds = model._embed(inputs["pixel_values"], inputs["input_ids"], inputs["attention_mask"],
                                          None, None, prefill=True)
        for n in (1, new_tokens):
            greedy = {"do_sample": False, "max_new_tokens": n, "min_new_tokens": n}
            out[f"vlm_{n}"] = _timed(lambda g=greedy: model.generate(**inputs, **g), repeats)
            out[f"bare_{n}"] = _timed(lambda g=greedy: model.language_model.generate(
                inputs_embeds=embeds, attention_mask=mask, **g), repeats)
    steps = batch * (new_tokens - 1)
    return {
        "vlm": batch * new_tokens / out[f"vlm_{new_tokens}"],
        "bare": batch * new_tokens / out[f"bare_{new_tokens}"],
        "vlm_decode": steps / (out[f"vlm_{new_tokens}"] - out["vlm_1"]),
        "bare_decode": steps / (out[f"bare_{new_tokens}"] - out["bare_1"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = tiny_model().eval()
    processor = tiny_processor(config=model.config)
    print(f"tiny preset: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M params, "
          f"{processor.num_vision_tokens} vision tokens per panorama, {torch.get_num_threads()} threads")
    rates = {}
    for batch in (1, 8):
        r = bench(batch, args.new_tokens, args.repeats, model, processor)
        rates[batch] = r
        print(f"batch {batch}: end-to-end VLM {r['vlm']:8.1f} tok/s | bare LM {r['bare']:8.1f} tok/s | "
              f"ratio {r['vlm'] / r['bare']:.2f}x (target >= 0.9x)")
        print(f"batch {batch}: decode     VLM {r['vlm_decode']:8.1f} tok/s | bare LM {r['bare_decode']:8.1f} tok/s | "
              f"ratio {r['vlm_decode'] / r['bare_decode']:.2f}x")
    print(f"batch 8 / batch 1 (VLM end-to-end): {rates[8]['vlm'] / rates[1]['vlm']:.2f}x, decode: "
          f"{rates[8]['vlm_decode'] / rates[1]['vlm_decode']:.2f}x (target >= 4x)")


if __name__ == "__main__":
    main()
