"""``python -m seggal …``: see :mod:`seggal.cli`."""

import sys

from seggal.cli import main

sys.exit(main())
