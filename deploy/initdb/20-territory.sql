-- Run once by the PostGIS image on a new volume (after its own 10_postgis.sh), as the administrator.
-- The API connects as `territory`: it owns its database and what the migrations create, but is not a superuser,
-- so PostgreSQL's reserved connections stay free for an administrator. The extensions are created here because
-- `postgis` needs a superuser; the migration's CREATE EXTENSION IF NOT EXISTS then finds them.
CREATE ROLE territory LOGIN PASSWORD 'territory';
CREATE DATABASE territory OWNER territory;
\connect territory
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;
ALTER SCHEMA public OWNER TO territory;
