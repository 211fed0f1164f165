#!/bin/bash
# The streaming replica: on an empty volume, a base backup of the primary with -R (standby.signal and
# primary_conninfo written for it) and a replication slot of its own, so the primary keeps the WAL it has not
# received yet; then PostgreSQL as a hot standby, serving reads.
set -euo pipefail
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    until pg_isready -h db -U replicator -d postgres; do sleep 1; done
    pg_basebackup -h db -U replicator -D "$PGDATA" -R -X stream -C -S replica1 --checkpoint=fast
    chmod 700 "$PGDATA"
fi
exec postgres -c hot_standby=on -c max_connections=400
