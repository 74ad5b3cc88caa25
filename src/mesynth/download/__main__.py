"""``python -m mesynth.download``: the same command as ``mesynth download``."""

import sys

from mesynth.download.cli import main

sys.exit(main())
