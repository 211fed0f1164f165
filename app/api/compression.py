"""gzip for answers a client accepts compressed, with an ETag of their own (RFC 9110 §8.8.3: another
representation needs another strong validator) and `Vary: Accept-Encoding`.

Starlette's GZipMiddleware keeps the identity ETag on the gzip body, so a cache could answer one encoding with
the other's validator. Here the gzip answer's tag is the identity tag with a `-gzip` suffix; an If-None-Match
naming either tag reaches the routes as the identity tag, so a 304 is given for both, carrying the tag the
client sent. The event stream passes through untouched: compressing it would hold events back in the buffer.

A finished body (its length in its head) is compressed whole, and its gzip length given. A streamed one (the
whole map, a wide page of changes: app/api/streams.py) is compressed a part at a time, each part flushed as it
goes, so memory stays flat and the first bytes leave at once. gzip is the only encoding offered: every client
takes it, and br or zstd would add a dependency for a few percent on JSON.
"""

from __future__ import annotations

import zlib
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SUFFIX = "-gzip"
# Below this gzip saves nothing worth the CPU (a streamed answer's size is not known: it is compressed).
MINIMUM_BYTES = 512
LEVEL = 6
GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib's gzip container (header and CRC trailer), as gzip.compress writes
COMPRESSIBLE = (
    "application/json",
    "application/geo+json",
    "application/problem+json",
    "application/vnd.mapbox-vector-tile",
    "application/javascript",
    "text/javascript",
    "text/html",
    "text/css",
    "text/plain",
)


def gzip_accepted(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding value takes gzip."""
    for coding in accept_encoding.split(","):
        name, _, params = coding.strip().partition(";")
        refused = params.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000")
        if name.strip().lower() in ("gzip", "*") and not refused:
            return True
    return False


def gzip_tag(etag: str) -> str:
    """The tag of the gzip representation: "abc" becomes "abc-gzip", W/"abc" becomes W/"abc-gzip"."""
    return etag[:-1] + SUFFIX + '"' if etag.endswith('"') else etag


def identity_tags(if_none_match: str) -> tuple[str, bool]:
    """If-None-Match with every gzip tag turned into its identity tag, and whether any was a gzip tag."""
    tags, had_gzip = [], False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag.endswith(SUFFIX + '"'):
            tag, had_gzip = tag[: -len(SUFFIX) - 1] + '"', True
        tags.append(tag)
    return ", ".join(tags), had_gzip


def first_header(raw: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    """The first value of a header in an ASGI header list (whose names are lower-case), without building a
    Headers around it: this middleware reads a few headers of every request and answer."""
    for key, value in raw:
        if key == name:
            return value
    return None


def add_vary(raw: list[tuple[bytes, bytes]]) -> None:
    """`Vary: Accept-Encoding` on an answer's header list, after the values it has (add_vary_header's rule)."""
    for index, (key, value) in enumerate(raw):
        if key == b"vary":
            raw[index] = (key, value + b", Accept-Encoding")
            return
    raw.append((b"vary", b"Accept-Encoding"))


class GzipByEncoding:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = scope["headers"]
        # HEAD answers carry the identity length and no body: nothing to compress.
        accept_encoding = first_header(request_headers, b"accept-encoding")
        wants_gzip = (
            scope["method"] != "HEAD"
            and accept_encoding is not None
            and gzip_accepted(accept_encoding.decode("latin-1"))
        )
        client_had_gzip_tag = False
        if if_none_match := first_header(request_headers, b"if-none-match"):
            rewritten, client_had_gzip_tag = identity_tags(if_none_match.decode("latin-1"))
            scope = dict(scope)
            scope["headers"] = [
                (k, rewritten.encode("latin-1") if k == b"if-none-match" else v) for k, v in request_headers
            ]

        start: Message | None = None
        encoder: Any = None
        whole: list[bytes] | None = None  # the parts of a body whose length its head gives

        async def send_encoded(message: Message) -> None:
            nonlocal start, encoder, whole
            if message["type"] == "http.response.start":
                raw = message["headers"]
                content_type = first_header(raw, b"content-type") or b""
                media = content_type.split(b";")[0].strip().lower().decode("latin-1")
                length = first_header(raw, b"content-length")
                if message["status"] == 304:
                    if client_had_gzip_tag and (tag := first_header(raw, b"etag")):
                        MutableHeaders(raw=raw)["etag"] = gzip_tag(tag.decode("latin-1"))
                    add_vary(raw)
                    await send(message)
                elif media not in COMPRESSIBLE or first_header(raw, b"content-encoding") is not None:
                    await send(message)  # the stream, images, an answer already encoded: as they are
                else:
                    add_vary(raw)
                    if not wants_gzip or (length is not None and int(length) < MINIMUM_BYTES):
                        await send(message)
                    else:
                        start, encoder = message, zlib.compressobj(LEVEL, zlib.DEFLATED, GZIP_WBITS)
                        whole = [] if length is not None else None
                return
            if encoder is None:
                await send(message)
                return
            more = message.get("more_body", False)
            if whole is not None:
                # A finished body (its length known): compressed whole, so the gzip answer gives its length too.
                whole.append(message.get("body", b""))
                if more:
                    return
                body = encoder.compress(b"".join(whole)) + encoder.flush()
            else:
                # A streamed body: each part compressed and sent as it comes, never held whole. A sync flush ends
                # on a byte boundary, so the client can inflate all that was sent so far.
                body = encoder.compress(message.get("body", b"")) + encoder.flush(
                    zlib.Z_SYNC_FLUSH if more else zlib.Z_FINISH
                )
            if start is not None:
                headers = MutableHeaders(raw=start["headers"])
                headers["content-encoding"] = "gzip"
                if etag := headers.get("etag"):
                    headers["etag"] = gzip_tag(etag)
                if whole is not None:
                    headers["content-length"] = str(len(body))
                await send(start)
                start = None
            if body or not more:
                await send({"type": "http.response.body", "body": body, "more_body": more})

        await self.app(scope, receive, send_encoded)
