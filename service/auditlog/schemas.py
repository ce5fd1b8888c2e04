"""Event schema v1 (what shippers send) and the shapes the log API answers with."""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    with_config,
)
from typing_extensions import TypedDict

MAX_SEQ = 2**63 - 1  # seqs are BIGINT; larger numbers in a request are a 422, not a crash
ACTION_PATTERN = r"^[a-z0-9_]+(\.[a-z0-9_]+)*$"
SOURCE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:/@-]*$"


class Outcome(enum.StrEnum):
    success = "success"
    failure = "failure"
    denied = "denied"
    unknown = "unknown"


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})$")


def _rfc3339_only(value: Any) -> Any:
    # pydantic would also accept unix numbers ("0", 0.5); the contract, and the schema's
    # date-time, say RFC 3339 strings with an offset.
    if isinstance(value, datetime):
        return value  # from Python callers
    if not isinstance(value, str) or not _RFC3339.match(value.strip()):
        raise ValueError("must be an RFC 3339 timestamp string with a time zone")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_only)]
# An event's time is checked and normalized by `prepare.event_time`, not here: building
# a datetime per event and formatting it back cost more than the rest of validation.
EventTime = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
OutcomeName = Literal["success", "failure", "denied", "unknown"]  # an enum costs per access
ShortStr = Annotated[str, Field(min_length=1, max_length=512)]


# Events are validated into TypedDicts, not models: pydantic fills plain dicts about
# twice as fast, and ingest only reads the fields once.
@with_config(ConfigDict(extra="forbid"))
class Actor(TypedDict, total=False):
    type: ShortStr | None
    id: ShortStr | None
    ip: Annotated[str, Field(max_length=128)] | None
    user_agent: Annotated[str, Field(max_length=1024)] | None


@with_config(ConfigDict(extra="forbid"))
class Resource(TypedDict, total=False):
    type: ShortStr | None
    id: ShortStr | None
    version: ShortStr | None


@with_config(ConfigDict(extra="forbid"))
class EventIn(TypedDict):
    """One event as a shipper sends it (schema version 1); optional keys may be absent."""

    id: NotRequired[Annotated[str, Field(min_length=1, max_length=256)] | None]
    time: EventTime
    source: NotRequired[
        Annotated[str, Field(min_length=1, max_length=128, pattern=SOURCE_PATTERN)] | None
    ]
    action: Annotated[str, Field(min_length=1, max_length=128, pattern=ACTION_PATTERN)]
    outcome: NotRequired[OutcomeName]
    actor: NotRequired[Actor | None]
    resource: NotRequired[Resource | None]
    request_id: NotRequired[Annotated[str, Field(min_length=1, max_length=256)] | None]
    attributes: NotRequired[dict[str, Any] | None]
    raw: NotRequired[Any]


class ItemError(BaseModel):
    index: int
    field: str
    message: str


class IngestResult(BaseModel):
    accepted: int
    duplicates: int
    rejected: int
    first_seq: int | None
    last_seq: int | None
    head_hash: str
    errors: list[ItemError] = []


class EventOut(BaseModel):
    seq: int
    received_at: str
    id: str | None
    time: str
    source: str
    action: str
    outcome: str
    actor: dict[str, str] | None
    resource: dict[str, str] | None
    request_id: str | None
    attributes: dict[str, Any] | None
    raw: Any = None
    payload_digest: str
    prev_hash: str
    hash: str
    #: Who put the record in the log: "server" (Custody itself) or the ingest token id;
    #: null for records written before the log moved to record format v2.
    origin: str | None = None
    erased: bool = False


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None


class LogHead(BaseModel):
    seq: int
    hash: str


class VerifyReport(BaseModel):
    ok: bool
    checked: int
    from_seq: int
    to_seq: int | None
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None
    reason: str | None = None
    #: Records up to this seq were archived (`custody archive`): the walk starts after
    #: them, linked to the last archived hash their `log.archive` record names.
    archived_through: int | None = None


class EventFilters(BaseModel):
    """Filters shared by /v1/events, /v1/search and replay."""

    source: str | None = None
    actor: str | None = None
    action: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    outcome: Outcome | None = None
    since: Timestamp | None = None
    until: Timestamp | None = None
    # Search leaves out Custody's own `audit.read` records (they carry the queries, so
    # every search would otherwise find its own echo) unless asked for them.
    own_reads: bool = True
