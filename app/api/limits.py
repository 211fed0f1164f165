"""Guards that protect the service, before any route runs: the size of a request body, NUL characters anywhere in
a request, HEAD answered as GET. (The rate per API key and of wrong keys per address are counted in the primary,
with the key lookup: app/api/auth.py.)"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import DomainError, InvalidParameter, PayloadTooLarge, Unprocessable, problem
from app.schemas.common import unstorable

NUL = "\x00"
# The scope entry that marks a HEAD request, which the routes see as a GET: a streamed answer reads no further
# than its headers need (app/api/streams.py).
HEAD = "territory.head"
# A JSON body spells NUL or a surrogate half as an escape: only bodies holding one are parsed here, to say where.
JSON_UNSTORABLE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


async def refuse(scope: Scope, receive: Receive, send: Send, error: DomainError) -> None:
    response = problem(
        error.status,
        error.title,
        error.detail,
        instance=scope["path"],
        headers=error.headers,
        **error.members,
    )
    await response(scope, receive, send)


def asked_head(scope: Scope) -> bool:
    """Whether the request, a GET by now, came as HEAD (its body is not sent: only its headers matter)."""
    return bool(scope.get(HEAD, False))


def nul_in_request(scope: Scope) -> InvalidParameter | None:
    """PostgreSQL cannot store a NUL character in text: a request with one anywhere is refused, naming where."""
    if NUL in scope["path"]:
        return InvalidParameter("path", "must not contain a NUL character (%00)", location="path")
    query: bytes = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if NUL in name or NUL in value:
                return InvalidParameter(name.replace(NUL, "%00"), "must not contain a NUL character (%00)")
    for name, value in scope["headers"]:
        if b"\x00" in value:
            return InvalidParameter(
                name.decode("latin-1"), "must not contain a NUL character", location="header"
            )
    return None


class RequestGuard:
    """Refuse what no route can take, before any route runs.

    - A body over `max_bytes`: 413, by its Content-Length before reading, or once that many bytes of a chunked body
      arrived (the body is read here, whole, and handed to the route: a route reads it whole anyway).
    - A NUL character in the path, the query or a header: 400 naming the parameter; one (or half a surrogate
      pair) in a JSON body: 422 naming the field. PostgreSQL cannot store either in text.
    - HEAD: answered as GET would be, without the body, wherever GET is allowed.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (nul := nul_in_request(scope)) is not None:
            await refuse(scope, receive, send, nul)
            return
        if scope["method"] == "HEAD":
            await self.app({**scope, "method": "GET", HEAD: True}, receive, without_body(send))
            return
        if scope["method"] in ("GET", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        too_large = PayloadTooLarge(
            f"The request body is larger than {self.max_bytes:,} bytes; send smaller batches.",
            max_bytes=self.max_bytes,
        )
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await refuse(scope, receive, send, too_large)
            return
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:
                await refuse(scope, receive, send, too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if JSON_UNSTORABLE.search(body):
            try:
                where = unstorable(json.loads(body))  # orjson refuses lone surrogates outright
            except ValueError:
                where = None  # not JSON: the route says so
            if where is not None:  # a body that parses but cannot be stored: 422, as any other such body
                reason = "must not contain a NUL character (\\u0000) or half of a surrogate pair"
                error = Unprocessable(
                    f"{where}: {reason}", errors=[{"location": "body", "field": where, "reason": reason}]
                )
                await refuse(scope, receive, send, error)
                return
        await self.app(scope, replay(body, receive), send)


def replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands over the body read already, then waits for the client as the server's would."""
    sent = False

    async def receive_again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return receive_again


def without_body(send: Send) -> Send:
    """The answer's status and headers (Content-Length included), and no body: what HEAD asks for."""
    finished = False

    async def send_head(message: Message) -> None:
        nonlocal finished
        if message["type"] == "http.response.start":
            await send(message)
        elif message["type"] == "http.response.body" and not finished:
            finished = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    return send_head
