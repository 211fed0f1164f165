-- The forms of a place name that lookups and the gazetteer compare, beyond territory_normalize's:
--
-- territory_name_key: the normalised name without the Arabic article, so "al-Bab" = "Bab", "Deir ez-Zor" =
--   "Deir Zor" = "Dayr az-Zawr"'s "dayr zawr" (the article's assimilated forms: ad-, ar-, as-, ash-, at-, az-...,
--   and el-/ez-/es-... as French and older English transliterations write them), and "الباب" = "باب". An article
--   is dropped only before another word, so a name that is only "As" keeps it. place_name.name_key stores it.
-- territory_facility_base: for a name of an airport or base, the name it is named after ("Tabqa airbase",
--   "Deir ez-Zor Military Airport", "مطار دير الزور" -> "tabqa", "deir zor", "دير زور"), as a key; NULL for any
--   other name. place_name.name_base stores it. The designation words are the ones the press uses.
-- territory_name_skeleton: a key's consonants, for transliteration variants (Deir Hafer / Dayr Hafir -> "dr hfr";
--   Raqqa / Rakka / Raqqah -> "rk"): vowels (and w, y) dropped, q = k, dj = j, ph = f, a word's final h dropped,
--   doubled letters once. Too coarse to name a place alone: the gazetteer uses it only near the coordinates.
-- territory_one_letter_off: a normalised name and every form of it with one character left out. Two names
--   sharing one are one letter apart (one missing, extra or wrong, or two neighbours swapped): the search
--   (app/db/queries/places.py) finds a typo through a GIN index over these, one lookup per form of the query.
-- All three are IMMUTABLE for the same reason as territory_normalize (generated columns and indexes use them):
-- changing what one returns changes what stored values mean, and a revision that does so recomputes them.
CREATE OR REPLACE FUNCTION territory_name_key(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT regexp_replace(
        regexp_replace(territory_normalize(value),
                       '(^| )(al|el|il|ul|ad|adh|an|ar|as|ash|at|ath|az|ed|en|er|es|esh|et|eth|ez) (?=\S)', '\1', 'g'),
        '(^| )ال(?=\S\S)', '\1', 'g')
$$;

CREATE OR REPLACE FUNCTION territory_facility_base(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT coalesce(
        (regexp_match(territory_name_key(value),
                      '^(.+?) (?:(?:international|military|civil) )?(?:air ?base|air ?port|air ?field|air ?strip|air force base|military base|base)$'))[1],
        (regexp_match(territory_name_key(value), '^(?:مطار|قاعدة) (.+?)(?: (?:عسكري|جوية|دولي))*$'))[1])
$$;

CREATE OR REPLACE FUNCTION territory_name_skeleton(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT btrim(regexp_replace(
        regexp_replace(
            regexp_replace(
                regexp_replace(
                    regexp_replace(regexp_replace(translate(territory_name_key(value), 'q', 'k'), 'dj', 'j', 'g'), 'ph', 'f', 'g'),
                    'h\M', '', 'g'),
                '[aeiouyw]', '', 'g'),
            '(.)\1+', '\1', 'g'),
        ' +', ' ', 'g'))
$$;

CREATE OR REPLACE FUNCTION territory_one_letter_off(norm text) RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT array_agg(DISTINCT form) FROM (
        SELECT norm AS form
        UNION ALL
        SELECT left(norm, i - 1) || substr(norm, i + 1) FROM generate_series(1, length(norm)) AS i) AS forms
$$;
