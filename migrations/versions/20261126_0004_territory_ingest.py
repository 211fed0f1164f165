"""Territories and front lines through the API: external ids, recording time, light geometries for maps and tiles.

Revision ID: 0004
Revises: 0003_feed
Create Date: 2026-11-25 09:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003_feed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("territory", "front_line")

# Simplified copies of each territory, kept by PostgreSQL itself (stored generated columns), so maps and tiles at
# low zoom never read the full-detail rings. Tolerances in degrees: ~ one pixel of a 256-px tile at z6 and z8
# (360° / 2^z / 256). app/db/queries/territory.py and tiles.py pick the copy by zoom; keep them in step.
SIMPLIFIED = {"geom_z6": 0.02, "geom_z8": 0.005}

# One feature's geometry as ingestion stores it, or why not: parsed from GeoJSON, reprojected to EPSG:4326 from
# the declared EPSG code, checked for range and validity (ST_IsValidReason), repaired with ST_MakeValid only when
# asked, promoted to Multi*. Each step's error is caught here, so one bad feature of a batch is reported with the
# others instead of aborting the statement. `dimension`: 3 for areas, 2 for lines.
PREPARE_FUNCTION = r"""
CREATE FUNCTION territory_prepare_geometry(
    geojson text, srid integer, dimension integer, repair boolean, OUT problem text, OUT geom geometry)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    g geometry;
    reason text;
BEGIN
    BEGIN
        g := ST_SetSRID(ST_GeomFromGeoJSON(geojson), srid);
    EXCEPTION WHEN OTHERS THEN
        problem := 'not a geometry PostGIS can read: ' || SQLERRM;
        RETURN;
    END;
    IF ST_IsEmpty(g) THEN
        problem := 'empty geometry';
        RETURN;
    END IF;
    IF srid <> 4326 THEN
        IF NOT EXISTS (SELECT 1 FROM spatial_ref_sys AS s WHERE s.srid = territory_prepare_geometry.srid) THEN
            problem := format('EPSG:%s is not a coordinate system PostGIS knows', srid);
            RETURN;
        END IF;
        BEGIN
            g := ST_Transform(g, 4326);
        EXCEPTION WHEN OTHERS THEN
            problem := format('cannot reproject from EPSG:%s to EPSG:4326: %s', srid, SQLERRM);
            RETURN;
        END;
    END IF;
    -- Written so that NaN (which compares false) is refused too.
    IF NOT (ST_XMin(g) >= -180 AND ST_XMax(g) <= 180 AND ST_YMin(g) >= -90 AND ST_YMax(g) <= 90) THEN
        problem := format('coordinates outside longitude -180..180 / latitude -90..90 (bounds %s %s, %s %s); '
                          'GeoJSON is longitude, latitude', ST_XMin(g), ST_YMin(g), ST_XMax(g), ST_YMax(g));
        RETURN;
    END IF;
    -- ST_IsValidDetail rather than ST_IsValid: the same answer without a NOTICE sent to the client.
    IF NOT (ST_IsValidDetail(g)).valid THEN
        reason := ST_IsValidReason(g);
        IF NOT repair THEN
            problem := 'invalid geometry: ' || reason || ' (send ?repair=true to store it repaired by ST_MakeValid)';
            RETURN;
        END IF;
        g := ST_CollectionExtract(ST_MakeValid(g), dimension);
        IF ST_IsEmpty(g) THEN
            problem := 'invalid geometry that ST_MakeValid leaves empty: ' || reason;
            RETURN;
        END IF;
    END IF;
    geom := ST_Multi(g);
END
$$
"""


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("external_id", sa.String(length=200), nullable=True))
        # Rows from before this revision get a stable id of their own; new rows must bring one.
        op.execute(f"UPDATE {table} SET external_id = '{table}-' || id WHERE external_id IS NULL")
        op.alter_column(table, "external_id", nullable=False)
        op.create_unique_constraint(op.f(f"uq_{table}_external_id"), table, ["external_id"])
        op.add_column(
            table,
            sa.Column(
                "recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
            ),
        )
        op.create_check_constraint(
            op.f(f"ck_{table}_geom_valid"), table, "ST_IsValid(geom) AND ST_SRID(geom) = 4326"
        )
    for column, tolerance in SIMPLIFIED.items():
        op.execute(
            f"ALTER TABLE territory ADD COLUMN {column} geometry(MULTIPOLYGON, 4326) "
            f"GENERATED ALWAYS AS (ST_Multi(ST_SimplifyPreserveTopology(geom, {tolerance}))) STORED"
        )
        # The same in web mercator, for vector tiles: ST_Transform costs ~0.2 ms a call, which at z6 (500+
        # areas a tile) was two thirds of the tile's time (measured: 35 -> 10 ms).
        op.execute(
            f"ALTER TABLE territory ADD COLUMN {column}_3857 geometry(MULTIPOLYGON, 3857) "
            f"GENERATED ALWAYS AS (ST_Transform(ST_Multi(ST_SimplifyPreserveTopology(geom, {tolerance})), 3857)) "
            "STORED"
        )
    # Geodesic area, computed once when the row is written rather than on every read.
    op.execute(
        "ALTER TABLE territory ADD COLUMN area_km2 double precision "
        "GENERATED ALWAYS AS (ST_Area(geom::geography) / 1e6) STORED"
    )
    op.execute(PREPARE_FUNCTION)
    # "Territories at D in a box": one GiST over both, instead of ANDing two bitmaps.
    op.execute("CREATE INDEX ix_territory_geom_valid ON territory USING gist (geom, valid)")
    op.execute("CREATE INDEX ix_front_line_geom_valid ON front_line USING gist (geom, valid)")
    op.execute("CREATE INDEX ix_territory_actor_id ON territory (actor_id)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_territory_actor_id")
    op.execute("DROP INDEX ix_front_line_geom_valid")
    op.execute("DROP INDEX ix_territory_geom_valid")
    op.execute("DROP FUNCTION territory_prepare_geometry(text, integer, integer, boolean)")
    op.drop_column("territory", "area_km2")
    for column in SIMPLIFIED:
        op.drop_column("territory", f"{column}_3857")
        op.drop_column("territory", column)
    for table in TABLES:
        op.drop_constraint(op.f(f"ck_{table}_geom_valid"), table, type_="check")
        op.drop_column(table, "recorded_at")
        op.drop_constraint(op.f(f"uq_{table}_external_id"), table, type_="unique")
        op.drop_column(table, "external_id")
