"""`python -m deploy ...`: see deploy/cli.py."""

import sys

from deploy.cli import main

sys.exit(main())
