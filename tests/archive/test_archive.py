"""`custody archive`: bundles that verify offline, partitions dropped only after that,
the log.archive record, 410 for archived seqs, verify/replay after archival, offline
replay from the archive, refusals and failures that drop nothing."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from service.cli import app as cli
from service.config import Settings
from service.retention import archive as archive_mod
from service.retention.archive import ArchiveRefused, archive
from tests.archive.conftest import Log, partitions, pg
from tests.conftest import event
from tests.incidents.conftest import open_incident, patch

FUTURE = datetime.now(UTC) + timedelta(days=1)


def run_cli(settings: Settings, *args: str) -> Any:
    env = {
        "CUSTODY_DATABASE_URL": settings.database_url,
        "CUSTODY_SIGNING_KEY_PATH": str(settings.signing_key_path),
        "CUSTODY_LOG_FORMAT": "json",
    }
    return CliRunner().invoke(cli, list(args), env=env)


def log_archive_records(log: Log) -> list[dict[str, Any]]:
    page = log.client.get("/v1/events", params={"action": "log.archive"}).json()
    return list(page["items"])


def test_archive_writes_verified_bundles_then_drops_the_partitions(
    log: Log, tmp_path: Path
) -> None:
    log.ingest(24)  # seqs 1..25: partitions s1, s11 full; s21 holds the head
    log.checkpoint()
    out = tmp_path / "archive"
    result = run_cli(log.settings, "archive", "--before", "2999-01-01", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "Archived log_records_s000000000001 (seq 1..10)" in result.output
    assert "Archived log_records_s000000000011 (seq 11..20)" in result.output
    assert "Kept: log_records_s000000000021 holds the head of the log" in result.output
    bundles = sorted(out.glob("*.zip"))
    assert [b.name for b in bundles] == ["log_records_s000000000001.zip",
                                         "log_records_s000000000011.zip"]  # fmt: skip

    # Each bundle verifies offline with only the public key, as a third party would.
    key = log.public_key(tmp_path / "public.pem")
    for bundle in bundles:
        checked = run_cli(log.settings, "verify-bundle", str(bundle), "--public-key", str(key))
        assert checked.exit_code == 0, checked.output
        assert "OK 10 records, 10 inclusion proofs" in checked.output
        assert "anchor: 0 evidence records" in checked.output  # consistency proof checked

    # The partitions are gone from the database; the head's partition stays.
    live = partitions(log.settings.database_url)
    assert "log_records_s000000000001" not in live and "log_records_s000000000011" not in live
    assert "log_records_s000000000021" in live
    with pg(log.settings.database_url) as conn:
        assert conn.execute("SELECT min(seq) FROM log_records").fetchone() == (21,)

    # Every archival is in the log: range, last hash, bundle and its sha256.
    records = log_archive_records(log)
    assert [r["resource"]["id"] for r in records] == ["log_records_s000000000001",
                                                      "log_records_s000000000011"]  # fmt: skip
    first = records[0]["attributes"]
    assert first["first_seq"] == 1 and first["last_seq"] == 10 and first["records"] == 10
    assert first["bundle"] == "log_records_s000000000001.zip"
    assert first["bundle_sha256"] == hashlib.sha256(bundles[0].read_bytes()).hexdigest()

    # An archived seq is 410 naming its bundle; a live one still reads.
    gone = log.client.get("/v1/events/5")
    assert gone.status_code == 410
    assert gone.headers["content-type"].startswith("application/problem+json")
    problem = gone.json()
    assert "log_records_s000000000001.zip" in problem["detail"]
    assert problem["archive"]["bundle_sha256"] == first["bundle_sha256"]
    assert log.client.get("/v1/events/21").status_code == 200
    assert log.client.get("/v1/events/9999").status_code == 404

    # Verification and replay start at the first live record, linked by the archive record.
    verified = log.client.get("/v1/log/verify").json()
    assert verified["ok"], verified
    assert verified["from_seq"] == 21 and verified["archived_through"] == 20
    log.checkpoint()
    lines = log.client.get("/v1/replay").text.strip().splitlines()
    trailer = json.loads(lines[-1])["trailer"]
    assert trailer["verified"], trailer
    assert json.loads(lines[0])["seq"] == 21

    # Appends go on, and a resend of an archived event is still a duplicate.
    log.ingest(3)
    again = log.client.post("/v1/events", json=[event(id="e2", actor={"id": "user2"})]).json()
    assert again["duplicates"] == 1 and again["accepted"] == 0
    assert log.client.get("/v1/log/verify").json()["ok"]

    # The archived range replays offline from the bundles.
    replayed = run_cli(log.settings, "replay", "--archive", str(out), "--public-key", str(key),
                       "--from-seq", "8", "--to-seq", "12")  # fmt: skip
    assert replayed.exit_code == 0, replayed.output
    rows = [json.loads(line) for line in replayed.stdout.strip().splitlines()]
    assert [r["seq"] for r in rows[:-1]] == [8, 9, 10, 11, 12]
    assert all(r["verified"] for r in rows[:-1])
    assert rows[-1]["trailer"]["verified"] and rows[-1]["trailer"]["bundles"] == 2


def test_a_bundle_that_does_not_verify_drops_nothing(
    log: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log.ingest(14)
    log.checkpoint()
    real = archive_mod.write_bundle

    def tampered(out: Any, *args: Any, **kwargs: Any) -> Any:
        """The real writer, then one byte of one record changed (a bad disk, a bug)."""
        buffer = io.BytesIO()
        manifest = real(buffer, *args, **kwargs)
        source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
        with zipfile.ZipFile(out, "w") as target:
            for name in source.namelist():
                data = source.read(name)
                if name == "records.ndjson":
                    data = data.replace(b'"user3"', b'"user4"', 1)
                target.writestr(name, data)
        return manifest

    monkeypatch.setattr(archive_mod, "write_bundle", tampered)
    with pytest.raises(ArchiveRefused, match="does not verify: record seq"):
        archive(factory=log.sessions, before=FUTURE, directory=tmp_path / "a", signer=log.signer)
    assert "log_records_s000000000001" in partitions(log.settings.database_url)
    assert list((tmp_path / "a").iterdir()) == []  # no bundle left claiming the range
    assert log_archive_records(log) == []
    assert log.client.get("/v1/events/5").status_code == 200
    assert log.client.get("/v1/log/verify").json()["from_seq"] == 1


def test_a_failure_at_the_drop_loses_nothing(log: Log, tmp_path: Path, runtime_role: str) -> None:
    """As the runtime role (no DDL rights) the detach fails: the bundle was written and
    verified, but no record, no registry change, and the partition stays."""
    log.ingest(14)
    log.checkpoint()
    roles = run_cli(log.settings, "db", "roles", "--runtime-role", runtime_role)
    assert roles.exit_code == 0, roles.output
    url = make_url(log.settings.database_url).set(username=runtime_role)
    runtime = log.settings.model_copy(
        update={"database_url": url.render_as_string(hide_password=False)}
    )
    result = run_cli(runtime, "archive", "--before", "2999-01-01", "-o", str(tmp_path / "a"))
    assert result.exit_code != 0
    assert "must be owner of table log_records" in result.output
    assert "log_records_s000000000001" in partitions(log.settings.database_url)
    assert log_archive_records(log) == []
    with pg(log.settings.database_url) as conn:
        archived = conn.execute("SELECT count(*) FROM log_partitions WHERE archived_at IS NOT NULL")
        assert archived.fetchone() == (0,)
    assert log.client.get("/v1/log/verify").json()["ok"]


def test_refuses_the_head_partition_and_an_unsigned_range(log: Log, tmp_path: Path) -> None:
    log.ingest(6)  # head 7, in the first partition
    log.checkpoint()
    out = tmp_path / "a"
    refused = run_cli(log.settings, "archive", "--before", "2999-01-01", "-o", str(out))
    assert refused.exit_code == 1
    assert "log_records_s000000000001 holds the head of the log (seq 7)" in refused.output
    log.ingest(8)  # head 15: the first partition is full, but not under a checkpoint
    unsigned = run_cli(log.settings, "archive", "--before", "2999-01-01", "-o", str(out))
    assert unsigned.exit_code == 1
    assert "not all covered by a signed checkpoint yet (latest tree size 7)" in unsigned.output
    # Records received after --before are kept too.
    log.checkpoint()
    recent = run_cli(log.settings, "archive", "--before", "2000-01-01", "-o", str(out))
    assert recent.exit_code == 1 and "not before 2000-01-01" in recent.output
    assert log_archive_records(log) == []
    assert not out.exists() or list(out.iterdir()) == []


def test_policy_uses_retention_days(log: Log, tmp_path: Path) -> None:
    log.ingest(14)
    log.checkpoint()
    forever = run_cli(log.settings, "archive", "--policy")
    assert forever.exit_code == 0 and "keep forever" in forever.output
    young = CliRunner().invoke(
        cli, ["archive", "--policy", "-o", str(tmp_path / "a")],
        env={"CUSTODY_DATABASE_URL": log.settings.database_url,
             "CUSTODY_SIGNING_KEY_PATH": str(log.settings.signing_key_path),
             "CUSTODY_RETENTION_DAYS": "30"},
    )  # fmt: skip
    assert young.exit_code == 0, young.output  # records are minutes old: kept, not an error
    assert "Nothing archived" in young.output and log_archive_records(log) == []


def test_sqlite_says_archival_is_postgresql_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    result = CliRunner().invoke(
        cli, ["archive", "--before", "2999-01-01", "-o", str(tmp_path / "a")],
        env={"CUSTODY_DATABASE_URL": url, "CUSTODY_SIGNING_KEY_PATH": str(tmp_path / "k.pem")},
    )  # fmt: skip
    assert result.exit_code == 1
    assert "archival needs PostgreSQL" in result.output


def test_replay_from_an_archive_with_a_missing_bundle_fails(log: Log, tmp_path: Path) -> None:
    log.ingest(24)
    log.checkpoint()
    out = tmp_path / "a"
    archive(factory=log.sessions, before=FUTURE, directory=out, signer=log.signer)
    (out / "log_records_s000000000001.zip").unlink()
    key = log.public_key(tmp_path / "public.pem")
    result = run_cli(log.settings, "replay", "--archive", str(out), "--public-key", str(key))
    assert result.exit_code == 1
    assert "gap: records 1..10 are in no bundle" in result.output


def test_held_records_stay_online_until_released(log: Log, tmp_path: Path) -> None:
    log.ingest(24)  # seqs 2..25 from user0..user23; s1 holds user3's event
    hold = log.client.post("/v1/holds", json={"reason": "litigation: user3", "actor": "user3"})
    assert hold.status_code == 201, hold.text
    incident = open_incident(log.client, evidence=[15])  # evidence in s11
    log.checkpoint()
    out = tmp_path / "archive"

    held = run_cli(log.settings, "archive", "--before", "2999-01-01", "-o", str(out))
    assert held.exit_code == 1
    assert "log_records_s000000000001 holds records that are under legal hold HOLD-1" in (
        held.output
    )
    assert log_archive_records(log) == [] and partitions(log.settings.database_url)[:1] == [
        "log_records_s000000000001"
    ]

    released = log.client.post(f"/v1/holds/{hold.json()['id']}/release", json={"reason": "settled"})
    assert released.status_code == 200, released.text
    log.checkpoint()
    first = run_cli(log.settings, "archive", "--before", "2999-01-01", "-o", str(out))
    assert first.exit_code == 0, first.output
    assert "Archived log_records_s000000000001 (seq 1..10)" in first.output
    assert "log_records_s000000000011 holds records that are evidence of INC-1, which is open" in (
        " ".join(first.output.split())
    )

    assert patch(log.client, incident, status="false_positive").status_code == 200
    log.checkpoint()
    second = run_cli(log.settings, "archive", "--before", "2999-01-01", "-o", str(out))
    assert second.exit_code == 0, second.output
    assert "Archived log_records_s000000000011 (seq 11..20)" in second.output
    assert len(log_archive_records(log)) == 2
