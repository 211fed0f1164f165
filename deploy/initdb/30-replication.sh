#!/bin/bash
# Run once by the PostGIS image on a new primary volume (after 20-territory.sql), as the administrator: a role that
# may stream the WAL to the replica (deploy/replica/start.sh), and pg_hba's leave for it to connect.
set -euo pipefail
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres \
    -c "CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '${REPLICATION_PASSWORD:-replicator}'"
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
