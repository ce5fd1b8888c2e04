"""Imports every domain's models so that `metadata` knows all tables (for Alembic)."""

from service.auditlog import models as _auditlog  # noqa: F401
from service.auth import models as _auth  # noqa: F401
from service.console import models as _console  # noqa: F401
from service.db import Base
from service.evidence import models as _evidence  # noqa: F401
from service.holds import models as _holds  # noqa: F401
from service.improvements import models as _improvements  # noqa: F401
from service.incidents import models as _incidents  # noqa: F401
from service.notify import models as _notify  # noqa: F401
from service.rules import models as _rules  # noqa: F401
from service.search import models as _search  # noqa: F401
from service.snoozes import models as _snoozes  # noqa: F401

metadata = Base.metadata
