import sys

from reward.sandbox.cli import main

sys.exit(main(sys.argv[1:]))
