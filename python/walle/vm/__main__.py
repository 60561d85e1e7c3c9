"""``python -m walle.vm task run|check BUNDLE``."""

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
