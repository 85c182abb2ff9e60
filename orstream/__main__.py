import sys

from orstream.cli import main

sys.exit(main())
