"""``python -m relattr_studio`` runs the ``relattr`` command."""

import sys

from relattr_studio.cli import main

sys.exit(main())
