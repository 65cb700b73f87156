import sys

from nasdqn.cli import main

sys.exit(main())
