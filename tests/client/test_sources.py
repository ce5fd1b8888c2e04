"""Reading inputs: NDJSON or document sniffing, .gz, origins, derived ids, follow."""

from __future__ import annotations

import dataclasses
import gzip
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

from service.client.follow import IDLE, Follower
from service.client.registry import Registry
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


def follow(path: Path, registry: Registry, seen: list[Any]) -> tuple[threading.Event, Any]:
    stop = threading.Event()
    follower = Follower(str(path), registry=registry, stop=stop, poll=0.01, idle=0.05)
    return stop, collect(follower, seen)


def acknowledge(registry: Registry, seen: list[Any]) -> None:
    for record in seen:
        if isinstance(record, Record) and record.file_key is not None:
            registry.ack(record.file_key, record.end)


def test_follow_waits_for_complete_lines_truncation_and_resume(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_bytes(ndjson(event(id="1")) + orjson.dumps(event(id="2"))[:20])
    registry = Registry()
    seen: list[Any] = []
    stop, thread = follow(path, registry, seen)
    wait_until(lambda: IDLE in seen)
    assert ids(seen) == ["1"]  # the half-written line is not read yet
    with path.open("ab") as f:
        f.write(orjson.dumps(event(id="2"))[20:] + b"\n")
    wait_until(lambda: ids(seen) == ["1", "2"])
    last = [r for r in seen if isinstance(r, Record)][-1]
    assert last.end == path.stat().st_size
    path.write_bytes(ndjson(event(id="3")))  # truncated and rewritten in place
    wait_until(lambda: ids(seen) == ["1", "2", "3"])
    stop.set()
    thread.join(5)
    acknowledge(registry, seen)
    registry.save(tmp_path / "state.json")

    with path.open("ab") as f:
        f.write(ndjson(event(id="4")))
    resumed: list[Any] = []
    stop, thread = follow(path, Registry.load(tmp_path / "state.json"), resumed)
    wait_until(lambda: IDLE in resumed)
    stop.set()
    thread.join(5)
    assert ids(resumed) == ["4"]


def test_a_version_1_state_file_still_resumes(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_bytes(ndjson(event(id="a"), event(id="b")))
    stat = os.stat(path)
    state = tmp_path / "state.json"
    state.write_text(
        orjson.dumps({"device": stat.st_dev, "inode": stat.st_ino, "offset": stat.st_size}).decode()
    )
    with path.open("ab") as f:
        f.write(ndjson(event(id="c")))
    seen: list[Any] = []
    stop, thread = follow(path, Registry.load(state), seen)
    wait_until(lambda: IDLE in seen)
    stop.set()
    thread.join(5)
    assert ids(seen) == ["c"]


def test_rotated_files_are_finished_first_and_keep_their_ids(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    first = event(action="model.read")  # no id: the shipper derives one
    path.write_bytes(ndjson(first, event(id="a")))
    registry = Registry()
    seen: list[Any] = []
    stop, thread = follow(path, registry, seen)
    wait_until(lambda: IDLE in seen)
    stop.set()
    thread.join(5)
    acknowledge(registry, seen)
    original = event_lines(next(r for r in seen if isinstance(r, Record)), None)
    registry.save(tmp_path / "state.json")

    # While stopped: more lines, rotated twice (the older one compressed), a new file.
    with path.open("ab") as f:
        f.write(ndjson(event(id="b")))
    os.rename(path, tmp_path / "audit.log.1")
    (tmp_path / "audit.log.1.gz").write_bytes(
        gzip.compress((tmp_path / "audit.log.1").read_bytes())
    )
    os.unlink(tmp_path / "audit.log.1")
    path.write_bytes(ndjson(event(id="c")))
    os.rename(path, tmp_path / "audit.log.0")  # unknown to the registry, written since
    path.write_bytes(ndjson(event(id="d")))
    resumed: list[Any] = []
    registry = Registry.load(tmp_path / "state.json")
    stop, thread = follow(path, registry, resumed)
    wait_until(lambda: IDLE in resumed)
    stop.set()
    thread.join(5)
    assert ids(resumed) == ["b", "c", "d"]

    # The compressed file is the same file: re-reading it gives the same derived id.
    acknowledge(registry, resumed)
    entry = next(e for e in registry.entries if e.key == resumed[0].file_key)
    again = list(
        Follower(
            str(path),
            registry=Registry([dataclasses.replace(entry, offset=0, eof=-1)]),
            stop=threading.Event(),
        )._backlog(0)
    )
    assert event_lines(again[0], None) == original

    # Read to its end once, a rotated .gz is not decompressed again at the next start.
    registry.save(tmp_path / "state.json")
    notes: list[str] = []
    follower = Follower(
        str(path),
        registry=Registry.load(tmp_path / "state.json"),
        stop=threading.Event(),
        note=notes.append,
    )
    assert list(follower._backlog(0)) == []
    assert notes == []


def test_copytruncate_while_reading_finishes_from_the_copy(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_bytes(ndjson(*(event(id=f"a{i}") for i in range(3))))
    follower = Follower(str(path), registry=Registry(), stop=threading.Event(), poll=0.01)
    items = iter(follower)
    first = next(items)  # the reader is pulled: it stops here
    assert isinstance(first, Record) and first.value["id"] == "a0"
    with path.open("ab") as f:
        f.write(ndjson(event(id="a3")))
    shutil.copyfile(path, tmp_path / "audit.log.1")
    with path.open("r+b") as f:  # and written past the old position before it looks
        f.truncate(0)
        f.write(ndjson(*(event(id=f"b{i}") for i in range(10))))
    got: list[str] = []
    while len(got) < 13:
        item = next(items)
        if isinstance(item, Record):
            got.append(item.value["id"])
    assert got == ["a1", "a2", "a3"] + [f"b{i}" for i in range(10)]


def test_inode_reuse_is_a_new_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_bytes(ndjson(event(id="old-1"), event(id="old-2")))
    stat = os.stat(path)
    registry = Registry()
    fp = registry.add(stat, (1, "x"), str(path))  # a different first line, same inode
    registry.ack(fp.key, stat.st_size)
    seen: list[Any] = []
    stop, thread = follow(path, registry, seen)
    wait_until(lambda: IDLE in seen)
    stop.set()
    thread.join(5)
    assert ids(seen) == ["old-1", "old-2"]


def test_identical_lines_in_two_files_get_two_ids(tmp_path: Path) -> None:
    same = ndjson(*(event(attributes={"n": i}) for i in range(5)))
    a = write(tmp_path / "host-a.ndjson", same)
    b = write(tmp_path / "host-b.ndjson", same)
    ids_a = [orjson.loads(event_lines(r, None)[0])["id"] for r in read_records(a)]
    ids_b = [orjson.loads(event_lines(r, None)[0])["id"] for r in read_records(b)]
    assert len(set(ids_a) | set(ids_b)) == 10
    # Renaming a file (rotation) keeps its ids: they follow the file, not its name.
    os.rename(a, tmp_path / "host-a.ndjson.1")
    moved = [
        orjson.loads(event_lines(r, None)[0])["id"]
        for r in read_records(str(tmp_path / "host-a.ndjson.1"))
    ]
    assert moved == ids_a
