"""``python -m walle.deploy ...`` runs the same CLI as ``walle deploy ...``."""

import sys

from .cli import main

sys.exit(main())
