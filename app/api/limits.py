"""Limits that protect the service: the size of a request body, and a rate per API key."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import PayloadTooLarge, TooManyRequests, problem


class BodySizeLimit:
    """Refuse a body over `max_bytes` with 413: by its Content-Length before reading, or while it streams."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        too_large = PayloadTooLarge(
            f"The request body is larger than {self.max_bytes:,} bytes; send smaller batches.",
            max_bytes=self.max_bytes,
        )
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self.refuse(scope, receive, send, too_large)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise too_large
            return message

        await self.app(scope, counting_receive, send)

    @staticmethod
    async def refuse(scope: Scope, receive: Receive, send: Send, error: PayloadTooLarge) -> None:
        response = problem(error.status, error.title, error.detail, instance=scope["path"], **error.members)
        await response(scope, receive, send)


@dataclass
class RateLimiter:
    """A token bucket per API key: `per_minute` requests a minute, in bursts of up to a tenth of that.

    Kept in the process: with several workers, each allows the rate (divide it by the workers)."""

    per_minute: int
    buckets: dict[int, tuple[float, float]] = field(default_factory=dict)  # key id -> (tokens, updated at)

    def take(self, key_id: int, name: str) -> None:
        capacity = max(1.0, self.per_minute / 10)
        rate = self.per_minute / 60.0
        now = time.monotonic()
        tokens, updated = self.buckets.get(key_id, (capacity, now))
        tokens = min(capacity, tokens + (now - updated) * rate)
        if tokens < 1:
            retry_after = math.ceil((1 - tokens) / rate)
            self.buckets[key_id] = (tokens, now)
            raise TooManyRequests(
                f"The key '{name}' is over its limit of {self.per_minute} requests a minute; retry in "
                f"{retry_after} s.",
                retry_after=retry_after,
            )
        self.buckets[key_id] = (tokens - 1, now)
