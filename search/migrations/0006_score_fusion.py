"""`mcp.score_fusion`: hybrid search's score-based fusions in SQL, beside `mcp.reciprocal_rank_fusion`.

Other services share the database: they fuse their lists exactly as the API does (search/fusion.py, tested equal
bit for bit in tests/search/test_fusion.py). Same argument convention as `reciprocal_rank_fusion`: position i of
each array is candidate i, NULL is "absent from that list".
"""

from django.db import migrations

SCORE_FUSION_SQL = r"""
CREATE FUNCTION mcp.score_fusion(
    vector_scores FLOAT[],
    text_scores FLOAT[],
    method TEXT DEFAULT 'dbsf',
    vector_weight FLOAT DEFAULT 1.0,
    text_weight FLOAT DEFAULT 1.0
) RETURNS TABLE(idx INTEGER, score FLOAT, vector_normalized FLOAT, text_normalized FLOAT)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
-- Score fusion of two score lists over the same candidates (search/fusion.py says why and when).
-- Each list's scores are normalised over that list's candidates:
--   'dbsf' (distribution-based score fusion): [mean - 3 sd, mean + 3 sd] -> [0, 1], sd the sample standard deviation;
--   'relative' (min-max): [min, max] -> [0, 1];
-- a list of one candidate, or of equal scores, normalises to 0.5. A candidate scores
--   vector_weight * vector_normalized + text_weight * text_normalized
-- over the lists it is in. Returns every candidate present in either list, highest score first, ties by idx.
-- Sums run in candidate order (ordered aggregates), as the Python fusion's loops: the results are equal bit for bit.
BEGIN
    IF method IS NULL OR method NOT IN ('dbsf', 'relative') THEN
        RAISE EXCEPTION 'score_fusion: method must be dbsf or relative, got %', method
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF vector_weight IS NULL OR text_weight IS NULL OR vector_weight < 0 OR text_weight < 0
       OR vector_weight = 'Infinity' OR text_weight = 'Infinity' OR vector_weight = 'NaN' OR text_weight = 'NaN'
       OR (vector_weight = 0 AND text_weight = 0) THEN
        RAISE EXCEPTION 'score_fusion: weights must be finite, >= 0 and not both 0, got % and %',
            vector_weight, text_weight USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH listed AS (
        SELECT 'v'::text AS list, v.pos, v.val FROM unnest(vector_scores) WITH ORDINALITY AS v(val, pos)
         WHERE v.val IS NOT NULL
        UNION ALL
        SELECT 't'::text, t.pos, t.val FROM unnest(text_scores) WITH ORDINALITY AS t(val, pos)
         WHERE t.val IS NOT NULL
    ), moments AS (
        SELECT l.list, count(*) AS n, sum(l.val ORDER BY l.pos) / count(*) AS mean,
               min(l.val) AS lowest, max(l.val) AS highest
          FROM listed l GROUP BY l.list
    ), spread AS (
        SELECT m.list, m.n,
               CASE WHEN method = 'relative' THEN m.lowest
                    ELSE m.mean - 3 * sqrt(sum((l.val - m.mean) * (l.val - m.mean) ORDER BY l.pos) / (m.n - 1))
               END AS low,
               CASE WHEN method = 'relative' THEN m.highest
                    ELSE m.mean + 3 * sqrt(sum((l.val - m.mean) * (l.val - m.mean) ORDER BY l.pos) / (m.n - 1))
               END AS high
          FROM moments m JOIN listed l ON l.list = m.list
         WHERE m.n >= 2
         GROUP BY m.list, m.n, m.mean, m.lowest, m.highest
    ), normalized AS (
        SELECT l.list, l.pos,
               CASE WHEN s.list IS NULL OR s.high = s.low THEN 0.5::float
                    ELSE (l.val - s.low) / (s.high - s.low) END AS norm
          FROM listed l LEFT JOIN spread s ON s.list = l.list
    ), joined AS (
        SELECT coalesce(v.pos, t.pos) AS pos, v.norm AS vnorm, t.norm AS tnorm
          FROM (SELECT n.pos, n.norm FROM normalized n WHERE n.list = 'v') AS v
          FULL JOIN (SELECT n.pos, n.norm FROM normalized n WHERE n.list = 't') AS t ON t.pos = v.pos
    )
    SELECT j.pos::integer,
           (coalesce(vector_weight * j.vnorm, 0) + coalesce(text_weight * j.tnorm, 0))::float,
           j.vnorm, j.tnorm
      FROM joined j
     ORDER BY 2 DESC, 1;
END;
$$;
COMMENT ON FUNCTION mcp.score_fusion(double precision[], double precision[], text, double precision,
                                     double precision)
    IS 'Hybrid search score fusion (dbsf: mean +- 3 sd; relative: min-max), weighted sum; see mcpadmin search/fusion.py';
"""


class Migration(migrations.Migration):
    dependencies = [
        ("search", "0005_alter_collection_workspace"),
    ]

    operations = [
        migrations.RunSQL(
            SCORE_FUSION_SQL,
            "DROP FUNCTION mcp.score_fusion(double precision[], double precision[], text, double precision, "
            "double precision)",
        ),
    ]
