"""Checkpoints, public key and proofs over HTTP."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.auth.schemas import Scope
from service.config import Settings
from service.evidence.keys import load_public_key
from service.evidence.merkle import verify_consistency, verify_inclusion
from service.evidence.signing import Checkpoint, verify_checkpoint
from service.evidence.task import Checkpointer
from tests.evidence.dbhelpers import checkpoint, fill


def _signed(body: dict[str, Any]) -> Checkpoint:
    return Checkpoint.from_dict({k: v for k, v in body.items() if k != "id"})


def test_checkpoint_is_signed_with_the_served_key(client: TestClient, settings: Settings) -> None:
    assert client.get("/v1/log/checkpoints/latest").status_code == 404
    fill(client, 12)
    made = checkpoint(client)
    response = client.get("/v1/log/public-key")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-pem-file")
    public_key = load_public_key(response.content)
    verify_checkpoint(public_key, _signed(made))
    assert made["tree_size"] == client.get("/v1/log/head").json()["seq"]  # caught up first
    assert client.get("/v1/log/checkpoints/latest").json() == made
    mode = stat.S_IMODE(os.stat(settings.signing_key_path).st_mode)
    assert mode == 0o600


def test_checkpoints_are_kept_and_listed_with_a_cursor(client: TestClient) -> None:
    fill(client, 3)
    made = [checkpoint(client) for _ in range(3)]
    page = client.get("/v1/log/checkpoints", params={"limit": 2}).json()
    assert [c["id"] for c in page["items"]] == [made[0]["id"], made[1]["id"]]
    rest = client.get("/v1/log/checkpoints", params={"after": page["next_cursor"]}).json()
    assert rest == {"items": [made[2]], "next_cursor": None}


def test_on_demand_checkpoint_needs_admin(
    client: TestClient, make_token: Callable[..., str]
) -> None:
    reader = {"Authorization": f"Bearer {make_token(Scope.read)}"}
    assert client.post("/v1/log/checkpoints", headers=reader).status_code == 403
    assert client.get("/v1/log/public-key", headers=reader).status_code == 200


def test_worker_checkpoints_every_n_events(
    client: TestClient, sessions: Any, settings: Settings
) -> None:
    task = Checkpointer(settings.model_copy(update={"checkpoint_every_events": 10}))
    assert task.run_once(sessions) is True  # the token's own record
    fill(client, 5)
    task.run_once(sessions)
    first = client.get("/v1/log/checkpoints").json()["items"]
    assert len(first) == 1  # the first one is made as soon as there is anything
    fill(client, 4)
    assert task.run_once(sessions) is True
    assert len(client.get("/v1/log/checkpoints").json()["items"]) == 1  # 4 < 10
    fill(client, 6)
    task.run_once(sessions)
    items = client.get("/v1/log/checkpoints").json()["items"]
    assert len(items) == 2 and items[1]["tree_size"] >= first[0]["tree_size"] + 10
    assert task.run_once(sessions) is False  # idle: nothing to do, nothing signed


def test_proofs_verify_against_the_checkpoint(client: TestClient) -> None:
    fill(client, 20)
    old = checkpoint(client)
    fill(client, 9)
    new = checkpoint(client)
    public_key = load_public_key(client.get("/v1/log/public-key").content)
    for seq in (1, 7, old["tree_size"]):
        proof = client.get("/v1/log/proofs/inclusion", params={"seq": seq}).json()
        assert proof["tree_size"] == new["tree_size"] and proof["root_hash"] == new["root_hash"]
        assert verify_inclusion(
            bytes.fromhex(proof["leaf_hash"]),
            proof["leaf_index"],
            proof["tree_size"],
            [bytes.fromhex(h) for h in proof["inclusion_path"]],
            bytes.fromhex(new["root_hash"]),
        )
    response = client.get(
        "/v1/log/proofs/consistency",
        params={"first": old["tree_size"], "second": new["tree_size"]},
    )
    body = response.json()
    assert body["first_root"] == old["root_hash"] and body["second_root"] == new["root_hash"]
    assert verify_consistency(
        old["tree_size"],
        new["tree_size"],
        bytes.fromhex(old["root_hash"]),
        bytes.fromhex(new["root_hash"]),
        [bytes.fromhex(h) for h in body["consistency_path"]],
    )
    verify_checkpoint(public_key, _signed(old))


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/log/proofs/inclusion", {"seq": 0, "tree_size": 5}, "seq"),
        ("/v1/log/proofs/inclusion", {"seq": 6, "tree_size": 5}, "seq"),
        ("/v1/log/proofs/inclusion", {"seq": 1, "tree_size": 10_000}, "tree_size"),
        ("/v1/log/proofs/inclusion", {"seq": "x", "tree_size": 5}, "seq"),
        ("/v1/log/proofs/inclusion", {"tree_size": 5}, "seq"),
        ("/v1/log/proofs/consistency", {"first": 5, "second": 3}, "first"),
        ("/v1/log/proofs/consistency", {"first": 0, "second": 3}, "first"),
        ("/v1/log/proofs/consistency", {"first": 1, "second": 10_000}, "second"),
        ("/v1/log/checkpoints", {"after": -1}, "after"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(
    client: TestClient, path: str, params: dict[str, Any], field: str
) -> None:
    fill(client, 8)
    checkpoint(client)
    response = client.get(path, params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert field in [e["field"] for e in response.json()["errors"]]
