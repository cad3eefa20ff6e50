"""``python -m idp.cli`` (tests run the command line this way)."""

from __future__ import annotations

import sys

from idp.cli import main

sys.exit(main())
