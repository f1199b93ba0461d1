"""`python -m docmill.flows.cli`: the same as the `docmill` command."""

import sys

from docmill.flows.cli import main

sys.exit(main())
