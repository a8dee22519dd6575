"""Package discovery for dip-bench (everything else is in pyproject.toml).

The repository's top-level folders are mapped into one import namespace, ``dip_bench`` (``PACKAGE_DIR``).
setuptools' own discovery cannot follow such a mapping, and a hand-written list silently drops a new sub-package from
the wheel; so the packages are found here: every folder with an ``__init__.py`` under a mapped folder.
``tests/test_install.py`` builds the wheel and checks that every module and data file of the tree is inside.
"""
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent
PACKAGE_DIR = {"dip_bench": "dip_bench", "dip_bench.dip": "dip", "dip_bench.baselines": "baselines",
               "dip_bench.bench": "bench", "dip_bench.datasets": "datasets"}


def packages() -> list[str]:
    """``dip_bench`` and every package below a mapped folder, as dotted import names."""
    found = []
    for name, folder in PACKAGE_DIR.items():
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            parts = init.parent.relative_to(ROOT / folder).parts
            if name == "dip_bench" and parts:
                continue  # dip_bench/ holds only the bottom module; the mapped folders are its sub-packages
            found.append(".".join((name, *parts)))
    return found


setup(packages=packages(), package_dir=PACKAGE_DIR)
