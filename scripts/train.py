"""``python scripts/train.py --config FILE [--stage ...] [--out DIR] ...``: the same as ``panovlm train``."""

import sys

from panovlm.cli import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--out" not in argv:
        argv += ["--out", "runs/panovlm"]
    sys.exit(main(["train", *argv]))
