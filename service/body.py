"""Read a request body under a size limit, decompressing gzip as it streams.

The limit applies to the decompressed size and the read stops as soon as it is crossed,
so neither a huge upload nor a gzip bomb is ever held in memory.
"""

from __future__ import annotations

import zlib
from typing import Any

from fastapi import Request

from service.errors import PayloadTooLarge, UnsupportedMediaType


async def read_body(request: Request) -> bytes:
    limit: int = request.app.state.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The body is {declared} bytes; the limit is {limit}")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in {"identity", "gzip", ""}:
        raise UnsupportedMediaType(f"Content-Encoding {encoding} is not accepted; use gzip or none")
    inflater = _gunzip() if encoding == "gzip" else None
    out = bytearray()
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise PayloadTooLarge(f"The body is larger than the limit of {limit} bytes")
        if inflater is None:
            out += chunk
        else:
            inflater = _inflate(inflater, chunk, out, limit)
    if inflater is not None and received and not inflater.eof:
        # A cut-off upload must not pass for a shorter body: its events would be lost.
        raise UnsupportedMediaType("The gzip body is truncated")
    return bytes(out)


def _gunzip() -> Any:
    return zlib.decompressobj(16 + zlib.MAX_WBITS)


def _inflate(inflater: Any, data: bytes, out: bytearray, limit: int) -> Any:
    """Append the inflated `data` to `out`, never holding more than `limit` + 1 bytes.

    Returns the inflater to use for the next chunk: a new one when a gzip member ended
    and another begins (concatenated members are valid gzip, `cat a.gz b.gz`).
    """
    while data:
        try:
            # max_length >= 1 here: 0 would mean "unbounded" to zlib.
            out += inflater.decompress(data, limit + 1 - len(out))
        except zlib.error as exc:
            raise UnsupportedMediaType(f"The gzip body is corrupt: {exc}") from None
        if len(out) > limit:
            raise PayloadTooLarge(f"The body decompresses to more than the limit of {limit} bytes")
        if inflater.eof:
            data = inflater.unused_data
            if data:
                inflater = _gunzip()
        else:
            data = inflater.unconsumed_tail
    return inflater
