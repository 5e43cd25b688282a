"""``python -m pvapp.cli``: the same as the ``pv`` command."""

import sys

from . import main

sys.exit(main())
