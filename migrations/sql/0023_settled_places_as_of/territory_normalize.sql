-- What place-name lookups compare: unaccented, lower-case, apostrophes, ayn/hamza marks and Arabic diacritics
-- dropped, other punctuation folded to one space. "Mare'" = "Mare", "al-Bab" = "Al Bab", "Dabık" = "Dabik".
-- unaccent() is only STABLE (its dictionary could change); naming the dictionary makes this wrapper safe to
-- declare IMMUTABLE, which a generated column (place_name.name_norm) and its indexes need. Changing what it
-- returns changes what those stored values mean: a revision that does so must also recompute them.
CREATE OR REPLACE FUNCTION territory_normalize(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT btrim(regexp_replace(
        regexp_replace(lower(public.unaccent('public.unaccent'::regdictionary, value)),
                       '[''`\u2018\u2019\u02BF\u02BE\u0640\u064B-\u065F]', '', 'g'),
        '[\s\-_.,;:/()"]+', ' ', 'g'))
$$;
