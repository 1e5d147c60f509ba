import sys

from mcu.cli import main

sys.exit(main())
