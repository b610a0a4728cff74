-- results/agreement_by_quantile: each statistic cut into quantile bins (over the
-- samples of the split; `analysis_parameters.quantile_bins`, default 5), and the
-- agreement and mean accuracy within each bin per epoch. Bins are assigned by
-- rank so tied values always share a bin: bin = ⌊(rank − 1)·B / n⌋.
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
),
bins AS (
    SELECT
        r.split,
        r.statistic,
        r.sample_id,
        r.value,
        CAST(floor(CAST(r.value_rank - 1 AS DOUBLE) * p.quantile_bins / r.n_values) AS INT) AS bin
    FROM ranked AS r
    CROSS JOIN analysis_parameters AS p
)
SELECT
    a.group_kind,
    a.group_name,
    a.split,
    a.epoch,
    b.statistic,
    b.bin,
    min(b.value) AS bin_low,
    max(b.value) AS bin_high,
    count(*) AS n_samples,
    CASE WHEN sum(CASE WHEN a.n_correct > 0 THEN 1 ELSE 0 END) = 0 THEN 0.0
         ELSE CAST(sum(CASE WHEN a.n_correct = a.n_networks THEN 1 ELSE 0 END) AS DOUBLE)
              / sum(CASE WHEN a.n_correct > 0 THEN 1 ELSE 0 END) END AS agreement,
    CAST(sum(a.n_correct) AS DOUBLE) / sum(a.n_networks) AS mean_accuracy
FROM sample_agreement AS a
JOIN bins AS b ON b.sample_id = a.sample_id AND b.split = a.split
GROUP BY a.group_kind, a.group_name, a.split, a.epoch, b.statistic, b.bin
ORDER BY a.group_kind, a.group_name, a.split, a.epoch, b.statistic, b.bin
