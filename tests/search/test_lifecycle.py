"""The OpenSearch layout Custody installs (index template, ISM policy, write alias):
the resource files, `custody opensearch init` and the indexer against osmem-server,
rollover and retention as the indexer sees them, and indexes made by older versions.

osmem-server has index templates and aliases but no ISM plugin and no `_rollover`
(tried: both answer "no handler found"). So the ISM-present path runs against a tiny
HTTP stub that answers only `_plugins/_ism/...` and forwards everything else to
osmem-server, and a rollover is done by hand the way the ISM rollover action does it
(create the next index, move the write flag).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import structlog
from fastapi.testclient import TestClient
from opensearchpy import OpenSearch
from sqlalchemy.orm import Session, sessionmaker
from structlog.testing import capture_logs
from typer.testing import CliRunner

from service.auditlog.chain import read_head
from service.cli import app as cli
from service.config import Settings
from service.search import lifecycle, state
from service.search.documents import KEYWORDS
from service.search.indexer import SearchIndexer
from service.search.lifecycle import Layout
from service.search.opensearch import OpenSearchIndex
from tests.conftest import event
from tests.search.conftest import Osmem, seed

# ---------------------------------------------------------------------------- helpers


@pytest.fixture
def alias() -> str:
    return f"custody-lc-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def os_client(shared_osmem: Osmem) -> Iterator[OpenSearch]:
    client = OpenSearch(hosts=[shared_osmem.url], max_retries=0)
    yield client
    client.close()


@pytest.fixture
def settings(settings: Settings, shared_osmem: Osmem, alias: str) -> Settings:
    return settings.model_copy(
        update={
            "search_backend": "opensearch",
            "opensearch_url": shared_osmem.url,
            "opensearch_index": alias,
            "opensearch_replicas": 0,
        }
    )


@pytest.fixture
def indexer(settings: Settings) -> Iterator[SearchIndexer]:
    index = OpenSearchIndex(
        url=settings.opensearch_url,
        index=settings.opensearch_index,
        layout=Layout.from_settings(settings),
    )
    yield SearchIndexer(index=index, batch=10, check_every=0.0)
    index.close()


@pytest.fixture
def app(app: Any) -> Iterator[Any]:
    yield app
    index = getattr(app.state, "search_index", None)
    if index is not None:
        index.close()


def init(url: str, alias: str, *args: str, **env: str) -> Any:
    base = {
        "CUSTODY_OPENSEARCH_URL": url,
        "CUSTODY_OPENSEARCH_INDEX": alias,
        "CUSTODY_OPENSEARCH_REPLICAS": "0",
        "CUSTODY_LOG_LEVEL": "ERROR",
    }
    saved = structlog.get_config()  # the command configures logging for its own process
    try:
        result = CliRunner().invoke(cli, ["opensearch", "init", *args], env=base | env)
    finally:
        structlog.configure(**saved)
    assert "Traceback" not in result.output, result.output
    return result


def catch_up(indexer: SearchIndexer, sessions: sessionmaker[Session]) -> None:
    for _ in range(100):
        if not indexer.run_once(sessions):
            return
    raise AssertionError("the indexer never caught up")


def head(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return read_head(session)[0]


def where(client: OpenSearch, alias: str) -> dict[int, list[str]]:
    """seq -> the concrete indices holding a document for it."""
    client.indices.refresh(index=alias)
    found = client.search(index=alias, body={"query": {"match_all": {}}, "size": 10_000})
    out: dict[int, list[str]] = {}
    for hit in found["hits"]["hits"]:
        out.setdefault(int(hit["_id"]), []).append(hit["_index"])
    return out


def roll_over(client: OpenSearch, alias: str, new: str) -> None:
    """What the ISM rollover action does (osmem-server has no `_rollover`): a new index
    from the template, and the write flag moved to it in one alias change."""
    client.indices.create(index=new)
    old = [n for n, v in client.indices.get_alias(name=alias).items()
           if v["aliases"][alias].get("is_write_index")]  # fmt: skip
    client.indices.update_aliases(
        body={
            "actions": [
                {"add": {"index": old[0], "alias": alias, "is_write_index": False}},
                {"add": {"index": new, "alias": alias, "is_write_index": True}},
            ]
        }
    )


class IsmStub:
    """Answers `_plugins/_ism/policies/<id>` (GET, PUT with if_seq_no/if_primary_term)
    and `_plugins/_ism/add/<index>` the way the ISM plugin does, and forwards every
    other request to osmem-server untouched. A stand-in ONLY for the ISM endpoints."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.policies: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, dict[str, list[str]]]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any, raw: bytes | None = None) -> None:
                data = raw if raw is not None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                url = urlsplit(self.path)
                if url.path.startswith("/_plugins/_ism/"):
                    query = parse_qs(url.query)
                    stub.calls.append((self.command, url.path, query))
                    payload = json.loads(body) if body else None
                    self._answer(*stub.ism(self.command, url.path, query, payload))
                    return
                request = urllib.request.Request(
                    stub.upstream + self.path,
                    data=body,
                    method=self.command,
                    headers={
                        "Content-Type": self.headers.get("Content-Type") or "application/json"
                    },
                )
                try:
                    with urllib.request.urlopen(request, timeout=10) as resp:
                        self._answer(resp.status, None, resp.read())
                except urllib.error.HTTPError as exc:
                    self._answer(exc.code, None, exc.read())

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def ism(
        self, method: str, path: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, Any]:
        parts = path.strip("/").split("/")  # _plugins _ism policies <id> | add <index>
        if parts[2] == "add" and method == "POST":
            reason = "This index already has a policy, use the update policy API"
            return 200, {
                "updated_indices": 0,
                "failures": True,
                "failed_indices": [{"index_name": parts[3], "reason": reason}],
            }
        pid, stored = parts[3], self.policies.get(parts[3])
        if method == "GET":
            if stored is None:
                return 404, {"error": {"type": "status_exception", "reason": "Policy not found"}}
            # The plugin returns the policy with fields and defaults of its own.
            policy = stored["policy"] | {"policy_id": pid, "schema_version": 21}
            return 200, {"_id": pid, "_seq_no": stored["seq_no"], "_primary_term": 1,
                         "policy": policy}  # fmt: skip
        if method == "PUT":
            seq_no = query.get("if_seq_no", [None])[0]
            if stored is not None and (seq_no is None or int(seq_no) != stored["seq_no"]):
                return 409, {"error": {"type": "version_conflict_engine_exception"}}
            self.policies[pid] = {
                "policy": body["policy"],
                "seq_no": 0 if stored is None else stored["seq_no"] + 1,
            }
            return 201 if stored is None else 200, {"_id": pid}
        return 400, {"error": f"no handler found for uri [{path}] and method [{method}]"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ism_stub(shared_osmem: Osmem) -> Iterator[IsmStub]:
    stub = IsmStub(shared_osmem.url)
    yield stub
    stub.close()


# ----------------------------------------------------------------- the resource files


def test_policy_states_and_transitions_hang_together() -> None:
    policy = lifecycle.load(lifecycle.POLICY_FILE)["policy"]
    names = [s["name"] for s in policy["states"]]
    assert len(names) == len(set(names))
    assert policy["default_state"] in names
    targets = {t["state_name"] for s in policy["states"] for t in s["transitions"]}
    assert targets <= set(names), "a transition leads to a state that does not exist"
    # Every state is reachable from the default one, and the last one deletes.
    reached, todo = set(), [policy["default_state"]]
    while todo:
        name = todo.pop()
        reached.add(name)
        state_ = next(s for s in policy["states"] if s["name"] == name)
        todo += [t["state_name"] for t in state_["transitions"] if t["state_name"] not in reached]
    assert reached == set(names)
    terminal = [s for s in policy["states"] if not s["transitions"]]
    assert [list(a) for s in terminal for a in s["actions"]] == [["delete"]]
    hot = next(s for s in policy["states"] if s["name"] == policy["default_state"])
    assert [list(a) for a in hot["actions"]] == [["rollover"]]


def test_template_and_policy_cover_the_same_indices_and_every_document_field() -> None:
    template = lifecycle.load(lifecycle.TEMPLATE_FILE)
    policy = lifecycle.load(lifecycle.POLICY_FILE)["policy"]
    assert template["index_patterns"] == ["{{alias}}-*"]
    assert [t["index_patterns"] for t in policy["ism_template"]] == [template["index_patterns"]]
    layout = Layout(alias="custody-events")
    assert layout.first_index.startswith(layout.alias + "-")  # matched by both patterns
    mappings = lifecycle.mappings()
    assert mappings["dynamic"] == "strict"  # an unexpected field is refused, not guessed
    fields = mappings["properties"]
    assert {k for k, v in fields.items() if v["type"] == "keyword"} == set(KEYWORDS)
    assert set(fields) == {*KEYWORDS, "seq", "text"}


def test_files_are_rendered_with_the_settings() -> None:
    settings = Settings(
        opensearch_index="audit",
        opensearch_shards=3,
        opensearch_replicas=2,
        opensearch_rollover_size="50gb",
        opensearch_rollover_age="7d",
        search_retention_days=30,
    )
    layout = Layout.from_settings(settings)
    template = lifecycle.index_template(layout, ism=True)
    index = template["template"]["settings"]["index"]
    assert (index["number_of_shards"], index["number_of_replicas"]) == (3, 2)
    assert index[lifecycle.ROLLOVER_ALIAS_SETTING] == "audit"
    assert template["index_patterns"] == ["audit-*"]
    # A cluster without ISM refuses the plugin's setting: it is left out there.
    plain = lifecycle.index_template(layout, ism=False)["template"]["settings"]["index"]
    assert lifecycle.ROLLOVER_ALIAS_SETTING not in plain
    policy = lifecycle.ism_policy(layout)["policy"]
    hot, _delete = policy["states"]
    assert hot["actions"] == [{"rollover": {"min_size": "50gb", "min_index_age": "7d"}}]
    assert hot["transitions"][0]["conditions"] == {"min_rollover_age": "30d"}
    assert policy["ism_template"][0]["index_patterns"] == ["audit-*"]
    assert "{{" not in json.dumps([template, policy])
    # Another retention is another policy, and the fingerprint says so.
    other = lifecycle.ism_policy(Layout(alias="audit", retention_days=31))["policy"]
    assert other["description"] != policy["description"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CUSTODY_OPENSEARCH_ROLLOVER_SIZE", "huge"),
        ("CUSTODY_OPENSEARCH_ROLLOVER_AGE", "0d"),
        ("CUSTODY_OPENSEARCH_SHARDS", "0"),
        ("CUSTODY_SEARCH_RETENTION_DAYS", "0"),
    ],
)
def test_init_refuses_bad_settings_naming_them(name: str, value: str) -> None:
    result = init("http://127.0.0.1:1", "x", **{name: value})
    assert result.exit_code == 2
    assert name in result.output


