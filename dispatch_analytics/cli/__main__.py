"""``python -m dispatch_analytics.cli`` runs the ``dispatch`` command line."""

import sys

from . import main

sys.exit(main())
