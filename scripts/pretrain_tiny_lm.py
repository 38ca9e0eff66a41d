"""Pretrain the tiny preset's LM on scenes written as text, so it can look up a direction in its context.

    python scripts/pretrain_tiny_lm.py [--steps 2000] [--seed 0] [--out src/panovlm/assets/tiny_language]
    python scripts/pretrain_tiny_lm.py --from DIR --slot-order shuffled --steps 300 --lr 5e-4 --seed 5

The shipped weights are made by both, in that order (the card in the output folder says so): the
second run continues from the first's folder with each view's content tokens in a new random order
per view ("red a circle small"). The model's resampler then need not put size, colour and shape in
the slots the LM was first trained to read them from: with the fixed order a run whose latents
settled on another assignment never read colour (docs/training.md, section 11).

Real users start from an LM that already reads its context (Qwen2.5) and this framework teaches it
to read panoramas. The random-init tiny LM does not learn that skill within the quickstart's budget
(docs/training.md, "The bottleneck is the random LM"), so the embedded default starts, like the
vision tower, from shipped weights. This script trains the tiny ``Qwen2ForCausalLM`` on
conversations laid out exactly as the model sees a panorama: the first user turn holds, per view of
the quickstart's plan, the view tag (" front", " above", ...) and then ``K`` content tokens where the
model will have ``K`` vision tokens; here the content is the view's object in words
(" a small red circle") or " nothing" repeated. The questions and answers are PanoShapes' own rows
(:func:`panovlm.data.synth.scene_rows`), all of a scene's in one conversation, in random order. Scenes come from a stream that never produces a quickstart
panorama and no image is ever rendered: the LM learns to look a direction up in its context and to
write the scene sentence, never what a panorama looks like.

Saved with ``save_pretrained`` (safetensors + config), with ``eval.json`` (teacher-forced exact
answers on held-out scenes, per question kind, against the random init), ``loss.csv`` and a card
``README.md``. Deterministic by seed on a given thread count.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoModelForCausalLM

from panovlm.data.synth import DIRECTIONS, NOTHING, sample_scene, scene_rows
from panovlm.data.synth_views import PRETRAIN_STREAM
from panovlm.directions import view_tag
from panovlm.models.fusion import IGNORE_INDEX, build_training_example, pad_batch
from panovlm.models.modeling_parts import tokens_per_view
from panovlm.models.tiny import tiny_model, tiny_tokenizer

logger = logging.getLogger("pretrain_tiny_lm")

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "panovlm" / "assets" / "tiny_language"
TEXT_STREAM = 2  # after PRETRAIN_STREAM: the encoder's scenes use [PRETRAIN_STREAM, seed, index]
EVAL_SEED_OFFSET = 10_000
SLOT_ORDERS: tuple[str, ...] = ("fixed", "shuffled")
MAX_LENGTH = 256


class TextScenes:
    """Conversations of the text stream, laid out like the model's input on the quickstart's plan."""

    def __init__(self, tokenizer, config, slot_order: str = "fixed") -> None:
        if slot_order not in SLOT_ORDERS:
            raise ValueError(f"slot_order must be one of {list(SLOT_ORDERS)}, got {slot_order!r}")
        self.slot_order = slot_order
        if not config.view_tags:
            raise ValueError("the tiny preset must have view_tags on: the text stands in for tagged views")
        self.tok, self.k = tokenizer, tokens_per_view(config)
        self.tags = [view_tag(v) for v in config.view_plan().views]
        if sorted(self.tags) != sorted(DIRECTIONS):
            raise ValueError(f"the text layout needs one view per PanoShapes direction {list(DIRECTIONS)}, the "
                             f"preset's plan has views {self.tags} (crop_strategy={config.crop_strategy!r})")
        self.tag_ids = config.tag_ids()
        self.vision_id = tokenizer.convert_tokens_to_ids(config.vision_token)
        self.empty = tokenizer.encode(" " + NOTHING, add_special_tokens=False) * self.k

    def content(self, words: str) -> list[int]:
        ids = self.tok.encode(" " + words, add_special_tokens=False)
        if len(ids) != self.k:
            raise ValueError(f"{words!r} is {len(ids)} tokens, the view has {self.k} content slots")
        return ids

    def span(self, objects, rng: np.random.Generator) -> list[int]:
        by_direction = {o.direction: f"a {o.size} {o.colour} {o.shape}" for o in objects}
        out: list[int] = []
        for tag, ids in zip(self.tags, self.tag_ids, strict=True):
            content = self.content(by_direction[tag]) if tag in by_direction else self.empty
            if self.slot_order == "shuffled":
                content = [content[i] for i in rng.permutation(len(content))]
            out += ids + content
        return out

    def example(self, seed: int, index: int) -> tuple[dict[str, list[int]], list[str]]:
        """One scene's conversation (all its PanoShapes rows, shuffled): ids, labels, the kind of each turn."""
        rng = np.random.default_rng([PRETRAIN_STREAM, TEXT_STREAM, int(seed), int(index)])
        objects = sample_scene(rng)
        rows = scene_rows(objects, f"text-{index}", rng)
        rows = [rows[i] for i in rng.permutation(len(rows))]
        messages = []
        for row in rows:
            # The bare query, not the data reader's QuIC-360 prompt around it: with the prompt (and 1-3
            # questions per conversation) the quickstart stopped reading shape (docs/training.md, section 9).
            messages += [{"role": "user", "content": row["query"]}, {"role": "assistant", "content": row["annotation"]}]
        ex = build_training_example(self.tok, messages, MAX_LENGTH)
        at = ex["input_ids"].index(self.vision_id)
        span = self.span(objects, rng)
        ids = ex["input_ids"][:at] + span + ex["input_ids"][at + 1:]
        labels = ex["labels"][:at] + [IGNORE_INDEX] * len(span) + ex["labels"][at + 1:]
        kinds = [kind(row) for row in rows]
        return {"input_ids": ids, "labels": labels}, kinds


