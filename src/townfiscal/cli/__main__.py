"""``python -m townfiscal.cli``: the ``townfiscal`` command."""

import sys

from townfiscal.cli._main import main

sys.exit(main())
