"""Limits and guards that protect the service, before any route runs: the size of a request body, NUL characters
anywhere in a request, HEAD answered as GET, a rate per API key, and a rate of wrong keys per client address."""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Hashable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import DomainError, InvalidParameter, PayloadTooLarge, TooManyRequests, Unprocessable, problem
from app.schemas.common import unstorable

NUL = "\x00"
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
            await self.app({**scope, "method": "GET"}, receive, without_body(send))
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


@dataclass
class RateLimiter:
    """A token bucket per key (an API key's id, a client's address): `per_minute` a minute, in bursts of up to
    a tenth of that.

    Kept in the process: with several workers, each allows the rate (divide it by the workers)."""

    per_minute: int
    buckets: dict[Hashable, tuple[float, float]] = field(default_factory=dict)  # key -> (tokens, updated at)
    # Buckets kept at most: full ones are forgotten first (a full bucket is the same as none).
    max_buckets: int = 100_000

    @property
    def capacity(self) -> float:
        return max(1.0, self.per_minute / 10)

    def tokens(self, key: Hashable, now: float) -> float:
        tokens, updated = self.buckets.get(key, (self.capacity, now))
        return min(self.capacity, tokens + (now - updated) * self.per_minute / 60.0)

    def retry_after(self, tokens: float) -> int:
        return max(1, math.ceil((1 - tokens) / (self.per_minute / 60.0)))

    def take(self, key: Hashable, name: str) -> None:
        """Take a token for an API key's request, or refuse it with 429 when there is none."""
        now = time.monotonic()
        tokens = self.tokens(key, now)
        if tokens < 1:
            self.buckets[key] = (tokens, now)
            retry_after = self.retry_after(tokens)
            raise TooManyRequests(
                f"The key '{name}' is over its limit of {self.per_minute} requests a minute; retry in "
                f"{retry_after} s.",
                retry_after=retry_after,
            )
        self.store(key, tokens - 1, now)

    def check(self, key: Hashable) -> None:
        """429 when `key` has no token left, taking none (the wrong-key limit: only failures take one)."""
        tokens = self.tokens(key, time.monotonic())
        if tokens < 1:
            retry_after = self.retry_after(tokens)
            raise TooManyRequests(
                f"Too many requests from this address with a wrong API key; retry in {retry_after} s.",
                retry_after=retry_after,
            )

    def spend(self, key: Hashable) -> None:
        now = time.monotonic()
        self.store(key, self.tokens(key, now) - 1, now)

    def store(self, key: Hashable, tokens: float, now: float) -> None:
        self.buckets[key] = (tokens, now)
        if len(self.buckets) > self.max_buckets:
            full = [k for k in self.buckets if self.tokens(k, now) >= self.capacity]
            for k in full or list(self.buckets)[: len(self.buckets) // 2]:
                del self.buckets[k]