# ------------------------------------------------------------- against osmem-server


def test_init_without_ism_installs_template_and_alias_and_warns(
    shared_osmem: Osmem, os_client: OpenSearch, alias: str
) -> None:
    result = init(shared_osmem.url, alias, CUSTODY_OPENSEARCH_SHARDS="2")
    assert result.exit_code == 0, result.output
    assert f"index template {alias}: created" in result.output
    assert "ISM policy not installed: the cluster has no ISM plugin" in result.output
    assert f"write alias {alias} -> {alias}-000001: created" in result.output

    found = os_client.indices.get_index_template(name=alias)["index_templates"][0]
    assert found["index_template"]["index_patterns"] == [f"{alias}-*"]
    assert os_client.indices.get_alias(name=alias) == {
        f"{alias}-000001": {"aliases": {alias: {"is_write_index": True}}}
    }
    # The first index was made through the template: its mappings and settings.
    first = os_client.indices.get(index=f"{alias}-000001")[f"{alias}-000001"]
    assert first["mappings"] == lifecycle.mappings()
    assert first["settings"]["index"]["number_of_shards"] == "2"
    assert first["settings"]["index"]["number_of_replicas"] == "0"
    assert first["settings"]["index"]["refresh_interval"] == "30s"

    # The same call as a function: a structured warning, and the rest installed.
    with capture_logs() as logs:
        done = lifecycle.install(os_client, Layout(alias=alias, shards=2, replicas=0))
    assert (done.template, done.policy, done.index) == ("unchanged", "unavailable", "exists")
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["search.ism_unavailable"]


