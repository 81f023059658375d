import sys

from modellens.cli import main

sys.exit(main())
