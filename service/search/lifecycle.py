"""The OpenSearch layout Custody installs: an index template, an ISM policy, and the
first index `<alias>-000001` behind the write alias that the indexer and searches use.

The layout lives in JSON files (resources/) with `{{name}}` placeholders filled from
the settings. Installing is idempotent and safe to race: the template and the policy
carry a fingerprint of their rendered content and are written only when it changed;
the policy is updated with its seq_no/primary_term so a concurrent edit is not lost
silently. A cluster without the ISM plugin (or a user without its permissions) gets
the template and the alias only, with a warning: no rollover, no retention, and
search keeps working.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import (
    AuthorizationException,
    ConflictError,
    NotFoundError,
    RequestError,
)

from service.config import Settings
from service.logging import get_logger

log = get_logger(__name__)

RESOURCES = files("service.search") / "resources"
TEMPLATE_FILE = "index-template.json"
POLICY_FILE = "ism-policy.json"
# Only the ISM plugin knows this index setting; a cluster without it refuses it.
ROLLOVER_ALIAS_SETTING = "plugins.index_state_management.rollover_alias"
ISM = "/_plugins/_ism"


@dataclass(frozen=True, slots=True)
class Layout:
    """What the resource files are rendered with (service.config.Settings has the
    CUSTODY_OPENSEARCH_* and CUSTODY_SEARCH_RETENTION_DAYS values)."""

    alias: str
    shards: int = 1
    replicas: int = 1
    rollover_size: str = "30gb"
    rollover_age: str = "1d"
    retention_days: int = 365

    @classmethod
    def from_settings(cls, settings: Settings) -> Layout:
        return cls(
            alias=settings.opensearch_index,
            shards=settings.opensearch_shards,
            replicas=settings.opensearch_replicas,
            rollover_size=settings.opensearch_rollover_size,
            rollover_age=settings.opensearch_rollover_age,
            retention_days=settings.search_retention_days,
        )

    @property
    def first_index(self) -> str:
        return f"{self.alias}-000001"

    def values(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "shards": self.shards,
            "replicas": self.replicas,
            "rollover_size": self.rollover_size,
            "rollover_age": self.rollover_age,
            "retention_days": self.retention_days,
        }


@dataclass(frozen=True, slots=True)
class Installed:
    """What `install` found or did, for the CLI and the logs."""

    template: str  # created | updated | unchanged
    policy: str  # created | updated | unchanged | unavailable
    index: str  # created | exists | legacy
    ism_note: str | None = None  # why the policy is unavailable


def load(name: str) -> Any:
    return json.loads(RESOURCES.joinpath(name).read_text(encoding="utf-8"))


def render(node: Any, values: dict[str, Any]) -> Any:
    """Fill `{{name}}` placeholders. A string that is one placeholder takes the value
    with its type (shards stay a number); others are filled as text."""
    if isinstance(node, dict):
        return {render(k, values): render(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [render(v, values) for v in node]
    if isinstance(node, str):
        for key, value in values.items():
            mark = "{{" + key + "}}"
            if node == mark:
                return value
            node = node.replace(mark, str(value))
        return node
    return node


def fingerprint(body: Any) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def mappings() -> dict[str, Any]:
    """The document mappings (they have no placeholders): the single definition of
    what the indexer sends."""
    found: dict[str, Any] = load(TEMPLATE_FILE)["template"]["mappings"]
    return found


def index_template(layout: Layout, *, ism: bool) -> dict[str, Any]:
    body: dict[str, Any] = render(load(TEMPLATE_FILE), layout.values())
    if not ism:
        del body["template"]["settings"]["index"][ROLLOVER_ALIAS_SETTING]
    body["_meta"]["fingerprint"] = fingerprint(body)
    return body


def ism_policy(layout: Layout) -> dict[str, Any]:
    """The policy body; its description ends with the fingerprint (policies have no
    _meta, and the cluster adds defaults to what it returns, so content can't be
    compared directly)."""
    body: dict[str, Any] = render(load(POLICY_FILE), layout.values())
    body["policy"]["description"] += f" [custody {fingerprint(body)}]"
    return body


def install(client: OpenSearch, layout: Layout) -> Installed:
    """Policy (when ISM is there), template, then the first index with the write alias.
    In this order so that the policy's ism_template attaches it to that first index."""
    policy, note = _install_policy(client, layout)
    if policy == "unavailable":
        log.warning(
            "search.ism_unavailable",
            alias=layout.alias,
            reason=note,
            effect="no rollover and no retention: the index grows until you manage it",
        )
    template = _install_template(client, layout, ism=policy != "unavailable")
    index = _bootstrap(client, layout)
    if index == "legacy":
        log.warning(
            "search.legacy_index",
            index=layout.alias,
            effect="an index made by an older Custody: no template, rollover or retention",
            fix="custody opensearch init --migrate",
        )
    if policy != "unavailable" and index == "created":
        # Managed by ism_template already; this covers a policy created after the index.
        _attach_policy(client, layout)
    result = Installed(template=template, policy=policy, index=index, ism_note=note)
    log.info("search.installed", alias=layout.alias, template=template, policy=policy, index=index)
    return result


