"""The ``panovlm`` command: one entry point, one module per subcommand.

Each subcommand module defines ``add_arguments(parser)`` and ``run(args) -> int`` and is imported
only when its command runs, so ``panovlm --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    "quickstart": ("panovlm.cli.quickstart", "synthesise data, train all three stages of the tiny preset, evaluate"),
    "ablate": ("panovlm.cli.ablate", "run the quickstart's ablation table (views, overlap loss, encoder init)"),
    "views": ("panovlm.cli.views", "render the views of a panorama to PNGs, a contact sheet and views.json"),
    "synth": ("panovlm.cli.synth", "generate the PanoShapes synthetic 360-degree captioning set"),
    "train": ("panovlm.cli.train", "train one stage or all three stages from a config"),
    "eval": ("panovlm.cli.eval", "predict captions for a CSV and compute caption metrics"),
    "score": ("panovlm.cli.score", "compute caption metrics for a predictions CSV"),
    "compare": ("panovlm.cli.compare", "compare the metrics of several evaluation runs"),
    "generate": ("panovlm.cli.generate", "caption or answer a question about one panorama"),
    "export": ("panovlm.cli.export", "convert a Lightning checkpoint / model_final into a folder loadable with trust_remote_code"),
    "push": ("panovlm.cli.push", "check an export folder by reloading it, then upload it to the Hugging Face hub"),
    "visualize": ("panovlm.cli.visualize", "DINO-style PCA pictures of a checkpoint's features and view similarity"),
    "demo": ("panovlm.cli.demo", "web demo: look around a panorama, ask, see which views the answer attended to"),
}


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="panovlm", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)  # the full parser below answers --help
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    known, _ = parser.parse_known_args(argv)
    if known.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(COMMANDS[known.command][0])
    full = argparse.ArgumentParser(prog=f"panovlm {known.command}", description=COMMANDS[known.command][1])
    full.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    module.add_arguments(full)
    rest = list(argv)
    rest.remove(known.command)  # only the subcommand itself: `quickstart --out quickstart` keeps its value
    args = full.parse_args(rest)
    configure_logging(args.verbose)
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
