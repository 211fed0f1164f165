"""What the API says and does about where its data came from: the WAL position a write committed at, the
database a read was served by, and a read answered again when its replica failed under it.

- `Territory-LSN` on a write's answer: where it committed in the WAL (app/db/transaction.py). A read that sends
  it back is served only by a database that has replayed that far (app/api/deps.py), so a script that writes
  and then reads sees its write.
- `Territory-Served-By` on a read's answer, with read replicas: `primary` or `replica-N`. For tests and for
  whoever looks into a slow or stale answer.
- A read whose replica failed (it cannot be reached, or cancelled the query to go on replaying) is answered
  again from the start, once, on another database: the 503 the failure made is never sent. Reads have no
  body and change nothing, so running the route again is safe.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.deps import POSITION_HEADER
from app.api.limits import replay
from app.db.queries.replication import lsn_text
from app.db.transaction import COMMIT_POSITION, CommitPosition

SERVED_BY_HEADER = "Territory-Served-By"
READ_METHODS = {"GET", "HEAD"}


class Replication:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (
            scope["method"] in READ_METHODS and scope["app"].state.read_routing is None
        ):
            # A read on the primary alone: no write to give the position of, no database to name, nothing to
            # answer again. Passed through as it is (each layer that wraps `send` costs every answer).
            await self.app(scope, receive, send)
            return
        position = CommitPosition()
        token = COMMIT_POSITION.set(position)
        try:
            state = scope.setdefault("state", {})
            if scope["method"] not in READ_METHODS:
                await self.app(scope, receive, self.headed(send, state, position))
                return
            retried = await self.attempt(scope, receive, send, state, position, last=False)
            if retried:
                await self.attempt(dict(scope), replay(b"", receive), send, state, position, last=True)
        finally:
            COMMIT_POSITION.reset(token)

    async def attempt(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        state: dict[str, object],
        position: CommitPosition,
        *,
        last: bool,
    ) -> bool:
        """Run the app once; True when its answer was dropped for another attempt (never on the `last`)."""
        state.pop("read_retry", None)
        dropped = False
        headed = self.headed(send, state, position)

        async def send_or_drop(message: Message) -> None:
            nonlocal dropped
            if message["type"] == "http.response.start" and not last and state.get("read_retry"):
                dropped = True
            if not dropped:
                await headed(message)

        await self.app(scope, receive, send_or_drop)
        return dropped

    @staticmethod
    def headed(send: Send, state: dict[str, object], position: CommitPosition) -> Send:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if position.lsn is not None:
                    headers[POSITION_HEADER] = lsn_text(position.lsn)
                if (served_by := state.get("served_by")) is not None:
                    headers[SERVED_BY_HEADER] = str(served_by)
                    # The answer depends on the position asked for: a cache keeps one per position.
                    headers.add_vary_header(POSITION_HEADER)
            await send(message)

        return send_with_headers
