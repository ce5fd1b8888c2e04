"""Imports every domain's models so that `metadata` knows all tables (for Alembic)."""

from service.auditlog import models as _auditlog  # noqa: F401
from service.auth import models as _auth  # noqa: F401
from service.db import Base

metadata = Base.metadata
