"""SQL of API keys: created, listed, revoked, and looked up by prefix (app/services/keys.py holds the rules)."""

from __future__ import annotations

from sqlalchemy import text

KEY_COLUMNS = "id, name, prefix, scope, created_at, revoked_at, last_used_at"

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


# The key looked up and a token taken, in one call on the primary (app/db/sql/admit_api_key.sql).
ADMIT_KEY = text("""
    SELECT outcome, wait_seconds, key_id, key_name, key_prefix, key_scope, key_created_at
    FROM admit_api_key(:prefix, :digest, :client, :scopes, :per_minute, :wrong_per_minute)
""")
