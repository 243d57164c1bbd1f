"""Where the files shipped with align (data/ and recipes/) are, in a checkout and in an installed wheel.

Looked up in this order, the first folder holding `data/README.md` winning:
1. `$ALIGN_HOME`, when set (a copy of the repository's data/ and recipes/ anywhere);
2. the source checkout this package runs from (a clone, or an editable `pip install -e .`);
3. `<prefix>/share/align`, where a wheel (`pip install .`) installs data/ and recipes/ as data files.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

ENV = "ALIGN_HOME"
MARKER = Path("data") / "README.md"


def candidates() -> list[Path]:
    env = os.environ.get(ENV)
    return [
        *([Path(env).expanduser()] if env else []),
        Path(__file__).resolve().parents[1],
        Path(sysconfig.get_path("data")) / "share" / "align",
        Path(sys.prefix) / "share" / "align",
    ]


def shipped_root() -> Path | None:
    """The folder holding data/ and recipes/, or None when this install has neither."""
    return next((folder for folder in candidates() if (folder / MARKER).is_file()), None)
