"""Where the project's files are: the checkout, or TERRITORY_HOME where the package is installed elsewhere
(the Docker image installs the package into a virtualenv and keeps migrations/ and data/ beside it)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(os.environ.get("TERRITORY_HOME") or Path(__file__).resolve().parent.parent)
ALEMBIC_INI = PROJECT_ROOT / "alembic.ini"
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
DATA_DIR = PROJECT_ROOT / "data"