def kind(row: dict) -> str:
    if not row["target_direction"]:
        return "scene"
    return "empty" if row["annotation"] == NOTHING else "occupied"


def batch(examples: list[dict], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ids = pad_batch([e["input_ids"] for e in examples], pad_id, "right")  # (B, T)
    labels = pad_batch([e["labels"] for e in examples], IGNORE_INDEX, "right")  # (B, T)
    mask = pad_batch([[1] * len(e["input_ids"]) for e in examples], 0, "right")  # (B, T)
    return ids, mask, labels


def answers(labels: torch.Tensor) -> list[list[tuple[int, int]]]:
    """Per row, the (start, end) of each assistant answer: runs of labelled positions."""
    out = []
    for row in (labels != IGNORE_INDEX).tolist():
        runs, start = [], None
        for i, on in enumerate(row + [False]):
            if on and start is None:
                start = i
            elif not on and start is not None:
                runs.append((start, i))
                start = None
        out.append(runs)
    return out


@torch.no_grad()
def evaluate(lm, scenes: TextScenes, seed: int, count: int, pad_id: int) -> dict[str, float]:
    """Teacher-forced: the share of answers whose every token is the argmax, per question kind."""
    was_training = lm.training
    lm.eval()
    hits: dict[str, list[int]] = {"scene": [], "occupied": [], "empty": []}
    for start in range(0, count, 32):
        pairs = [scenes.example(seed + EVAL_SEED_OFFSET, i) for i in range(start, min(count, start + 32))]
        ids, mask, labels = batch([p[0] for p in pairs], pad_id)
        pred = lm(input_ids=ids, attention_mask=mask).logits.argmax(-1)  # (B, T)
        for b, runs in enumerate(answers(labels)):
            for (lo, hi), k in zip(runs, pairs[b][1], strict=True):
                hits[k].append(int(torch.equal(pred[b, lo - 1:hi - 1], ids[b, lo:hi])))
    lm.train(was_training)
    return {k: round(float(np.mean(v)), 3) for k, v in hits.items()}


def train(args: argparse.Namespace, lm, scenes: TextScenes, pad_id: int) -> tuple[list, list]:
    params = [p for p in lm.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    warmup = max(1, args.steps // 20)

    def schedule(step: int) -> float:
        return min(1.0, (step + 1) / warmup) * 0.5 * (1.0 + math.cos(math.pi * min(step, args.steps) / args.steps))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    curve, evals, smooth, index, t0 = [], [], None, 0, time.time()
    lm.train()
    for step in range(1, args.steps + 1):
        examples = [scenes.example(args.seed, index + i)[0] for i in range(args.batch_size)]
        index += args.batch_size
        ids, mask, labels = batch(examples, pad_id)
        loss = lm(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        smooth = loss.item() if smooth is None else 0.98 * smooth + 0.02 * loss.item()
        if step % args.log_every == 0 or step == args.steps:
            curve.append((step, round(smooth, 4)))
            elapsed = time.time() - t0
            logger.info("step %d/%d loss %.3f (%.0f s, ETA %.0f s)", step, args.steps, smooth, elapsed,
                        elapsed / step * (args.steps - step))
        if step % args.eval_every == 0 or step == args.steps:
            result = evaluate(lm, scenes, args.seed, args.eval_scenes, pad_id)
            evals.append((step, result))
            logger.info("step %d held-out exact answers: %s", step, result)
    return curve, evals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--from", dest="init", type=Path, default=None,
                        help="continue from this folder's weights (a previous run's --out) instead of a random init")
    parser.add_argument("--slot-order", choices=SLOT_ORDERS, default="fixed",
                        help="order of a view's content tokens: as written, or shuffled per view")
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--eval-scenes", type=int, default=256)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--log-every", type=int, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    tokenizer = tiny_tokenizer()
    model = tiny_model(seed=args.seed, language_init="random")
    lm, previous = model.language_model, None
    if args.init is not None:
        lm, previous = load_previous(args.init)
    scenes = TextScenes(tokenizer, model.config, args.slot_order)
    pad_id = tokenizer.pad_token_id
    start = evaluate(lm, scenes, args.seed, args.eval_scenes, pad_id)
    logger.info("held-out exact answers before training: %s", start)
    t0 = time.time()
    curve, evals = train(args, lm, scenes, pad_id)
    # "random_init": the scores of the weights this run started from (a previous run's, with --from).
    result = {"steps": args.steps, "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
              "threads": args.threads, "train_seconds": round(time.time() - t0, 1), "eval_scenes": args.eval_scenes,
              "plan": model.config.plan_spec.to_dict(), "view_tags": scenes.tags, "tokens_per_view": tokens_per_view(model.config),
              "slot_order": args.slot_order, "command": command(args), "previous": previous,
              "pretrained": evals[-1][1], "random_init": start, "during": [{"step": s, **r} for s, r in evals]}
    if args.slot_order != "fixed":
        result["fixed_order"] = evaluate(lm, TextScenes(tokenizer, model.config), args.seed, args.eval_scenes, pad_id)
    write_outputs(args.out, lm, curve, result)


def load_previous(folder: Path) -> tuple[Any, dict | None]:
    """The LM saved in ``folder`` by an earlier run, and that run's ``eval.json`` (None if it has none)."""
    if not (folder / "model.safetensors").is_file():
        raise FileNotFoundError(f"--from {folder}: no model.safetensors there (give a previous run's --out)")
    lm = AutoModelForCausalLM.from_pretrained(str(folder))
    report = folder / "eval.json"
    return lm, (json.loads(report.read_text()) if report.is_file() else None)


def command(args: argparse.Namespace) -> str:
    """The command line that repeats this run (``--from`` written as PREVIOUS: the run before it)."""
    parts = ["python scripts/pretrain_tiny_lm.py", f"--steps {args.steps}", f"--seed {args.seed}"]
    if args.lr != 1e-3:
        parts.append(f"--lr {args.lr}")
    if args.batch_size != 32:
        parts.append(f"--batch-size {args.batch_size}")
    if args.init is not None:
        parts.append("--from PREVIOUS")
    if args.slot_order != "fixed":
        parts.append(f"--slot-order {args.slot_order}")
    return " ".join(parts)


def chain(result: dict) -> list[dict]:
    """This run and the runs it continued from, first run first."""
    runs = [result]
    while runs[0].get("previous"):
        runs.insert(0, runs[0]["previous"])
    return runs


def write_outputs(out: Path, lm, curve: list[tuple[int, float]], result: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    lm.save_pretrained(str(out))
    (out / "eval.json").write_text(json.dumps(result, indent=2) + "\n")
    with (out / "loss.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["step", "loss"])
        writer.writerows(curve)
    (out / "README.md").write_text(card(curve, result))
    logger.info("wrote %s", out)


def card(curve: list[tuple[int, float]], result: dict) -> str:
    marks = [curve[i] for i in sorted({0, len(curve) // 4, len(curve) // 2, 3 * len(curve) // 4, len(curve) - 1})]
    rows = "\n".join(f"| {k} | {result['pretrained'][k]:.3f} | {result['random_init'][k]:.3f} |"
                     for k in ("occupied", "empty", "scene"))
    if "fixed_order" in result:
        rows += "\n" + "\n".join(f"| {k}, content in the written order | {result['fixed_order'][k]:.3f} | |"
                                  for k in ("occupied", "empty", "scene"))
    during = ", ".join(f"{d['step']}: {d['occupied']:.2f} / {d['empty']:.2f} / {d['scene']:.2f}" for d in result["during"])
    runs = chain(result)
    training = "\n".join(
        f"  {i + 1}. {r['steps']} steps of {r['batch_size']} conversations, AdamW lr {r['lr']}, cosine, seed "
        f"{r['seed']}, content order {r.get('slot_order', 'fixed')}, {r['threads']} CPU threads: {r['train_seconds']:.0f} s"
        + (" (from the random init)" if i == 0 else " (from the weights of run " + str(i) + ")")
        for i, r in enumerate(runs))
    rebuild = "\n".join(f"    {_command_of(r).replace('PREVIOUS', f'run{i}')} --out run{i + 1}"
                         for i, r in enumerate(runs))
    return f"""# Tiny PanoShapes language model

The LM of the tiny preset (`Qwen2ForCausalLM`, hidden 256, 2 layers, the shipped tokenizer),
pretrained by `scripts/pretrain_tiny_lm.py` so that the embedded default starts, like a real run
from Qwen2.5, with an LM that can look something up in its context.

- **Data**: conversations laid out like the model's input on the tiny preset's view plan
  ({', '.join(result['view_tags'])}): per view, its
  view tag and {result['tokens_per_view']} content tokens where the model has vision tokens, here the
  view's object in words (" a small red circle", in a random order per view when the run says
  "shuffled") or " nothing"; then PanoShapes' questions and answers
  about that scene. Scenes come from a text stream that never produces a quickstart panorama; no
  image is rendered, so the LM learns the lookup and the scene sentence, never what views look like.
- **Training**, {len(runs)} run(s), each continuing from the one before:
{training}
- **Loss** of the last run (smoothed, step: loss): {', '.join(f'{s}: {v:.3f}' for s, v in marks)}. Full curve: `loss.csv`.

Teacher-forced exact answers (every token the argmax) on {result['eval_scenes']} held-out scenes, content
order {result.get('slot_order', 'fixed')} unless the row says otherwise:

| question | after the last run | before it |
|---|---|---|
{rows}

During the last run (step: occupied / empty / scene): {during}.

Rebuild (the last folder is the shipped one):

{rebuild}
"""


def _command_of(result: dict) -> str:
    return result.get("command") or f"python scripts/pretrain_tiny_lm.py --steps {result['steps']} --seed {result['seed']}"


if __name__ == "__main__":
    main()
