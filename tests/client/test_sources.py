"""Reading inputs: NDJSON or document sniffing, .gz, origins, derived ids, follow."""

from __future__ import annotations

import gzip
import os
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from service.client.follow import IDLE, Follower, FollowState
from service.client.ship import event_lines
from service.client.sources import InputError, Record, read_records
from tests.adapters.helpers import FIXTURES
from tests.conftest import event


def write(path: Path, data: bytes) -> str:
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return str(path)


def ndjson(*events: dict[str, Any]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


@pytest.mark.parametrize("name", ["e.ndjson", "e.json", "e.ndjson.gz", "e.txt"])
def test_ndjson_is_recognised_by_content_and_numbered_by_line(tmp_path: Path, name: str) -> None:
    data = b"\n" + ndjson(event(id="a"), event(id="b")) + b"\n" + ndjson(event(id="c"))
    records = list(read_records(write(tmp_path / name, data)))
    assert [r.value["id"] for r in records] == ["a", "b", "c"]
    assert [r.origin.rsplit(":", 1)[1] for r in records] == ["2", "3", "5"]
    assert records[0].line == orjson.dumps(event(id="a"))


@pytest.mark.parametrize("name", ["trail.json", "trail.json.gz"])
def test_a_pretty_printed_cloudtrail_document(tmp_path: Path, name: str) -> None:
    records = orjson.loads((FIXTURES / "stratus/aws.impact.bedrock-invoke-model.json").read_bytes())
    text = orjson.dumps({"Records": records}, option=orjson.OPT_INDENT_2)
    read = list(read_records(write(tmp_path / name, text)))
    assert len(read) == 15
    assert read[3].origin.endswith(f"{name}[3]")
    assert {event_lines(r, None)[0][:1] for r in read} == {b"{"}


def test_json5_document_with_trailing_commas() -> None:
    path = FIXTURES / "openai/openai_openapi_list_audit_logs_response.example.json5"
    assert len(list(read_records(str(path)))) == 2


def test_malformed_line_is_named(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.ndjson", ndjson(event()) + b'{"oops": \n')
    with pytest.raises(InputError, match=r"bad\.ndjson:2: malformed JSON"):
        list(read_records(path))


def test_derived_ids_are_stable_and_position_sensitive(tmp_path: Path) -> None:
    same = event()
    path = write(tmp_path / "e.ndjson", ndjson(same, same))
    first, second = (event_lines(r, None)[0] for r in read_records(path))
    again = [event_lines(r, None)[0] for r in read_records(path)]
    assert [first, second] == again  # the same file gives the same ids
    assert orjson.loads(first)["id"] != orjson.loads(second)["id"]  # two lines, two events
    assert orjson.loads(first)["id"].startswith("ship-")


def test_an_event_with_an_id_is_sent_verbatim() -> None:
    line = orjson.dumps(event(id="keep"))
    record = Record("f:1", orjson.loads(line), 0, len(line), line)
    assert event_lines(record, None) == [line]


def test_vendor_records_are_normalized_client_side() -> None:
    trail = orjson.loads(
        (FIXTURES / "cloudtrail-bedrock/sumologic_doc_bedrock_invokemodel.json").read_bytes()
    )
    (line,) = event_lines(Record("f", trail, 0, 0), None)
    shipped = orjson.loads(line)
    assert shipped["action"] == "model.invoke"
    assert shipped["raw"] == trail
    with pytest.raises(InputError, match="f: "):
        event_lines(Record("f", {**trail, "eventTime": "never"}, 0, 0), None)


# ------------------------------------------------------------------------ follow


def collect(follower: Follower, out: list[Any]) -> threading.Thread:
    thread = threading.Thread(target=lambda: out.extend(follower), daemon=True)
    thread.start()
    return thread


def wait_until(condition: Any, timeout: float = 10) -> None:
    stop = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        stop.wait(0.02)
    raise AssertionError("timed out")


def ids(items: list[Any]) -> list[str]:
    return [r.value["id"] for r in items if isinstance(r, Record)]


def test_follow_waits_for_complete_lines_truncation_and_resume(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_bytes(ndjson(event(id="1")) + orjson.dumps(event(id="2"))[:20])
    stop = threading.Event()
    seen: list[Any] = []
    thread = collect(Follower(str(path), state=None, stop=stop, poll=0.01, idle=0.05), seen)
    wait_until(lambda: IDLE in seen)
    assert ids(seen) == ["1"]  # the half-written line is not read yet
    with path.open("ab") as f:
        f.write(orjson.dumps(event(id="2"))[20:] + b"\n")
    wait_until(lambda: ids(seen) == ["1", "2"])
    last = [r for r in seen if isinstance(r, Record)][-1]
    assert last.end == path.stat().st_size
    path.write_bytes(ndjson(event(id="3")))  # truncated and rewritten (copytruncate)
    wait_until(lambda: ids(seen) == ["1", "2", "3"])
    stop.set()
    thread.join(5)

    stat = os.stat(path)
    state = FollowState(stat.st_dev, stat.st_ino, path.stat().st_size)
    state.save(tmp_path / "state.json")
    assert FollowState.load(tmp_path / "state.json") == state
    with path.open("ab") as f:
        f.write(ndjson(event(id="4")))
    resumed: list[Any] = []
    stop = threading.Event()
    thread = collect(Follower(str(path), state=state, stop=stop, poll=0.01, idle=0.05), resumed)
    wait_until(lambda: IDLE in resumed)
    stop.set()
    thread.join(5)
    assert ids(resumed) == ["4"]


def test_follow_reads_a_replaced_file_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_bytes(ndjson(event(id="old")))
    stat = os.stat(path)
    stale = FollowState(stat.st_dev, stat.st_ino, stat.st_size)
    os.rename(path, tmp_path / "audit.log.1")
    path.write_bytes(ndjson(event(id="new-1"), event(id="new-2")))
    stop = threading.Event()
    seen: list[Any] = []
    thread = collect(Follower(str(path), state=stale, stop=stop, poll=0.01, idle=0.05), seen)
    wait_until(lambda: IDLE in seen)
    stop.set()
    thread.join(5)
    assert ids(seen) == ["new-1", "new-2"]
