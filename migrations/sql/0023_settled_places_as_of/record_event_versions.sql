-- Record a version of each given event whose content (with its sources and retraction) differs from its open
-- version: the open one is closed at now() and the new one opened. A version opened earlier in the same
-- transaction is replaced instead, so `recorded` ranges are never empty. Returns how many were recorded.
-- An event's content is the columns external_id, place_id, occurred_on, precision, seq, kind, actor_id,
-- losing_actor_id, status, party_ids, confidence, notes, with its source ids in order: a version is recorded
-- when any of them changes (app/db/queries/events.py calls this after each write of events).
CREATE OR REPLACE FUNCTION record_event_versions(event_ids integer[], by_key integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    changed integer[];
BEGIN
    SELECT array_agg(e.id) INTO changed
    FROM control_event AS e
    LEFT JOIN control_event_version AS o ON o.control_event_id = e.id AND upper_inf(o.recorded)
    WHERE e.id = ANY(event_ids)
      AND (o.id IS NULL
           OR (e.external_id, e.place_id, e.occurred_on, e.precision, e.seq, e.kind, e.actor_id, e.losing_actor_id, e.status, e.party_ids, e.confidence, e.notes, ARRAY(SELECT s.source_id FROM control_event_source AS s WHERE s.control_event_id = e.id ORDER BY s.source_id), e.retracted_at IS NOT NULL)
              IS DISTINCT FROM (o.external_id, o.place_id, o.occurred_on, o.precision, o.seq, o.kind, o.actor_id, o.losing_actor_id, o.status, o.party_ids, o.confidence, o.notes, o.source_ids, o.change = 'retracted'));
    IF changed IS NULL THEN
        RETURN 0;
    END IF;
    DELETE FROM control_event_version
    WHERE control_event_id = ANY(changed) AND upper_inf(recorded) AND lower(recorded) = now();
    UPDATE control_event_version SET recorded = tstzrange(lower(recorded), now())
    WHERE control_event_id = ANY(changed) AND upper_inf(recorded);
    INSERT INTO control_event_version (control_event_id, version, change, external_id, place_id, occurred_on, precision, seq, kind, actor_id, losing_actor_id, status, party_ids, confidence, notes, source_ids, recorded,
                                       recorded_by)
    SELECT e.id, coalesce(last.version, 0) + 1,
           CASE WHEN e.retracted_at IS NOT NULL THEN 'retracted'
                WHEN last.version IS NULL THEN 'created' ELSE 'corrected' END,
           e.external_id, e.place_id, e.occurred_on, e.precision, e.seq, e.kind, e.actor_id, e.losing_actor_id, e.status, e.party_ids, e.confidence, e.notes, ARRAY(SELECT s.source_id FROM control_event_source AS s WHERE s.control_event_id = e.id ORDER BY s.source_id), tstzrange(now(), NULL), by_key
    FROM control_event AS e
    LEFT JOIN LATERAL (SELECT max(v.version) AS version FROM control_event_version AS v
                       WHERE v.control_event_id = e.id) AS last ON true
    WHERE e.id = ANY(changed)
    ORDER BY e.id;
    RETURN cardinality(changed);
END
$$;
