"""A heartbeat file for processes without a port (the worker), and its health check.

The worker touches the file while every one of its task threads is alive; a container
health check runs `python -m service.heartbeat FILE MAX_AGE_SECONDS`, which exits 0 only
if the file was touched within MAX_AGE_SECONDS.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def beat(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def fresh(path: Path, max_age: float, *, now: float | None = None) -> bool:
    try:
        age = (now if now is not None else time.time()) - path.stat().st_mtime
    except OSError:
        return False
    return age <= max_age


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m service.heartbeat FILE MAX_AGE_SECONDS", file=sys.stderr)
        return 2
    path, max_age = Path(argv[0]), float(argv[1])
    if fresh(path, max_age):
        return 0
    print(f"{path}: no heartbeat within {max_age:g} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
