"""``python -m kard_hf`` runs the ``kard-hf`` command line."""
import sys

from .cli import main

sys.exit(main())
