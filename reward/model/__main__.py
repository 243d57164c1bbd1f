"""`python -m reward.model score ...`: the same entry point `align reward score ...` dispatches to."""

import sys

from reward.model.cli import main

raise SystemExit(main(sys.argv[1:]))
