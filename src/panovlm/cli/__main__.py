"""``python -m panovlm.cli``: the same entry point as the ``panovlm`` console script."""

import sys

from panovlm.cli import main

sys.exit(main())
