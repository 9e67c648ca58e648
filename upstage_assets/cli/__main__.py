"""`python -m upstage_assets.cli` is the same as `upstage-assets`."""

import sys

from upstage_assets.cli import main

sys.exit(main())
