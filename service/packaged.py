"""Where the shipped rules and runbooks are, and where Custody keeps its data.

A built package carries the rules, runbooks and migrations as package data (`service/_data/`, copied
there by setup.py at build time); a source checkout uses the top-level `rules/` and
`runbooks/`. Either way the default no longer depends on the working directory.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def shipped(name: str) -> Path:
    """The shipped `rules`, `runbooks` or `migrations` directory."""
    packaged = _PACKAGE / "_data" / name
    return packaged if packaged.is_dir() else _PACKAGE.parent / name


def default_home() -> Path:
    """CUSTODY_HOME's default: the per-user data directory of the platform
    ($XDG_DATA_HOME/custody, ~/.local/share/custody; ~/Library/Application Support/custody
    on macOS; %LOCALAPPDATA%\\custody on Windows)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "custody"