def migrate_legacy(client: OpenSearch, layout: Layout) -> bool:
    """Delete an index made by an older Custody under the alias's name, so that the
    alias can take the name. The indexer refills the new index from the database (it
    sees a different index uuid). Returns whether there was one."""
    if not _is_concrete_index(client, layout.alias):
        return False
    client.indices.delete(index=layout.alias)
    log.warning("search.legacy_index_deleted", index=layout.alias)
    return True


def _install_template(client: OpenSearch, layout: Layout, *, ism: bool) -> str:
    body = index_template(layout, ism=ism)
    try:
        found = client.indices.get_index_template(name=layout.alias)
    except NotFoundError:
        client.indices.put_index_template(name=layout.alias, body=body)
        return "created"
    current = found["index_templates"][0]["index_template"].get("_meta") or {}
    if current.get("fingerprint") == body["_meta"]["fingerprint"]:
        return "unchanged"
    client.indices.put_index_template(name=layout.alias, body=body)
    return "updated"


def _install_policy(client: OpenSearch, layout: Layout) -> tuple[str, str | None]:
    body = ism_policy(layout)
    path = f"{ISM}/policies/{layout.alias}"
    for _ in range(3):  # a concurrent writer moved seq_no: read again
        try:
            found = client.transport.perform_request("GET", path)
        except NotFoundError:
            try:
                client.transport.perform_request("PUT", path, body=body)
            except ConflictError:
                continue  # another installer created it first
            return "created", None
        except RequestError as exc:
            if "no handler found" in str(exc.error) + str(exc.info):
                return "unavailable", "the cluster has no ISM plugin (_plugins/_ism)"
            raise
        except AuthorizationException as exc:
            return "unavailable", f"not allowed to manage ISM policies: {exc.error}"
        if found["policy"].get("description") == body["policy"]["description"]:
            return "unchanged", None
        params = {"if_seq_no": found["_seq_no"], "if_primary_term": found["_primary_term"]}
        try:
            client.transport.perform_request("PUT", path, params=params, body=body)
        except ConflictError:
            continue
        return "updated", None
    raise ConflictError(409, "ism policy kept changing while Custody installed it", {})


def _attach_policy(client: OpenSearch, layout: Layout) -> None:
    found = client.transport.perform_request(
        "POST", f"{ISM}/add/{layout.first_index}", body={"policy_id": layout.alias}
    )
    # "already managed" (by ism_template) is the expected answer; anything else is worth
    # a look but must not stop indexing.
    failed = [
        f
        for f in found.get("failed_indices", [])
        if "already" not in str(f.get("reason", "")).lower()
    ]
    if failed:
        log.warning("search.ism_attach_failed", index=layout.first_index, failed=failed)


def _bootstrap(client: OpenSearch, layout: Layout) -> str:
    try:
        client.indices.get_alias(name=layout.alias)
        return "exists"
    except NotFoundError:
        pass
    if _is_concrete_index(client, layout.alias):
        return "legacy"
    body = {"aliases": {layout.alias: {"is_write_index": True}}}
    try:
        client.indices.create(index=layout.first_index, body=body)
    except RequestError as exc:
        if "resource_already_exists" not in str(exc.error):
            raise
        # Another installer was first, or an old first index lost its alias: give it back.
        client.indices.put_alias(
            index=layout.first_index, name=layout.alias, body=body["aliases"][layout.alias]
        )
    return "created"


def _is_concrete_index(client: OpenSearch, name: str) -> bool:
    try:
        found = client.indices.get(index=name)
    except NotFoundError:
        return False
    return set(found) == {name}
