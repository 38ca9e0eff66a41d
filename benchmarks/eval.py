"""Evaluation benchmark: caption-metric time at the QuIC-360 test size, and prediction throughput.

1. Metrics: 6,246 synthetic prediction/reference pairs (scene captions of 10-25 words, 1-3
   references each, predictions that share part of their words with the references). Baseline:
   pycocoevalcap used the COCOEvalCap way (tokenizer run per side, then each scorer) in the same run;
   ours: ``caption_metrics`` (one tokenizer run, METEOR stderr drained). Target: <= 20 s for all metrics.
2. Throughput: greedy prediction with the tiny preset (random weights, 9 views of 224 px) at batch
   1 vs batch 8, panoramas per second.

Run: ``HF_HUB_OFFLINE=1 python benchmarks/eval.py [--pairs 6246] [--samples 16] [--skip-throughput]``.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import tempfile
import time
from pathlib import Path

SUBJECTS = ["a wide street", "a quiet plaza", "a narrow alley", "a large hall", "a small kitchen", "a sandy beach",
            "a forest trail", "a parking lot", "a living room", "a busy market", "a stone bridge", "a train station"]
ADJECTIVES = ["tall", "old", "white", "red", "modern", "wooden", "green", "crowded", "empty", "bright", "dark", "small"]
THINGS = ["buildings", "trees", "cars", "people", "tables", "windows", "benches", "lamps", "shops", "boats", "chairs"]
PLACES = ["on the left", "on the right", "in front", "behind the viewer", "in the distance", "overhead",
          "near the center", "along the road", "around the corner"]
VERBS = ["lined with", "surrounded by", "filled with", "next to", "facing", "with"]


def _caption(rng: random.Random) -> str:
    parts = [f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(ADJECTIVES)} {rng.choice(THINGS)} "
             f"{rng.choice(PLACES)}"]
    for _ in range(rng.randint(0, 2)):
        parts.append(f"{rng.choice(['and', 'while', 'with'])} {rng.choice(ADJECTIVES)} {rng.choice(THINGS)} "
                     f"{rng.choice(PLACES)}")
    return " ".join(parts).capitalize() + "."


def _perturb(text: str, rng: random.Random) -> str:
    words = text.rstrip(".").split()
    out = [rng.choice(ADJECTIVES + THINGS) if rng.random() < 0.25 else w for w in words if rng.random() > 0.1]
    return " ".join(out) + "."


def synthetic_pairs(n: int, seed: int = 0) -> tuple[dict[str, str], dict[str, list[str]]]:
    rng = random.Random(seed)
    references = {f"p{i}": [_caption(rng) for _ in range(rng.randint(1, 3))] for i in range(n)}
    predictions = {k: _perturb(refs[0], rng) for k, refs in references.items()}
    return predictions, references


def direct_pycocoevalcap(predictions: dict, references: dict) -> tuple[dict, float]:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    start = time.perf_counter()
    tok = PTBTokenizer()
    gts = tok.tokenize({k: [{"caption": c} for c in v] for k, v in references.items()})
    res = tok.tokenize({k: [{"caption": predictions[k]}] for k in references})
    out = dict(zip(["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4"], Bleu(4).compute_score(gts, res, verbose=0)[0], strict=True))
    out["METEOR"] = Meteor().compute_score(gts, res)[0]
    out["ROUGE_L"] = Rouge().compute_score(gts, res)[0]
    out["CIDEr"] = Cider().compute_score(gts, res)[0]
    return out, time.perf_counter() - start


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def bench_metrics(n: int) -> None:
    from panovlm.evaluation.metrics import caption_metrics

    predictions, references = synthetic_pairs(n)
    direct, t_direct = direct_pycocoevalcap(predictions, references)
    cpu0 = _cpu_seconds()
    start = time.perf_counter()
    ours = caption_metrics(predictions, references)
    t_ours = time.perf_counter() - start
    cpu_ours = _cpu_seconds() - cpu0
    print(f"metrics, {n} pairs ({sum(map(len, references.values()))} references), SPICE skipped: "
          f"{ours['skipped'].get('SPICE', 'no')[:60]}...")
    print(f"  pycocoevalcap direct (COCOEvalCap way): {t_direct:6.2f} s")
    print(f"  panovlm caption_metrics:                {t_ours:6.2f} s  (ratio {t_ours / t_direct:.2f}x of direct; "
          f"target <= 20 s: {'met' if t_ours <= 20 else 'NOT met'})")
    print(f"  CPU time of caption_metrics incl. Java children: {cpu_ours:.2f} s; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores (wall time inflates when the machine is shared)")
    worst = max(abs(float(ours[k]) - float(v)) for k, v in direct.items())
    print(f"  largest difference to direct over {sorted(direct)}: {worst:.2e}")
    print("  " + ", ".join(f"{k} {ours[k]:.3f}" for k in direct))
    print("  seconds per step (METEOR runs beside the Python scorers): "
          + ", ".join(f"{k} {v:.2f}" for k, v in ours["seconds"].items()))


def bench_throughput(samples: int, max_new_tokens: int) -> None:
    import torch

    from panovlm.data.datasets import read_samples
    from panovlm.data.synth import generate_panoshapes
    from panovlm.evaluation.predict import predict, unique_pairs
    from panovlm.models.tiny import tiny_model, tiny_processor

    model = tiny_model().eval()
    processor = tiny_processor(config=model.config)
    with tempfile.TemporaryDirectory() as tmp:
        paths = generate_panoshapes(Path(tmp) / "data", train=0, val=0, test=max(2, samples // 3), seed=0)
        pairs = unique_pairs(read_samples(paths["test"])[0])[:samples]
        rates = {}
        for batch in (1, 8):
            predict(model, processor, pairs[:batch], Path(tmp) / f"warm{batch}.csv", batch_size=batch, progress=False,
                    max_new_tokens=2)
            start = time.perf_counter()
            predict(model, processor, pairs, Path(tmp) / f"b{batch}.csv", batch_size=batch,
                    max_new_tokens=max_new_tokens, progress=False)
            rates[batch] = len(pairs) / (time.perf_counter() - start)
    print(f"prediction throughput, tiny preset ({processor.image_processor.num_views} views x 224 px, "
          f"{max_new_tokens} new tokens, {len(pairs)} samples, {torch.get_num_threads()} threads):")
    print(f"  batch 1: {rates[1]:.2f} samples/s   batch 8: {rates[8]:.2f} samples/s   "
          f"(ratio {rates[8] / rates[1]:.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6246, help="prediction/reference pairs (QuIC-360 test: 6,246)")
    parser.add_argument("--samples", type=int, default=16, help="panoramas for the throughput test")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-metrics", action="store_true")
    args = parser.parse_args()
    if not args.skip_metrics:
        bench_metrics(args.pairs)
    if not args.skip_throughput:
        bench_throughput(args.samples, args.max_new_tokens)


if __name__ == "__main__":
    main()
