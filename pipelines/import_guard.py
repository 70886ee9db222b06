"""Libraries the command line refuses to import: dlt and pyarrow import them on speculation,
and nothing a command does needs them.

- Streamlit: dlt reads Streamlit's secrets whenever no secrets.toml exists, importing Streamlit
  to find out that it runs outside Streamlit: 0.25 s and 15 MiB.
- pandas: pyarrow's first `pa.array` of a Python list imports pandas to check whether the list
  is a pandas object: 0.34 s and 54 MiB, in the image that reads the API.
- SQLAlchemy: dlt parses the DuckDB file's path with SQLAlchemy's URL when it is installed, and
  with its own shims otherwise: 0.13 s.

Each costs that once per process, twice for a run that loads in a new image. They are installed
for other parts: `dashboard` runs Streamlit (with pandas) as a process of its own, the Dagster
code location uses SQLAlchemy, and dbt runs as a subprocess. A refused import raises
ModuleNotFoundError, which is what both libraries take for "not installed".
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

REFUSED = frozenset({"streamlit", "pandas", "sqlalchemy"})


class _Refuse(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname.partition(".")[0] in REFUSED:
            raise ModuleNotFoundError(f"No module named {fullname!r} (the command line does not use it)", name=fullname)
        return None  # the other finders' turn


def refuse() -> None:
    """Refuses REFUSED from now on in this process (those already imported stay)."""
    if not any(isinstance(finder, _Refuse) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Refuse())
