"""``python -m curvecast`` runs the command line."""

import sys

from curvecast.cli import main

sys.exit(main())
