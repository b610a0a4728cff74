-- Each statistic cut into quantile bins over the samples of each split
-- (`analysis_parameters.quantile_bins`, default 5), one row per split,
-- statistic and sample. Bins are assigned by rank so tied values always share
-- a bin: bin = ⌊(rank − 1)·B / n⌋. Samples without a value have no bin.
WITH sample_splits AS (
    SELECT DISTINCT split, sample_id FROM sample_agreement
),
ranked AS (
    SELECT
        s.split,
        v.statistic,
        v.sample_id,
        v.value,
        rank() OVER (PARTITION BY s.split, v.statistic ORDER BY v.value) AS value_rank,
        count(*) OVER (PARTITION BY s.split, v.statistic) AS n_values
    FROM sample_splits AS s
    JOIN statistic_values AS v ON v.sample_id = s.sample_id
    WHERE v.value IS NOT NULL
)
SELECT
    r.split,
    r.statistic,
    r.sample_id,
    r.value,
    CAST(floor(CAST(r.value_rank - 1 AS DOUBLE) * p.quantile_bins / r.n_values) AS INT) AS bin
FROM ranked AS r
CROSS JOIN analysis_parameters AS p
