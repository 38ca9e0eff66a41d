"""``python scripts/convert_to_hf.py --lightning-ckpt CKPT --output-dir DIR --model-type TYPE``: seed 003's command.

The same as ``panovlm export`` (see ``panovlm export --help``).
"""

import sys

from panovlm.cli import main

if __name__ == "__main__":
    sys.exit(main(["export", *sys.argv[1:]]))
