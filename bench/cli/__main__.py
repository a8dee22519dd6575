"""``python -m dip_bench.bench.cli``: the same as the ``dip-bench`` console script."""
import sys

from dip_bench.bench.cli import main

sys.exit(main())
