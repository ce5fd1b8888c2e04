"""Which stored records Custody wrote itself, as SQL (twin of logformat.is_server_record).

Only these carry internal meaning (erasures, incident history): a record a token
submitted is evidence of what that token said, never of what Custody did.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_

from service.auditlog.models import LogRecord
from service.logformat import SERVER_ORIGIN, SERVER_SOURCE


def server_written() -> ColumnElement[bool]:
    """Server records, v1 included: v1 records predate `origin`, so their source is the
    only marker they have (enough to read old incidents' history)."""
    return and_(
        LogRecord.source == SERVER_SOURCE,
        or_(LogRecord.origin == SERVER_ORIGIN, LogRecord.v == 1),
    )


def server_origin() -> ColumnElement[bool]:
    """Server records that say so in their hashed form (v2): what may excuse a missing
    payload. Before v2 a token could write `source: custody`, so a v1 erase record is
    trusted only through the list the upgrade's transition record attests."""
    return and_(LogRecord.source == SERVER_SOURCE, LogRecord.origin == SERVER_ORIGIN)
