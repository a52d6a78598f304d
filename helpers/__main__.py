import sys

from helpers.tools.cli import main

sys.exit(main())
