"""Console output and the greppable log file: one place decides how align talks to people."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler

console = Console(stderr=False, highlight=False)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    """`quiet`: warnings and errors only (the non-main ranks of a distributed run)."""
    root = logging.getLogger()
    if any(isinstance(h, RichHandler) for h in root.handlers):
        return
    handler = RichHandler(console=Console(stderr=True), show_path=False, markup=False, rich_tracebacks=False)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    # transformers and datasets chatter at INFO; their warnings still come through.
    for noisy in ("httpx", "urllib3", "datasets", "transformers", "filelock", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def log_to_file(path: Path) -> logging.Handler:
    """Every record of a run also goes to <run-dir>/align.log, one line each, for grep."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger().addHandler(handler)
    return handler


def error_line(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
