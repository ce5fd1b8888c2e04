"""Pydantic shapes of the evidence routes: checkpoints, proofs, scopes, state."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.auditlog.schemas import MAX_SEQ, EventFilters, Timestamp


class CheckpointOut(BaseModel):
    """A signed tree head; ``id`` is the list cursor (not signed). The other five fields
    are exactly what ``custody verify --against-checkpoint`` reads back from a file."""

    id: int
    tree_size: int
    root_hash: str
    timestamp: str
    key_id: str
    signature: str


class CheckpointPage(BaseModel):
    items: list[CheckpointOut]
    next_cursor: str | None


class InclusionProofOut(BaseModel):
    """RFC 9162 InclusionProofDataV2 (hex hashes) plus the leaf and root it connects."""

    seq: int
    leaf_index: int
    tree_size: int
    leaf_hash: str
    inclusion_path: list[str]
    root_hash: str


class ConsistencyProofOut(BaseModel):
    """RFC 9162 ConsistencyProofDataV2 (hex hashes) plus both roots."""

    tree_size_1: int
    tree_size_2: int
    consistency_path: list[str]
    first_root: str
    second_root: str


class Scope(BaseModel):
    """What to replay or export; every field narrows the selection."""

    model_config = ConfigDict(extra="forbid")

    actor: str | None = None
    resource_type: str | None = None
    resource_id: str | None = None
    source: str | None = None
    action: Annotated[str | None, Field(description="exact, or a prefix ending in *")] = None
    incident: Annotated[str | None, Field(description="INC-N: its evidence and actors")] = None
    trace_id: Annotated[
        str | None,
        Field(min_length=1, max_length=256, description="one agent run (request_id): a tree"),
    ] = None
    since: Timestamp | None = None
    until: Timestamp | None = None
    from_seq: Annotated[int | None, Field(ge=1, le=MAX_SEQ)] = None
    to_seq: Annotated[int | None, Field(ge=1, le=MAX_SEQ)] = None

    @model_validator(mode="after")
    def _ranges(self) -> Scope:
        if self.from_seq and self.to_seq and self.from_seq > self.to_seq:
            raise ValueError("from_seq must not be greater than to_seq")
        if self.since and self.until and self.since >= self.until:
            raise ValueError("since must be before until")
        return self

    def filters(self) -> EventFilters:
        return EventFilters(
            source=self.source,
            actor=self.actor,
            action=self.action,
            resource_type=self.resource_type,
            resource_id=self.resource_id,
            since=self.since,
            until=self.until,
        )

    def as_dict(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude_none=True)


class Grant(BaseModel):
    grantee: str
    permission: str
    granted_at: str
    granted_by: str | None
    seq: int


class AccessState(BaseModel):
    resource_type: str
    resource_id: str
    at: str
    grants: list[Grant]
    events_considered: int
    unreadable_seqs: list[int] = Field(
        default_factory=list,
        description="grant/revoke events without a readable grantee or permission (erased)",
    )


class VersionState(BaseModel):
    resource_type: str
    resource_id: str
    at: str
    version: str | None
    deployed_at: str | None
    deployed_by: str | None
    seq: int | None


class CheckpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tree_size: int = Field(ge=0, le=MAX_SEQ)
    root_hash: str = Field(max_length=64)
    timestamp: str = Field(max_length=32)
    key_id: str = Field(max_length=64)
    signature: str = Field(max_length=128)


class CosignatureBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    witness_key_id: str = Field(max_length=64)
    witness_public_key: str = Field(max_length=1024)
    time: int = Field(ge=0, le=MAX_SEQ)  # seconds; the column is a BIGINT
    signature: str = Field(max_length=128)


class CosignatureIn(BaseModel):
    """A witness's cosignature of one of this log's checkpoints."""

    model_config = ConfigDict(extra="forbid")

    checkpoint: CheckpointIn
    cosignature: CosignatureBody


class CosignaturePage(BaseModel):
    checkpoint: CheckpointIn
    items: list[CosignatureBody]


class AgentGrant(BaseModel):
    resource_type: str
    resource_id: str
    permission: str
    granted_at: str
    granted_by: str | None
    seq: int


class AgentTools(BaseModel):
    tools: list[str]
    declared_at: str
    seq: int


class AgentPrincipal(BaseModel):
    principal: str
    first_seen: str
    last_seen: str
    events: int
    actions: list[str]


class AgentState(BaseModel):
    """What the agent could do (grants held, tools allowed) and for whom it acted."""

    agent_id: str
    at: str
    since: str
    grants: list[AgentGrant]
    allowed_tools: AgentTools | None
    on_behalf_of: list[AgentPrincipal]
    grant_events_considered: int
    unreadable_seqs: list[int] = Field(
        default_factory=list, description="records whose payload was erased (unreadable)"
    )
