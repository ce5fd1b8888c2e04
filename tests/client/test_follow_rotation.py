"""`custody ship --follow` across log rotation, counted in a live server: every line is
stored exactly once whether the file is renamed, compressed or copytruncated, while the
shipper runs or while it is down. The rotation is client-side, so one backend suffices."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bench.common import make_token
from tests.client.live import Server, ship_process
from tests.client.test_ship_live import lines, stored, wait_for


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    live = Server(db_url, tmp_path)
    live.start()
    yield live
    live.stop()


def rotate(path: Path, how: str) -> None:
    """What logrotate does: `rename` (create), `gzip` (rename, then compress the rotated
    file at once, no delaycompress), `copytruncate`. Older rotations shift up by one."""
    folder = path.parent
    if (folder / f"{path.name}.1").exists():
        os.rename(folder / f"{path.name}.1", folder / f"{path.name}.2")
    if (folder / f"{path.name}.1.gz").exists():
        os.rename(folder / f"{path.name}.1.gz", folder / f"{path.name}.2.gz")
    rotated = folder / f"{path.name}.1"
    if how == "copytruncate":
        shutil.copyfile(path, rotated)
        with path.open("r+b") as f:
            f.truncate(0)
        return
    os.rename(path, rotated)
    path.touch()
    if how == "gzip":
        subprocess.run(["gzip", str(rotated)], check=True)  # keeps the mtime, drops .1


def append(path: Path, start: int, stop: int) -> None:
    with path.open("ab") as f:
        f.write(lines(start, stop))


def at_least(db_url: str, n: int) -> Callable[[], bool]:
    return lambda: stored(db_url)[0] >= n


def stop_shipper(shipper: subprocess.Popen[str], sig: int = signal.SIGKILL) -> str:
    """Stop it; what it printed on stderr."""
    shipper.send_signal(sig)
    return shipper.communicate(timeout=10)[1]


@pytest.mark.parametrize("how", ["rename", "gzip", "copytruncate"])
def test_rotation_while_the_shipper_is_down(
    db_url: str, server: Server, tmp_path: Path, how: str
) -> None:
    token = make_token(db_url)
    path, state = tmp_path / "audit.ndjson", tmp_path / "ship.state"
    args = [str(path), "--follow", "--state-file", str(state)]
    append(path, 0, 300)
    shipper = ship_process(args, url=server.url, token=token)
    wait_for(lambda: stored(db_url)[0] == 300)
    wait_for(lambda: state.exists() and b'"offset": %d' % path.stat().st_size in state.read_bytes())
    stop_shipper(shipper)

    append(path, 300, 1300)  # the repro: 1,000 lines, then rotation, while down
    rotate(path, how)
    append(path, 1300, 1500)
    shipper = ship_process(args, url=server.url, token=token)
    wait_for(lambda: stored(db_url)[0] >= 1500)
    append(path, 1500, 1600)  # and it follows the new file
    wait_for(lambda: stored(db_url)[0] >= 1600)
    stop_shipper(shipper, signal.SIGTERM)
    assert stored(db_url) == (1600, 1600)
    assert server.get(token, "/v1/log/verify")["ok"]


def test_two_rotations_while_the_shipper_is_down(
    db_url: str, server: Server, tmp_path: Path
) -> None:
    token = make_token(db_url)
    path, state = tmp_path / "audit.ndjson", tmp_path / "ship.state"
    args = [str(path), "--follow", "--state-file", str(state)]
    append(path, 0, 100)
    shipper = ship_process(args, url=server.url, token=token)
    wait_for(lambda: stored(db_url)[0] == 100)
    wait_for(lambda: state.exists() and b'"offset": %d' % path.stat().st_size in state.read_bytes())
    stop_shipper(shipper)

    append(path, 100, 200)
    rotate(path, "gzip")  # -> .1.gz, a file the shipper knew
    append(path, 200, 300)
    rotate(path, "gzip")  # -> .1.gz again (the first moves to .2.gz): never seen
    append(path, 300, 400)
    shipper = ship_process(args, url=server.url, token=token)
    wait_for(lambda: stored(db_url)[0] >= 400)
    stop_shipper(shipper, signal.SIGTERM)
    assert stored(db_url) == (400, 400)


def test_rotation_while_the_shipper_runs(db_url: str, server: Server, tmp_path: Path) -> None:
    token = make_token(db_url)
    path, state = tmp_path / "audit.ndjson", tmp_path / "ship.state"
    path.touch()
    args = [str(path), "--follow", "--state-file", str(state), "--batch-size", "100"]
    shipper = ship_process(args, url=server.url, token=token)
    append(path, 0, 10)
    written = 10
    wait_for(lambda: stored(db_url)[0] == 10)  # the shipper is up
    for how in ["rename", "gzip", "copytruncate", "rename", "gzip", "copytruncate"]:
        for _ in range(5):  # written in bursts while the shipper reads
            append(path, written, written + 60)
            written += 60
        if how == "copytruncate":
            # copytruncate loses what is written between the copy and the truncation
            # (logrotate's manual says so): the test writer pauses instead. Lines the
            # shipper had not read yet are found in the copy (test_sources has the
            # deterministic version).
            wait_for(at_least(db_url, written - 60))
            rotate(path, how)
            wait_for(at_least(db_url, written))
        else:
            rotate(path, how)
    append(path, written, written + 50)
    written += 50
    wait_for(lambda: stored(db_url)[0] >= written)
    stop_shipper(shipper, signal.SIGTERM)
    assert stored(db_url) == (written, written)


def test_identical_lines_in_two_files_are_both_stored(
    db_url: str, server: Server, tmp_path: Path
) -> None:
    token = make_token(db_url)
    # Two hosts' logs with the same id-less lines at the same offsets.
    same = b"".join(
        line + b"\n" for line in lines(0, 15).split(b"\n") if line and b'"id":"e' not in line
    )
    assert same.count(b"\n") == 5
    a, b = tmp_path / "host-a.ndjson", tmp_path / "host-b.ndjson"
    a.write_bytes(same)
    b.write_bytes(same)
    shipper = ship_process([str(a), str(b)], url=server.url, token=token)
    out, err = shipper.communicate(timeout=60)
    assert shipper.returncode == 0, err
    assert "10 events shipped: 10 new, 0 already stored" in out
    assert stored(db_url) == (10, 10)
