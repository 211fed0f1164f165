"""Stop `make` when pyproject.toml asks for what the lock does not hold: `pip check` ignores the extras."""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, requires, version

from packaging.requirements import Requirement

extras = ["", *sys.argv[1:]]  # "" for the requirements outside any extra
unmet = []
for line in requires("territory") or []:
    wanted = Requirement(line)
    if wanted.marker and not any(wanted.marker.evaluate({"extra": extra}) for extra in extras):
        continue
    try:
        installed = version(wanted.name)
    except PackageNotFoundError:
        unmet.append(f"{wanted} (not in the lock)")
        continue
    if not wanted.specifier.contains(installed, prereleases=True):
        unmet.append(f"{wanted} (the lock has {installed})")
if unmet:
    sys.exit("pyproject.toml asks for what the lock does not hold: run 'make lock'.\n  " + "\n  ".join(unmet))
