"""uvicorn's httptools protocol, answering with one write where it wrote two.

uvicorn writes an answer's status line and headers as soon as the app starts the answer, and the body when it
comes: two `send()` calls on the socket, two TCP segments, and a client woken twice, for every answer. The app
sends both in the same step of the event loop (a finished body right after its start), so here the writes a
request's cycle makes within one step are joined into one: the first is held until the next write or, at the
latest, the end of the step (`call_soon`), so a start whose body comes later (a stream) goes out at once too.
On a one-place read the head's `send()` was 10-20% of the worker's time (README, "The per-request overhead of
hot reads").
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# uvicorn's `http` setting for it (`territory serve`; the tests' live server).
HTTP = "app.http:CoalescingHttpTools"
# Above this, a body is written after the held head rather than copied behind it.
JOIN_BELOW = 64 * 1024


class CoalescedWrites:
    """The transport as a request's cycle sees it (it writes, closes and asks whether it is closing)."""

    __slots__ = ("held", "loop", "transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport, self.loop = transport, loop
        self.held: bytes | None = None

    def write(self, data: bytes) -> None:
        held = self.held
        if held is None:
            self.held = data
            self.loop.call_soon(self.flush)
            return
        self.held = None
        if len(data) < JOIN_BELOW:
            self.transport.write(held + data)
        else:
            self.transport.write(held)
            self.transport.write(data)

    def flush(self) -> None:
        if self.held is not None:
            held, self.held = self.held, None
            if not self.transport.is_closing():
                self.transport.write(held)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()


class CoalescingHttpTools(HttpToolsProtocol):
    """`territory serve`'s HTTP protocol (uvicorn's `http` setting)."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        # The cycle made for this request (its task has not run yet): it writes through the coalescing transport.
        if self.cycle is not None and not isinstance(self.cycle.transport, CoalescedWrites):
            self.cycle.transport = CoalescedWrites(self.transport, self.loop)  # type: ignore[assignment]
