"""A request body as sent, or gunzipped when it says ``Content-Encoding: gzip``.

SDKs that batch (Segment's and RudderStack's among them) may compress what
they send; nothing in front of the API is assumed to undo it. The inflated
size is bounded by the same limit as a plain body: a small gzip body can
inflate a thousandfold.
"""

from __future__ import annotations

import zlib
from typing import Any

import anyio.to_thread
from litestar import Request

from touchline.api.problems import PROBLEMS, ApiProblem, Problem, bad_request, limit_exceeded


async def read_body(request: Request[Any, Any, Any], limit: int) -> bytes:
    """The body, decompressed when the SDK gzipped it (at most ``limit`` bytes)."""
    data = await request.body()
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity"):
        return data
    if encoding not in ("gzip", "x-gzip"):
        raise ApiProblem(
            Problem(
                type=f"{PROBLEMS}unsupported-encoding",
                title="Unsupported Media Type",
                status=415,
                detail=f"Content-Encoding {encoding!r}: send the body as is, or gzip",
            )
        )
    # Inflating a few megabytes takes milliseconds: not on the event loop.
    return await anyio.to_thread.run_sync(gunzip, data, limit)


def gunzip(data: bytes, limit: int) -> bytes:
    """Every gzip member of ``data``, decompressed; 413 past ``limit`` bytes
    (a small body can inflate a thousandfold), 400 when it is not gzip."""
    out = bytearray()
    rest = data
    while rest:
        member = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            # At most one byte past the limit (never 0: zlib reads 0 as no limit).
            out += member.decompress(rest, limit + 1 - len(out))
        except zlib.error as error:
            raise bad_request(f"the body is not gzip: {error}") from None
        if len(out) > limit:
            raise limit_exceeded(
                "TOUCHLINE_API_MAX_REQUEST_BYTES",
                limit,
                f"the request body is over the limit of {limit} bytes once decompressed",
            )
        if not member.eof:
            raise bad_request("the gzip body ends before its end")
        rest = member.unused_data
    return bytes(out)