def test_init_is_idempotent_and_settings_changes_reach_new_indices_only(
    shared_osmem: Osmem, os_client: OpenSearch, alias: str
) -> None:
    assert init(shared_osmem.url, alias).exit_code == 0
    uuid_before = os_client.indices.get_settings(index=alias)[f"{alias}-000001"]["settings"]
    again = init(shared_osmem.url, alias)
    assert again.exit_code == 0
    assert f"index template {alias}: unchanged" in again.output
    assert f"write alias {alias}: exists" in again.output
    assert os_client.indices.get_settings(index=alias)[f"{alias}-000001"]["settings"] == (
        uuid_before
    )

    changed = init(shared_osmem.url, alias, CUSTODY_OPENSEARCH_REPLICAS="2")
    assert f"index template {alias}: updated" in changed.output
    template = os_client.indices.get_index_template(name=alias)["index_templates"][0]
    assert template["index_template"]["template"]["settings"]["index"]["number_of_replicas"] in (
        2,
        "2",
    )
    current = os_client.indices.get_settings(index=alias)[f"{alias}-000001"]["settings"]
    assert current["index"]["number_of_replicas"] == "0"  # the existing index is untouched
    roll_over(os_client, alias, f"{alias}-000002")
    nxt = os_client.indices.get_settings(index=f"{alias}-000002")[f"{alias}-000002"]
    assert nxt["settings"]["index"]["number_of_replicas"] == "2"


