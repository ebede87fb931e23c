"""The `analysis` extra: rliable and its plotting stack, needed by the report only.

Training, evaluation and logging never import these; `pip install -e '.[analysis]'` (what
`make test` installs) adds them. A missing one is one clear line, not an import traceback.
"""

from __future__ import annotations

import importlib.util

#: import name -> pip name, of what the report needs beyond the core install
PACKAGES = {"rliable": "rliable", "seaborn": "seaborn", "scipy": "scipy", "pandas": "pandas"}
INSTALL = "pip install -e '.[analysis]' (or pip install rliable)"


def missing() -> list[str]:
    """The pip names of the analysis packages not installed here."""
    return [pip for name, pip in PACKAGES.items() if importlib.util.find_spec(name) is None]


def message(what: str) -> str:
    return f"{what} needs the analysis extra ({', '.join(missing())} missing); {INSTALL}"


class MissingAnalysisExtra(ImportError):
    """The analysis extra is not installed (one line saying how to install it)."""


def require(what: str) -> None:
    """Raises MissingAnalysisExtra when an analysis package is missing."""
    if missing():
        raise MissingAnalysisExtra(message(what))
