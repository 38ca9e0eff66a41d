"""Pretrain the tiny preset's vision tower with a SigLIP sigmoid image-text loss on PanoShapes views.

    python scripts/pretrain_tiny_encoder.py [--steps 2400] [--seed 0] [--out src/panovlm/assets/tiny_vision]

Real users start from an encoder that already knows *what* (SigLIP) and this framework teaches
*where*. The embedded default mirrors that: this script trains the tiny preset's vision tower on
single perspective views of PanoShapes scenes, each paired with what the view shows ("a large red
square and a small blue star", "nothing"; :mod:`panovlm.data.synth_views`). Scenes are turned by a
random yaw, descriptions carry no direction words and no panorama-level labels, so the encoder can
learn what objects look like but never where they are. Views are cut by the project's own image
processor (the tiny preset's ``anyres_e2p`` plan at 128 px, and the 6-face cubemap so that objects
above and below are seen whole), on both background levels, from a scene stream that never
produces a quickstart panorama.

The text tower (a 2-layer ``SiglipTextModel`` over the shipped tokenizer) is thrown away; the vision
tower is saved with ``save_pretrained`` (safetensors + config), with ``probe.json`` (linear-probe
accuracies per view on held-out scenes, against a random-init tower measured in the same run),
``loss.csv`` and a card ``README.md``. Deterministic by seed on a given thread count.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel, SiglipTextConfig, SiglipTextModel

from panovlm.data.image import PanoramaImageProcessor
from panovlm.data.synth import NOTHING
from panovlm.data.synth_render import COLOURS, SHAPES
from panovlm.data.synth_views import VISIBLE, hard_negatives, pretraining_scene, view_description, visibility
from panovlm.models.tiny import TINY_VISION, tiny_tokenizer
from panovlm.models.vision import VisionBackbone

logger = logging.getLogger("pretrain_tiny_encoder")

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "panovlm" / "assets" / "tiny_vision"
ERP_SIZE = (512, 256)  # the quickstart's PanoShapes size (W, H)
TEXT_LENGTH = 24
PROBE_SEED_OFFSET = 10_000  # held-out probe scenes come from another seed of the same stream


def processors() -> list[PanoramaImageProcessor]:
    size = int(TINY_VISION["image_size"])
    return [PanoramaImageProcessor(image_size=size, crop_strategy="anyres_e2p"),
            PanoramaImageProcessor(image_size=size, crop_strategy="cubemap", cubemap_poles=True)]


def scene_views(seed: int, index: int, procs: list[PanoramaImageProcessor]) -> tuple[list[torch.Tensor], list]:
    """Views ``(3, S, S)`` of one scene that are not ambiguous, and their (description, objects-shown) labels."""
    image, objects, _ = pretraining_scene(seed, index, *ERP_SIZE)
    proc = procs[index % len(procs)]
    views = proc.views_from_array(image)  # (V, 3, S, S)
    shares = visibility(proc.view_plan, objects, *ERP_SIZE)  # (V, K)
    kept, labels = [], []
    for v in range(views.shape[0]):
        text = view_description(objects, shares[v])
        if text is None:
            continue
        shown = [o for o, s in zip(objects, shares[v], strict=True) if s >= VISIBLE]
        kept.append(views[v])
        labels.append((text, shown))
    return kept, labels


class ViewStream:
    """Batches of ``batch_size`` views from consecutive scenes of the pretraining stream."""

    def __init__(self, seed: int, batch_size: int) -> None:
        self.seed, self.batch_size, self.index = seed, batch_size, 0
        self.procs = processors()
        self._views: list[torch.Tensor] = []
        self._labels: list = []

    def next(self) -> tuple[torch.Tensor, list]:
        while len(self._views) < self.batch_size:
            views, labels = scene_views(self.seed, self.index, self.procs)
            self.index += 1
            self._views += views
            self._labels += labels
        views, self._views = self._views[: self.batch_size], self._views[self.batch_size:]
        labels, self._labels = self._labels[: self.batch_size], self._labels[self.batch_size:]
        return torch.stack(views), labels  # (B, 3, S, S)


class SigLIPPair(nn.Module):
    """Vision tower + throw-away text tower + the sigmoid loss's temperature and bias."""

    def __init__(self, vocab_size: int, pad_id: int, eos_id: int) -> None:
        super().__init__()
        self.vision = VisionBackbone.build_vision_model(dict(TINY_VISION))
        self.backbone = VisionBackbone(self.vision)
        width = self.backbone.hidden_size
        # Max over the grid, not the mean: an object covers a few percent of a view (docs/training.md, section 4).
        self.image_head = nn.Linear(width, width)
        self.text = SiglipTextModel(SiglipTextConfig(
            vocab_size=vocab_size, hidden_size=width, intermediate_size=4 * width, num_hidden_layers=2,
            num_attention_heads=4, max_position_embeddings=TEXT_LENGTH, projection_size=width, pad_token_id=pad_id,
            bos_token_id=eos_id, eos_token_id=eos_id))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(10.0)))
        self.logit_bias = nn.Parameter(torch.tensor(-10.0))

    def loss(self, pixel_values: torch.Tensor, input_ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Sigmoid loss of ``(B, 3, S, S)`` images against ``(T, L)`` distinct texts; ``targets`` (B,) text ids."""
        tokens = self.backbone(pixel_values)  # (B, gh*gw, D)
        img = F.normalize(self.image_head(tokens.amax(dim=1)), dim=-1)  # (B, D)
        txt = F.normalize(self.text(input_ids=input_ids).pooler_output, dim=-1)  # (T, D)
        logits = img @ txt.T * self.logit_scale.exp() + self.logit_bias  # (B, T)
        signs = -torch.ones_like(logits)
        signs[torch.arange(len(targets)), targets] = 1.0
        return -F.logsigmoid(signs * logits).sum() / logits.shape[0]


def encode_texts(tokenizer, texts: list[str]) -> torch.Tensor:
    enc = tokenizer(texts, padding="max_length", max_length=TEXT_LENGTH, truncation=True, return_tensors="pt")
    return enc["input_ids"]  # (T, L)


def train(args: argparse.Namespace, pair: SigLIPPair, tokenizer) -> list[tuple[int, float]]:
    stream = ViewStream(args.seed, args.batch_size)
    params = [p for p in pair.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.05)
    warmup = max(1, args.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps))))
    curve, start, running = [], time.monotonic(), None
    for step in range(args.steps):
        views, labels = stream.next()
        texts = {text for text, _ in labels}
        if args.hard_negatives:
            rng = np.random.default_rng([args.seed, step])
            for _, shown in labels:
                options = hard_negatives(shown)
                picks = rng.choice(len(options), size=min(args.hard_negatives, len(options)), replace=False)
                texts |= {options[int(i)] for i in picks}
        texts = sorted(texts)
        targets = torch.tensor([texts.index(text) for text, _ in labels])
        loss = pair.loss(views, encode_texts(tokenizer, texts), targets)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        if (step + 1) % args.log_every == 0 or step + 1 == args.steps:
            curve.append((step + 1, round(running, 4)))
            elapsed = time.monotonic() - start
            logger.info("step %d/%d loss %.4f (%.1f s, ETA %.0f s)", step + 1, args.steps, running, elapsed,
                        elapsed / (step + 1) * (args.steps - step - 1))
    return curve


def probe_set(seed: int, scenes: int) -> tuple[torch.Tensor, dict[str, np.ndarray]]:
    """Held-out views (global and tiles) with presence, colour and shape labels (-1: not defined)."""
    procs, views, presence, colour, shape = processors(), [], [], [], []
    for index in range(scenes):
        kept, labels = scene_views(seed, index, procs)
        for view, (text, shown) in zip(kept, labels, strict=True):
            views.append(view)
            presence.append(int(text != NOTHING))
            single = shown[0] if len(shown) == 1 else None
            colour.append(list(COLOURS).index(single.colour) if single else -1)
            shape.append(SHAPES.index(single.shape) if single else -1)
    return torch.stack(views), {"presence": np.array(presence), "colour": np.array(colour), "shape": np.array(shape)}


@torch.no_grad()
def features(vision: PreTrainedModel, views: torch.Tensor) -> torch.Tensor:
    """Mean- and max-pooled patch tokens, what the resampler sees: ``(N, 2D)``."""
    backbone = VisionBackbone(vision).eval()
    out = [backbone(chunk) for chunk in views.split(256)]  # (n, gh*gw, D) each
    tokens = torch.cat(out)
    return torch.cat([tokens.mean(1), tokens.amax(1)], dim=-1)


def linear_probe(x: torch.Tensor, y: np.ndarray, seed: int) -> float:
    """Held-out accuracy of a logistic-regression probe (first 70 % train, rest test)."""
    keep = y >= 0
    x, y_t = x[torch.from_numpy(keep)], torch.from_numpy(y[keep])
    split = int(0.7 * len(y_t))
    mean, std = x[:split].mean(0), x[:split].std(0) + 1e-6
    x = (x - mean) / std
    torch.manual_seed(seed)
    head = nn.Linear(x.shape[1], int(y_t.max()) + 1)
    opt = torch.optim.LBFGS(head.parameters(), max_iter=200, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(head(x[:split]), y_t[:split]) + 1e-3 * head.weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return float((head(x[split:]).argmax(-1) == y_t[split:]).float().mean())


def probe(vision: PreTrainedModel, views: torch.Tensor, labels: dict[str, np.ndarray], seed: int) -> dict:
    feats = features(vision, views)
    return {task: round(linear_probe(feats, y, seed), 3) for task, y in labels.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--steps", type=int, default=2400)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--probe-scenes", type=int, default=400)
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument("--hard-negatives", type=int, default=0, metavar="K",
                        help="per view, K extra negative texts with one attribute of one object changed (default 0)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    tokenizer = tiny_tokenizer()
    tokenizer.padding_side = "right"
    pair = SigLIPPair(len(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id)
    start = time.monotonic()
    baseline_vision = VisionBackbone.build_vision_model(dict(TINY_VISION))  # random init: the probe's baseline
    baseline_vision.load_state_dict(pair.vision.state_dict())
    curve = train(args, pair, tokenizer)
    train_seconds = time.monotonic() - start
    views, labels = probe_set(args.seed + PROBE_SEED_OFFSET, args.probe_scenes)
    result = {"pretrained": probe(pair.vision, views, labels, args.seed),
              "random_init": probe(baseline_vision, views, labels, args.seed),
              "probe_views": int(views.shape[0]), "train_seconds": round(train_seconds, 1),
              "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
              "threads": args.threads, "hard_negatives": args.hard_negatives, "architecture": architecture()}
    logger.info("probe: %s", result)
    write_outputs(args.out, pair.vision, curve, result)


def architecture() -> str:
    """The tower's class and shape, from the preset's config (the one owner of it)."""
    spec = {k: v for k, v in TINY_VISION.items() if k not in ("model_type", "image_size")}
    return f"HF `{type(VisionBackbone.build_vision_model(dict(TINY_VISION))).__name__}`, " + \
        ", ".join(f"{k} {v}" for k, v in spec.items())


def write_outputs(out: Path, vision: PreTrainedModel, curve: list[tuple[int, float]], result: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    vision.save_pretrained(out)
    (out / "probe.json").write_text(json.dumps(result, indent=2) + "\n")
    with (out / "loss.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["step", "loss"])
        writer.writerows(curve)
    (out / "README.md").write_text(card(curve, result))
    logger.info("wrote %s", out)


def card(curve: list[tuple[int, float]], result: dict) -> str:
    pre, rnd = result["pretrained"], result["random_init"]
    rows = "\n".join(f"| {task} | {pre[task]:.3f} | {rnd[task]:.3f} |" for task in pre)
    samples = [curve[i] for i in sorted({0, len(curve) // 4, len(curve) // 2, 3 * len(curve) // 4, len(curve) - 1})]
    loss_line = ", ".join(f"{s}: {v:.3f}" for s, v in samples)
    return f"""# Tiny PanoShapes vision encoder

The vision tower of the tiny preset ({result['architecture']}; 128 px views, an 8 x 8 token grid),
pretrained by `scripts/pretrain_tiny_encoder.py` so that the embedded default starts, like a real
run from SigLIP, with an encoder that knows *what* and must learn *where*.

- **Data**: single perspective views rendered on the fly from PanoShapes scenes (both background
  levels, each scene turned by a random yaw; the `anyres_e2p` plan's 9 views and the 6-face cubemap,
  alternating per scene), from a scene stream that never produces a quickstart panorama
  (`panovlm.data.synth_views.PRETRAIN_STREAM`). Each view is paired with what it shows: its objects
  ("a large red square and a small blue star") or "nothing". No direction words, no panorama-level
  labels; views in which an object is only partly visible are left out.
- **Objective**: SigLIP's sigmoid image-text loss against a 2-layer `SiglipTextModel` (thrown away);
  negatives: the batch's other texts{f" and, per view, {result['hard_negatives']} descriptions with one attribute (shape, colour or size) of one object changed" if result.get("hard_negatives") else ""}.
- **Training**: {result['steps']} steps of {result['batch_size']} views, AdamW lr {result['lr']}, cosine,
  seed {result['seed']}, {result['threads']} CPU threads: {result['train_seconds']:.0f} s.
- **Loss** (smoothed, step: loss): {loss_line}. Full curve: `loss.csv`.

Linear probe per view on {result['probe_views']} held-out views (logistic regression on mean- and
max-pooled patch tokens; colour and shape on views that show exactly one object; 70/30 split):

| task | pretrained | random init (same run) |
|---|---|---|
{rows}

Rebuild: `python scripts/pretrain_tiny_encoder.py --steps {result['steps']} --seed {result['seed']} --hard-negatives {result['hard_negatives']}`.
"""


if __name__ == "__main__":
    main()
