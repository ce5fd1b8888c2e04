"""The log format package is pure: a third party can verify with it alone."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_importing_the_format_loads_no_database_web_or_rule_code() -> None:
    probe = (
        "import sys, service.logformat\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'sqlalchemy', 'fastapi', 'starlette', 'sigma', 'alembic', 'psycopg'})\n"
        "ours = sorted(m for m in sys.modules if m.startswith('service.') "
        "and not m.startswith('service.logformat'))\n"
        "print(heavy, ours)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[] []"
