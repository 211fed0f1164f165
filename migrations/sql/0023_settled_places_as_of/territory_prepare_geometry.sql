-- One feature's geometry as ingestion stores it, or why not: parsed from GeoJSON, reprojected to EPSG:4326 from
-- the declared EPSG code, checked for range and validity (ST_IsValidReason), repaired with ST_MakeValid only when
-- asked, promoted to Multi*. Each step's error is caught here, so one bad feature of a batch is reported with the
-- others instead of aborting the statement. `dimension`: 3 for areas, 2 for lines.
CREATE OR REPLACE FUNCTION territory_prepare_geometry(
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
$$;
