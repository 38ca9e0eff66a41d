"""``python scripts/visualize_trained_model.py --checkpoint CKPT --image IMG [...]``: seed 001's tool.

The same as ``panovlm visualize`` (``panovlm visualize --help`` lists every option); the library API
is ``panovlm.evaluation.dino.DinoVisualizer``.
"""

import sys

from panovlm.cli import main

if __name__ == "__main__":
    sys.exit(main(["visualize", *sys.argv[1:]]))
