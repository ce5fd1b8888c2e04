"""Adapters: pure functions that turn real AI-service log formats into Custody events.

Each format has one module (CloudTrail, OpenAI audit logs, GCP audit logs, Bedrock
invocation logs, Azure OpenAI diagnostics). Output is a schema v1 event dict with the
original record under `raw`; nothing here touches the database or the network.
"""

from service.adapters.common import AdapterError, Event, format_time, normalize_time, parse_time
from service.adapters.reader import load_file, loads_strict, loads_trailing_commas
from service.adapters.registry import (
    ADAPTERS,
    Adapter,
    NormalizeError,
    detect_format,
    flatten,
    normalize,
    normalize_lines,
)
from service.adapters.vocabulary import mapping_markdown

__all__ = [
    "ADAPTERS",
    "Adapter",
    "AdapterError",
    "Event",
    "NormalizeError",
    "detect_format",
    "flatten",
    "format_time",
    "load_file",
    "loads_strict",
    "loads_trailing_commas",
    "mapping_markdown",
    "normalize",
    "normalize_lines",
    "normalize_time",
    "parse_time",
]
