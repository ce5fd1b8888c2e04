"""The strict reader and the trailing-comma tolerant one used for `.json5` samples."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.adapters import AdapterError, load_file, loads_strict, loads_trailing_commas
from service.adapters.reader import strip_trailing_commas
from tests.adapters.helpers import fixture

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.sampled_from(',]}"\\ ax')),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


def test_trailing_commas() -> None:
    assert loads_trailing_commas('{"a": [1, 2,], "b": {"c": 3,},}') == {
        "a": [1, 2],
        "b": {"c": 3},
    }
    assert loads_trailing_commas('["x,]", "y\\",}",\n]') == ["x,]", 'y",}']


def test_strict_reader_refuses_what_json_does_not_allow() -> None:
    for text in ('{"a": 1,}', "[NaN]", "[Infinity]", "{'a': 1}"):
        with pytest.raises(AdapterError, match="invalid JSON"):
            loads_strict(text)
    # Only trailing commas are forgiven, nothing else JSON5 allows.
    with pytest.raises(AdapterError):
        loads_trailing_commas("{a: 1}")


@given(JSON)
def test_stripping_leaves_valid_json_unchanged(value: Any) -> None:
    for text in (json.dumps(value), json.dumps(value, indent=2)):
        assert strip_trailing_commas(text) == text


def test_official_openai_list_example_needs_the_tolerant_reader() -> None:
    path = fixture("openai/openai_openapi_list_audit_logs_response.example.json5")
    with pytest.raises(AdapterError):
        loads_strict(path.read_text(encoding="utf-8"))
    document = load_file(path)
    assert document["object"] == "list"
    assert [item["type"] for item in document["data"]] == ["project.archived", "api_key.updated"]


def test_gateway_log_without_final_newline() -> None:
    path = fixture("azure-openai/azure_openai_apim_gatewaylogs.jsonl")
    assert not path.read_bytes().endswith(b"\n")
    assert len(load_file(path)) == 2
