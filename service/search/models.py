"""Table of the search indexer: how far each OpenSearch index has caught up."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base


class SearchIndexState(Base):
    """One row per index name. `cursor` is the last log seq OpenSearch acknowledged;
    `index_uuid` names the index that holds them, so a recreated or lost index (a new
    uuid) is noticed and refilled from seq 1 instead of being trusted."""

    __tablename__ = "search_index_state"

    index_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    cursor: Mapped[int] = mapped_column(BigInteger)
    index_uuid: Mapped[str | None] = mapped_column(String(128))
