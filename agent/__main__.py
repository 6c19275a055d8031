"""``python -m agent`` is ``ispfleet-agent``."""

import sys

from .cli import main

sys.exit(main())