def test_search_works_end_to_end_after_init(
    client: TestClient,
    sessions: sessionmaker[Session],
    indexer: SearchIndexer,
    shared_osmem: Osmem,
    os_client: OpenSearch,
    alias: str,
) -> None:
    assert init(shared_osmem.url, alias).exit_code == 0
    seed(client)
    catch_up(indexer, sessions)
    held = where(os_client, alias)
    assert sorted(held) == list(range(1, head(sessions) + 1))
    assert {i for seats in held.values() for i in seats} == {f"{alias}-000001"}
    through = head(sessions)  # the search below appends its own audit.read record
    r = client.get("/v1/search", params={"q": "exfiltrate", "limit": 3})
    assert r.status_code == 200, r.text
    assert [e["id"] for e in r.json()["items"]] == ["s0", "s5", "s10"]
    assert r.json()["indexed_through"] == through


def test_indexer_installs_the_layout_itself(
    client: TestClient,
    sessions: sessionmaker[Session],
    indexer: SearchIndexer,
    os_client: OpenSearch,
    alias: str,
) -> None:
    seed(client)
    catch_up(indexer, sessions)
    assert os_client.indices.get_index_template(name=alias)["index_templates"]
    assert set(os_client.indices.get_alias(name=alias)) == {f"{alias}-000001"}
    assert len(where(os_client, alias)) == head(sessions)


def test_indexer_follows_a_rollover_and_retention_without_refilling(
    client: TestClient,
    sessions: sessionmaker[Session],
    indexer: SearchIndexer,
    os_client: OpenSearch,
    alias: str,
) -> None:
    seed(client)
    catch_up(indexer, sessions)
    first_head = head(sessions)
    roll_over(os_client, alias, f"{alias}-000002")

    client.post(
        "/v1/events", json=[event(id=f"new{i}", attributes={"p": "later"}) for i in range(3)]
    )
    with capture_logs() as logs:
        catch_up(indexer, sessions)
    assert "search.index_restart" not in [e["event"] for e in logs]  # no refill
    assert "search.index_rolled_over" in [e["event"] for e in logs]
    held = where(os_client, alias)
    assert sorted(held) == list(range(1, head(sessions) + 1))
    assert all(len(seats) == 1 for seats in held.values()), "a seq stored twice"
    assert {held[s][0] for s in range(1, first_head + 1)} == {f"{alias}-000001"}
    assert {held[s][0] for s in range(first_head + 1, head(sessions) + 1)} == {f"{alias}-000002"}

    # Erasing an event of the older index rewrites it there, instead of leaving its text
    # next to a new copy in the write index.
    events = client.get("/v1/events", params={"limit": 100}).json()["items"]
    s5 = next(e["seq"] for e in events if e["id"] == "s5")
    assert client.post(f"/v1/events/{s5}/erase", json={"reason": "subject"}).status_code == 200
    catch_up(indexer, sessions)
    held = where(os_client, alias)
    assert held[s5] == [f"{alias}-000001"]
    stored = os_client.get(index=f"{alias}-000001", id=str(s5))["_source"]
    assert "exfiltrate" not in stored["text"]
    found = client.get("/v1/search", params={"q": "exfiltrate"}).json()["items"]
    assert "s5" not in [e["id"] for e in found] and [e["id"] for e in found][:1] == ["s0"]
    later = client.get("/v1/search", params={"q": "later"}).json()["items"]
    assert [e["id"] for e in later] == ["new0", "new1", "new2"]

    # Retention deletes the oldest index: what it held is no longer searchable, and the
    # indexer (tracking the write index) carries on without refilling it.
    os_client.indices.delete(index=f"{alias}-000001")
    client.post("/v1/events", json=event(id="after-retention", attributes={"p": "later"}))
    with capture_logs() as logs:
        catch_up(indexer, sessions)
    assert "search.index_restart" not in [e["event"] for e in logs]
    later = client.get("/v1/search", params={"q": "later"}).json()["items"]
    assert [e["id"] for e in later] == ["new0", "new1", "new2", "after-retention"]
    assert client.get("/v1/search", params={"q": "exfiltrate"}).json()["items"] == []
    with sessions() as session:
        uuid_now = state.read_state(session=session, index_name=alias).index_uuid
    settings = os_client.indices.get_settings(index=f"{alias}-000002")
    assert uuid_now == settings[f"{alias}-000002"]["settings"]["index"]["uuid"]


