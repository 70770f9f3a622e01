"""``python -m dispatch_analytics`` runs the ``dispatch`` command line."""

import sys

from .cli import main

sys.exit(main())
