"""``python -m mri_measure.cli``."""

import sys

from .main import main

sys.exit(main())
