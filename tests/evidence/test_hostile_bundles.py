"""verify-bundle against hostile archives, built here: extra, duplicate, absolute, `..`
and link members, an endless line, a tar instead of a zip. None of them is OK, and the
reason names what is wrong."""

from __future__ import annotations

import io
import tarfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.cli import app as cli
from service.evidence.bundle_verify import MAX_RECORD_LINE
from tests.evidence.dbhelpers import fill

pytestmark = pytest.mark.parametrize("backend", ["sqlite"])  # offline: no storage involved

Members = list[tuple[zipfile.ZipInfo, bytes]]


@pytest.fixture
def genuine(client: TestClient, tmp_path: Path) -> tuple[Members, Path]:
    fill(client, 6)
    response = client.post("/v1/exports", json={})
    assert response.status_code == 200, response.text
    key = tmp_path / "custody.pub.pem"
    key.write_bytes(client.get("/v1/log/public-key").content)
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()]
    return members, key


def _build(path: Path, members: Members) -> Path:
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names: the point
        for info, data in members:
            out.writestr(info, data)
    return path


def _verify(path: Path, key: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["verify-bundle", str(path), "--public-key", str(key)])
    return result.exit_code, result.output


def _named(name: str, data: bytes = b"x", mode: int = 0o100644) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.external_attr = mode << 16
    return info, data


def test_the_genuine_bundle_passes(genuine: tuple[Members, Path], tmp_path: Path) -> None:
    members, key = genuine
    code, output = _verify(_build(tmp_path / "ok.zip", members), key)
    assert code == 0 and "OK" in output, output


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda m: [*m, _named("run-me.sh", b"#!/bin/sh\nrm -rf ~\n")], "unexpected zip member"),
        (lambda m: [*m, _named("/etc/cron.d/custody")], "absolute path"),
        (lambda m: [*m, _named("../../.bashrc")], "'..' in its path"),
        (lambda m: [*m, _named("records/../../x")], "'..' in its path"),
        (lambda m: [*m, _named("C:/Windows/evil.dll")], "absolute path"),
        (lambda m: [*m, _named("notes/", b"", 0o040755)], "a directory"),
        (
            lambda m: (
                [(i, d) for i, d in m if i.filename != "README.txt"]
                + [_named("README.txt", b"/etc/passwd", 0o120777)]
            ),
            "a link or special file",
        ),
        (
            lambda m: [*m, *[(i, d) for i, d in m if i.filename == "records.ndjson"]],
            "zip member duplicated: records.ndjson",
        ),
    ],
    ids=["extra", "absolute", "dotdot", "nested-dotdot", "drive", "directory", "symlink", "dup"],
)
def test_hostile_members_are_refused(
    genuine: tuple[Members, Path],
    tmp_path: Path,
    tamper: Callable[[Members], Members],
    reason: str,
) -> None:
    members, key = genuine
    code, output = _verify(_build(tmp_path / "hostile.zip", tamper(members)), key)
    assert code != 0
    assert "OK" not in output
    assert reason in output, output


def test_an_endless_line_is_cut_at_the_cap(genuine: tuple[Members, Path], tmp_path: Path) -> None:
    """A record line past the cap (compressed, the archive stays tiny) is refused after
    reading at most the cap, never held whole."""
    members, key = genuine
    huge = b'{"hash": "' + b"0" * (MAX_RECORD_LINE + 10) + b'"}\n'
    members = [
        (info, huge + data if info.filename == "records.ndjson" else data) for info, data in members
    ]
    path = _build(tmp_path / "long.zip", members)
    assert path.stat().st_size < 64 * 1024
    code, output = _verify(path, key)
    assert code != 0
    assert f"records.ndjson line 1: longer than {MAX_RECORD_LINE} bytes" in output


def test_a_tar_is_not_a_bundle(genuine: tuple[Members, Path], tmp_path: Path) -> None:
    members, key = genuine
    path = tmp_path / "bundle.tar"
    with tarfile.open(path, "w") as tar:
        for info, data in members:
            entry = tarfile.TarInfo(info.filename)
            entry.size = len(data)
            tar.addfile(entry, io.BytesIO(data))
        link = tarfile.TarInfo("checkpoint.json.link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
        tar.addfile(link)
    code, output = _verify(path, key)
    assert code != 0 and "not a readable zip file" in output
