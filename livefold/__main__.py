import sys

from livefold.cli import main

sys.exit(main())
