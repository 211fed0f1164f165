-- A request's API key, checked and counted in one call on the primary: the key lookup, the per-key rate limit and
-- the wrong-key limit per client address, shared by every worker of every machine (why, and why the buckets are
-- UNLOGGED: migrations/versions/20261202_0010_shared_limits.py). A keyed request costs the one round trip its
-- key lookup cost before.
--
-- Token buckets: `per_minute` tokens a minute, up to a tenth of that at once (at least one). A bucket holds the
-- tokens it had at `at`; what it has now is that plus the refill since, capped. The clock is the primary's
-- (clock_timestamp()), so workers on machines whose clocks differ still share one rate.
--
-- outcome: 'admitted' (a token taken), 'wrong-key' (unknown, malformed or revoked: a wrong-key token spent),
-- 'wrong-keys' (the address has none left: 429 before its key is looked up), 'forbidden' (a live key without the
-- scope: nothing taken), 'limited' (the key has no token left: 429). wait_seconds: until the next token.
CREATE OR REPLACE FUNCTION admit_api_key(
    presented_prefix text, presented_digest bytea, client text, scopes text[], per_minute float8, wrong_per_minute float8
) RETURNS TABLE (
    outcome text, wait_seconds float8, key_id integer, key_name text, key_prefix text, key_scope text,
    key_created_at timestamptz
)
LANGUAGE plpgsql AS $$
DECLARE
    moment timestamptz := clock_timestamp();
    wrong_bucket text := 'wrong-key:' || coalesce(client, '');
    key_bucket text;
    capacity float8 := greatest(1, per_minute / 10);
    wrong_capacity float8 := greatest(1, wrong_per_minute / 10);
    have float8;
    found_key api_key%ROWTYPE;
BEGIN
    -- Now and then, forget buckets untouched for ten minutes: they are full again, the same as no row at all.
    IF random() < 0.001 THEN
        DELETE FROM rate_bucket AS b WHERE b.at < moment - interval '10 minutes';
    END IF;

    SELECT least(wrong_capacity, b.tokens + extract(epoch FROM moment - b.at) * wrong_per_minute / 60)
    INTO have FROM rate_bucket AS b WHERE b.bucket = wrong_bucket;
    IF have < 1 THEN
        RETURN QUERY SELECT 'wrong-keys', (1 - have) / (wrong_per_minute / 60), NULL::integer, NULL::text,
                            NULL::text, NULL::text, NULL::timestamptz;
        RETURN;
    END IF;

    SELECT * INTO found_key FROM api_key AS k WHERE k.prefix = presented_prefix;
    -- A digest of a random 256-bit key: comparing it in variable time tells a guesser nothing about the key.
    IF NOT FOUND OR found_key.secret_sha256 <> presented_digest OR found_key.revoked_at IS NOT NULL THEN
        INSERT INTO rate_bucket AS b (bucket, tokens, at) VALUES (wrong_bucket, wrong_capacity - 1, moment)
        ON CONFLICT (bucket) DO UPDATE
        SET tokens = least(wrong_capacity, b.tokens + extract(epoch FROM moment - b.at) * wrong_per_minute / 60) - 1,
            at = moment;
        RETURN QUERY SELECT 'wrong-key', NULL::float8, NULL::integer, NULL::text, NULL::text, NULL::text,
                            NULL::timestamptz;
        RETURN;
    END IF;

    -- The key was presented by its holder (admitted, limited or without the scope alike: its client still uses it),
    -- so the operator can tell unused keys before revoking them. At most once a minute a key, so that a busy key
    -- does not write its row on every request; the WHERE, checked again under the row lock, lets one of concurrent
    -- requests stamp it. This stamp does not move the data version (data_version.sql): no answer shows it.
    IF found_key.last_used_at IS NULL OR found_key.last_used_at < moment - interval '1 minute' THEN
        UPDATE api_key AS k SET last_used_at = moment
        WHERE k.id = found_key.id AND (k.last_used_at IS NULL OR k.last_used_at < moment - interval '1 minute');
    END IF;

    IF NOT found_key.scope = ANY (scopes) THEN
        RETURN QUERY SELECT 'forbidden', NULL::float8, found_key.id, found_key.name, found_key.prefix::text,
                            found_key.scope::text, found_key.created_at;
        RETURN;
    END IF;

    -- Take a token only when there is one: the row lock of the upsert makes concurrent takes wait their turn, so
    -- every worker together takes at most what the bucket holds.
    key_bucket := 'key:' || found_key.id;
    INSERT INTO rate_bucket AS b (bucket, tokens, at) VALUES (key_bucket, capacity - 1, moment)
    ON CONFLICT (bucket) DO UPDATE
    SET tokens = least(capacity, b.tokens + extract(epoch FROM moment - b.at) * per_minute / 60) - 1, at = moment
    WHERE least(capacity, b.tokens + extract(epoch FROM moment - b.at) * per_minute / 60) >= 1;
    IF FOUND THEN
        outcome := 'admitted';
    ELSE
        SELECT least(capacity, b.tokens + extract(epoch FROM moment - b.at) * per_minute / 60)
        INTO have FROM rate_bucket AS b WHERE b.bucket = key_bucket;
        outcome := 'limited';
        wait_seconds := (1 - have) / (per_minute / 60);
    END IF;

    RETURN QUERY SELECT outcome, wait_seconds, found_key.id, found_key.name, found_key.prefix::text,
                        found_key.scope::text, found_key.created_at;
END
$$;
