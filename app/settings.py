"""Settings from the environment. No instance at import time: `get_settings()` reads them when asked."""

from __future__ import annotations

from functools import lru_cache

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TERRITORY_", extra="ignore")

    # A plain postgresql://user:pass@host:port/db URL; the app picks its own driver. Unset: a local cluster.
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("DATABASE_URL", "TERRITORY_DATABASE_URL")
    )
    # Read replicas (comma-separated postgresql:// URLs of streaming standbys): plain reads go to a healthy one,
    # round robin; writes, and what must see them at once, stay on DATABASE_URL. Empty: everything on it.
    read_database_urls: str = ""
    # A replica further behind the primary than this is skipped until it catches up (app/db/replicas.py).
    max_replica_lag_seconds: float = Field(default=5.0, gt=0)
    # Seconds between two checks of each replica's state and lag (and of the primary's WAL position).
    replica_check_seconds: float = Field(default=1.0, gt=0)
    # Connections of the read pool and of the write pool (each may overflow by as many again, per process).
    pool_size: int = Field(default=10, ge=1, le=200)
    write_pool_size: int = Field(default=5, ge=1, le=200)
    # Connections to the primary that admit API keys (one short statement per request with a key: the lookup and
    # the shared rate limits, app/db/sql/admit_api_key.sql), apart so that queued writers cannot hold them up.
    key_pool_size: int = Field(default=2, ge=1, le=50)
    # DATABASE_URL (and the replicas) go through PgBouncer in transaction pooling: no prepared statement, session
    # setting or LISTEN may outlive a transaction (see README, "Scaling out").
    pgbouncer: bool = False
    # FastAPI's own OpenTelemetry spans, metrics and logs, for a deployment that configures OpenTelemetry's global
    # providers itself. Off by default: Territory configures none, and looking for them cost every request ~5 µs.
    telemetry: bool = False
    # The primary's own address, for LISTEN (the event stream), which PgBouncer cannot carry; needed with
    # TERRITORY_PGBOUNCER, otherwise DATABASE_URL.
    listen_database_url: str | None = None
    # Seconds a request waits for a pooled connection before it is answered 503 with Retry-After.
    pool_timeout_seconds: float = Field(default=2.0, gt=0)
    # Seconds a statement may run (a read, a write's statement: a batch of 10,000 events takes a few seconds),
    # a write may wait for a row lock, and a transaction may stay idle, before PostgreSQL cancels it (503).
    read_statement_timeout_seconds: float = Field(default=15.0, gt=0)
    write_statement_timeout_seconds: float = Field(default=60.0, gt=0)
    lock_timeout_seconds: float = Field(default=3.0, gt=0)
    idle_in_transaction_timeout_seconds: float = Field(default=30.0, gt=0)
    # An export's statement runs, and its transaction waits on a slow download, up to this (1M events: ~1 min).
    export_timeout_seconds: float = Field(default=900.0, gt=0)
    # Rows an export or the whole map reads per round trip of its cursor (and sends as one part of its body):
    # what the app holds of it at a time (~1 MB of features). A page of changes reads an eighth as many.
    stream_batch_rows: int = Field(default=2000, ge=1)
    # Seconds a cache may reuse a live answer without asking again; 0: it revalidates every time (a 304 when
    # unchanged). Past dates included: they can be corrected. See app/api/caching.py.
    cache_max_age: int = Field(default=0, ge=0)
    # The same for the events list, which changes with every write.
    cache_max_age_feed: int = Field(default=0, ge=0)
    # Bytes of answers each process keeps for repeated requests at the same data version (app/api/caching.py);
    # 0: none kept, no 304 without a query, ETags hashed from the body.
    response_cache_bytes: int = Field(default=64 * 2**20, ge=0)
    # Seconds between two reads of the data version on the listening connection: a connection that stops
    # answering stops the cache within twice this.
    data_version_check_seconds: float = Field(default=1.0, gt=0)
    # Seconds of silence after which the event stream sends a comment, so that proxies keep it open.
    feed_heartbeat_seconds: float = Field(default=15.0, gt=0)
    # Event streams one process serves at once (they share one listening connection); more are answered 503.
    max_streams: int = Field(default=1000, ge=1)
    log_level: str = "info"
    # Reads need a `read` key when set; writes always need an `ingest` or `admin` key.
    require_read_key: bool = False
    # Limits that protect the service (each refused with a problem: 413, 429 with Retry-After).
    max_body_bytes: int = Field(default=16 * 2**20, ge=1024)
    max_batch: int = Field(default=10_000, ge=1)
    rate_limit_per_minute: int = Field(default=600, ge=1)
    # Requests with an unknown or revoked key, per client address (a guessing attacker is slowed to this).
    wrong_keys_per_minute: int = Field(default=30, ge=1)
    # Browser origins allowed to read the API (comma-separated, e.g. https://dash.example.org); none by default.
    cors_origins: str = ""
    # The map page's online raster basemap (an XYZ URL template); off by default, the page works offline.
    basemap_url: str | None = None

    @model_validator(mode="after")
    def listen_past_pgbouncer(self) -> Settings:
        if self.pgbouncer and not self.listen_database_url:
            raise ValueError(
                "TERRITORY_PGBOUNCER needs TERRITORY_LISTEN_DATABASE_URL, the primary's own address: the event "
                "stream LISTENs, which a transaction-pooling PgBouncer cannot carry"
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()


def async_database_url(url: str) -> str:
    """postgresql://... as given by the user -> the asyncpg URL SQLAlchemy wants."""
    for prefix in ("postgresql+psycopg://", "postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    raise ValueError(f"DATABASE_URL must start with postgresql://, got {url.split(':', 1)[0]}://")


def read_database_urls(settings: Settings) -> list[str]:
    """TERRITORY_READ_DATABASE_URLS as a list (blanks dropped)."""
    return [url.strip() for url in settings.read_database_urls.split(",") if url.strip()]
