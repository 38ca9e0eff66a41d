"""``panovlm generate``: answer a prompt about one panorama with a saved model.

``--stream`` prints tokens as they are generated (transformers' ``TextIteratorStreamer``; generation
runs in a worker thread). The answer goes to stdout; logs go to stderr.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from transformers import TextIteratorStreamer

from panovlm.evaluation.generation import GenerationSettings, generate_batch
from panovlm.models.fusion import DEFAULT_PROMPT
from panovlm.models.loading import load_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="saved model folder")
    parser.add_argument("--image", type=Path, required=True, help="equirectangular panorama (2:1)")
    parser.add_argument("--prompt", default=DEFAULT_PROMPT, help=f"question or instruction (default {DEFAULT_PROMPT!r})")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="tokens to generate (default 64)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default); > 0 samples")
    parser.add_argument("--stream", action="store_true", help="print tokens as they are generated")
    parser.add_argument("--device", default=None, help="torch device (default: CPU)")


def run(args: argparse.Namespace) -> int:
    if not args.image.is_file():
        raise FileNotFoundError(f"image not found: {args.image}")
    model, processor = load_model(args.model, device=args.device)
    settings = GenerationSettings(max_new_tokens=args.max_new_tokens, temperature=args.temperature)
    if not args.stream:
        sys.stdout.write(generate_batch(model, processor, [args.prompt], [args.image], settings)[0] + "\n")
        return 0
    streamer = TextIteratorStreamer(processor.tokenizer, skip_prompt=True, skip_special_tokens=True)

    def work() -> list[str]:
        try:
            return generate_batch(model, processor, [args.prompt], [args.image], settings, streamer=streamer)
        finally:
            streamer.end()  # also on an error, so the loop below cannot wait forever

    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(work)
        for piece in streamer:
            sys.stdout.write(piece)
            sys.stdout.flush()
        future.result()  # re-raises a generation error here
    sys.stdout.write("\n")
    return 0
