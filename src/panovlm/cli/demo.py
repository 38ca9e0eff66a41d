"""``panovlm demo``: an interactive web page to look around a panorama and talk to a saved model.

Needs the ``demo`` extra (``pip install -e ".[demo]"``). Binds 127.0.0.1 and creates no public link
unless ``--share`` is given; uploads are limited by ``--max-upload-mb`` and by the processor's pixel
guard. The model folder is loaded with the package's own classes: no remote code is run.
"""

from __future__ import annotations

import argparse
import logging
import os
from importlib import resources
from pathlib import Path

logger = logging.getLogger(__name__)


def default_example_folders() -> list[Path]:
    """The panoramas shipped with the package (PanoShapes samples and real CC0 photos)."""
    return [Path(str(resources.files("panovlm").joinpath("assets/demo_examples")))]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="saved model folder (e.g. quickstart/model_final)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--examples", type=Path, action="append", default=None,
                        help="folder of example panoramas (repeatable; default: the shipped examples)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu; e.g. cuda)")
    parser.add_argument("--max-upload-mb", type=float, default=20.0, help="largest upload accepted (default 20)")
    parser.add_argument("--share", action="store_true", help="ask Gradio for a public share link (off by default)")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        from panovlm.demo.app import build_app, find_examples
    except ImportError as err:
        raise SystemExit(f"panovlm demo needs the demo extra: pip install -e \".[demo]\" ({err})") from err
    from panovlm.demo.session import DemoSession

    session = DemoSession.from_folder(args.model, device=args.device, max_upload_mb=args.max_upload_mb)
    examples = find_examples(args.examples or default_example_folders())
    app = build_app(session, examples)
    logger.info("serving %s on http://%s:%d (%d examples)", args.model, args.host, args.port, len(examples))
    app.queue().launch(server_name=args.host, server_port=args.port, share=args.share, ssr_mode=False,
                       max_file_size=f"{args.max_upload_mb}mb", footer_links=[])
    return 0
