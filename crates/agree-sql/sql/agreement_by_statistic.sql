-- results/agreement_by_statistic: per group, split, epoch and statistic, the
-- statistic over the samples all networks got right (`agreed`, the reference's
-- curve) and over the rest.
--
-- All statistics are aggregated in one pass over `statistic_wide` (one column
-- per statistic of stats, attributes and scores, found by the session): the
-- construct {each statistic: …} repeats its text for every statistic, with
-- {column} standing for the statistic's column and {index} for its position.
-- The lists it builds are turned back into one row per statistic with
-- `statistic_index` (position → name).
--
-- The medians are exact and need bounded memory: `statistic_buckets` gives each
-- value its rank bucket; the first pass (`median_window`) counts each group's
-- rows per bucket to find the bucket(s) of its middle, the second
-- (`window_median`) keeps only the values of those buckets. (`median` would
-- hold every value of every group at once.)
WITH joined AS (
    SELECT
        a.group_kind,
        a.group_name,
        a.split,
        a.epoch,
        CASE WHEN a.n_correct = a.n_networks THEN 'agreed' ELSE 'rest' END AS subset,
        a.sample_id
    FROM sample_agreement AS a
),
per_subset AS (
    SELECT
        j.group_kind,
        j.group_name,
        j.split,
        j.epoch,
        j.subset,
        make_array({each statistic: count(w.{column})}) AS n,
        make_array({each statistic: precise_avg(w.{column})}) AS mean,
        make_array({each statistic: median_window(b.{column})}) AS middle
    FROM joined AS j
    JOIN statistic_wide AS w ON w.sample_id = j.sample_id
    LEFT JOIN statistic_buckets AS b ON b.sample_id = j.sample_id
    GROUP BY j.group_kind, j.group_name, j.split, j.epoch, j.subset
),
medians AS (
    SELECT
        j.group_kind,
        j.group_name,
        j.split,
        j.epoch,
        j.subset,
        make_array({each statistic: window_median(w.{column}, b.{column}, p.middle[{index}])}) AS median
    FROM joined AS j
    JOIN statistic_wide AS w ON w.sample_id = j.sample_id
    LEFT JOIN statistic_buckets AS b ON b.sample_id = j.sample_id
    JOIN per_subset AS p
        ON p.group_kind = j.group_kind
        AND p.group_name = j.group_name
        AND p.split = j.split
        AND p.epoch = j.epoch
        AND p.subset = j.subset
    GROUP BY j.group_kind, j.group_name, j.split, j.epoch, j.subset
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
    m.median[s.statistic_index] AS median
FROM per_subset AS p
JOIN medians AS m
    ON m.group_kind = p.group_kind
    AND m.group_name = p.group_name
    AND m.split = p.split
    AND m.epoch = p.epoch
    AND m.subset = p.subset
CROSS JOIN statistic_index AS s
ORDER BY p.group_kind, p.group_name, p.split, p.epoch, s.statistic, p.subset
