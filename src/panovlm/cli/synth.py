"""``panovlm synth``: generate the PanoShapes synthetic 360-degree captioning set."""

from __future__ import annotations

import argparse
import csv
import logging
import time
from pathlib import Path

from panovlm.data.synth import generate_panoshapes, parse_size
from panovlm.data.synth_render import BACKGROUND_LEVELS

logger = logging.getLogger(__name__)


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a panorama count >= 0, got {value}")
    return value


def _size(text: str) -> tuple[int, int]:
    try:
        return parse_size(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="output folder (images/ and train/val/test.csv)")
    parser.add_argument("--train", type=_count, default=200, help="training panoramas (default: 200)")
    parser.add_argument("--val", type=_count, default=40, help="validation panoramas (default: 40)")
    parser.add_argument("--test", type=_count, default=40, help="test panoramas (default: 40)")
    parser.add_argument("--seed", type=int, default=0, help="seed; same seed -> byte-identical files (default: 0)")
    parser.add_argument("--size", type=_size, default=(512, 256),
                        help="ERP size WIDTHxHEIGHT, 2:1 (default: 512x256)")
    parser.add_argument("--backgrounds", choices=BACKGROUND_LEVELS, default="varied",
                        help="varied: smooth random backgrounds (default); plain: one grey, the easy level")


def run(args: argparse.Namespace) -> int:
    start = time.monotonic()
    paths = generate_panoshapes(args.out, train=args.train, val=args.val, test=args.test, seed=args.seed,
                                size=args.size, backgrounds=args.backgrounds)
    rows = {split: _count_rows(paths[split]) for split in ("train", "val", "test")}
    logger.info(
        "PanoShapes %dx%d (%s backgrounds): %d/%d/%d panoramas, %d/%d/%d rows (train/val/test), seed %d, in %.1f s -> %s",
        *args.size, args.backgrounds, args.train, args.val, args.test, rows["train"], rows["val"], rows["test"], args.seed,
        time.monotonic() - start, args.out,
    )
    return 0


def _count_rows(csv_path: Path) -> int:
    with csv_path.open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.DictReader(handle))
