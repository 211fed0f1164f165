"""SQL of API keys: created, listed, revoked, and looked up by prefix (app/services/keys.py holds the rules)."""

from __future__ import annotations

from sqlalchemy import text

KEY_COLUMNS = "id, name, prefix, scope, created_at, revoked_at"

CREATE_KEY = text(f"""
    INSERT INTO api_key (name, prefix, secret_sha256, scope) VALUES (:name, :prefix, :digest, :scope)
    RETURNING {KEY_COLUMNS}
""")

LIST_KEYS = text(f"SELECT {KEY_COLUMNS} FROM api_key ORDER BY id")

# Revoking twice keeps the first date.
REVOKE_KEY = text(f"""
    UPDATE api_key SET revoked_at = coalesce(revoked_at, now()) WHERE prefix = :prefix
    RETURNING {KEY_COLUMNS}
""")

KEY_BY_PREFIX = text(f"SELECT {KEY_COLUMNS}, secret_sha256 FROM api_key WHERE prefix = :prefix")