def test_an_index_from_an_older_version_keeps_working_then_migrates(
    client: TestClient,
    sessions: sessionmaker[Session],
    indexer: SearchIndexer,
    shared_osmem: Osmem,
    os_client: OpenSearch,
    alias: str,
) -> None:
    # What Custody made before it had a template: an index of the configured name.
    os_client.indices.create(index=alias, body={"mappings": lifecycle.mappings()})
    seed(client)
    with capture_logs() as logs:
        catch_up(indexer, sessions)
    assert "search.legacy_index" in [e["event"] for e in logs]
    assert {i for seats in where(os_client, alias).values() for i in seats} == {alias}
    found = client.get("/v1/search", params={"q": "exfiltrate"}).json()["items"]
    assert [e["id"] for e in found][:2] == ["s0", "s5"]

    plain = init(shared_osmem.url, alias)
    assert plain.exit_code == 0 and "an older Custody made" in plain.output
    migrated = init(shared_osmem.url, alias, "--migrate")
    assert migrated.exit_code == 0, migrated.output
    assert f"Deleted the old index {alias}" in migrated.output
    assert f"write alias {alias} -> {alias}-000001: created" in migrated.output

    # The indexer sees another index and refills it from the database.
    with capture_logs() as logs:
        catch_up(indexer, sessions)
    assert "search.index_restart" in [e["event"] for e in logs]
    held = where(os_client, alias)
    assert sorted(held) == list(range(1, head(sessions) + 1))
    assert {i for seats in held.values() for i in seats} == {f"{alias}-000001"}
    found = client.get("/v1/search", params={"q": "exfiltrate"}).json()["items"]
    assert [e["id"] for e in found] == ["s0", "s5", "s10", "s15", "s20"]


# ------------------------------------------- ISM present (stub for _plugins/_ism only)


def test_ism_policy_is_created_then_left_alone_then_updated_with_seq_no(
    ism_stub: IsmStub, os_client: OpenSearch, alias: str
) -> None:
    result = init(ism_stub.url, alias, CUSTODY_SEARCH_RETENTION_DAYS="90")
    assert result.exit_code == 0, result.output
    assert f"ISM policy {alias}: created" in result.output
    stored = ism_stub.policies[alias]["policy"]
    assert stored["states"][0]["actions"] == [
        {"rollover": {"min_size": "30gb", "min_index_age": "1d"}}
    ]
    assert stored["states"][0]["transitions"][0]["conditions"] == {"min_rollover_age": "90d"}
    assert stored["ism_template"] == [{"index_patterns": [f"{alias}-*"], "priority": 200}]
    # The policy went in before the first index, which is attached to it, and the index
    # names the alias ISM rolls over.
    methods = [(m, p.split("/")[3]) for m, p, _ in ism_stub.calls]
    assert methods == [("GET", "policies"), ("PUT", "policies"), ("POST", "add")]
    first = os_client.indices.get_settings(index=f"{alias}-000001")[f"{alias}-000001"]
    assert first["settings"]["index"]["plugins"]["index_state_management"] == {
        "rollover_alias": alias
    }

    ism_stub.calls.clear()
    again = init(ism_stub.url, alias, CUSTODY_SEARCH_RETENTION_DAYS="90")
    assert f"ISM policy {alias}: unchanged" in again.output
    assert [m for m, _, _ in ism_stub.calls] == ["GET"]  # nothing written

    ism_stub.calls.clear()
    ism_stub.policies[alias]["seq_no"] = 7  # someone else edited it meanwhile
    changed = init(ism_stub.url, alias, CUSTODY_SEARCH_RETENTION_DAYS="30")
    assert f"ISM policy {alias}: updated" in changed.output
    put = [q for m, _, q in ism_stub.calls if m == "PUT"]
    assert put == [{"if_seq_no": ["7"], "if_primary_term": ["1"]}]
    conditions = ism_stub.policies[alias]["policy"]["states"][0]["transitions"][0]["conditions"]
    assert conditions == {"min_rollover_age": "30d"}
