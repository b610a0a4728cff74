-- results/agreement_by_statistic: per group, split, epoch and statistic, the
-- statistic over the samples all networks got right (`agreed`, the reference's
-- curve) and over the rest.
--
-- All statistics are aggregated in one pass over `statistic_wide` (one column
-- per statistic of stats, attributes and scores, found by the session): the
-- construct {each statistic: …} repeats its text for every statistic, with
-- {column} standing for the statistic's column. The lists it builds are turned
-- back into one row per statistic with `statistic_index` (position → name).
WITH per_subset AS (
    SELECT
        a.group_kind,
        a.group_name,
        a.split,
        a.epoch,
        CASE WHEN a.n_correct = a.n_networks THEN 'agreed' ELSE 'rest' END AS subset,
        make_array({each statistic: count({column})}) AS n,
        make_array({each statistic: precise_avg({column})}) AS mean,
        make_array({each statistic: median({column})}) AS median
    FROM sample_agreement AS a
    JOIN statistic_wide AS w ON w.sample_id = a.sample_id
    GROUP BY
        a.group_kind,
        a.group_name,
        a.split,
        a.epoch,
        CASE WHEN a.n_correct = a.n_networks THEN 'agreed' ELSE 'rest' END
)
SELECT
    p.group_kind,
    p.group_name,
    p.split,
    p.epoch,
    s.statistic,
    p.subset,
    p.n[s.statistic_index] AS n,
    p.mean[s.statistic_index] AS mean,
    p.median[s.statistic_index] AS median
FROM per_subset AS p
CROSS JOIN statistic_index AS s
ORDER BY p.group_kind, p.group_name, p.split, p.epoch, s.statistic, p.subset
