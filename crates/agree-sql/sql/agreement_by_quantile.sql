-- results/agreement_by_quantile: the agreement and mean accuracy within each
-- quantile bin of each statistic (statistic_bins), per group, split and epoch.
-- One aggregation per statistic over sample_bins ({each statistic …} repeats
-- its text for every statistic: {column} is the statistic's bin column there,
-- {index} its position in `statistic_index`).
WITH per_bin AS (
    {each statistic separated by UNION ALL:
    SELECT
        group_kind,
        group_name,
        split,
        epoch,
        {index} AS statistic_index,
        {column} AS bin,
        count(*) AS n_samples,
        sum(CASE WHEN n_correct = n_networks THEN 1 ELSE 0 END) AS n_all_correct,
        sum(CASE WHEN n_correct > 0 THEN 1 ELSE 0 END) AS n_some_correct,
        sum(n_correct) AS n_correct,
        sum(n_networks) AS n_predictions
    FROM sample_bins
    WHERE {column} IS NOT NULL
    GROUP BY group_kind, group_name, split, epoch, {column}}
),
bin_ranges AS (
    SELECT split, statistic, bin, min(value) AS bin_low, max(value) AS bin_high
    FROM statistic_bins
    GROUP BY split, statistic, bin
)
SELECT
    p.group_kind,
    p.group_name,
    p.split,
    p.epoch,
    s.statistic,
    CAST(p.bin AS INT) AS bin,
    r.bin_low,
    r.bin_high,
    p.n_samples,
    CASE WHEN p.n_some_correct = 0 THEN 0.0
         ELSE CAST(p.n_all_correct AS DOUBLE) / p.n_some_correct END AS agreement,
    CAST(p.n_correct AS DOUBLE) / p.n_predictions AS mean_accuracy
FROM per_bin AS p
JOIN statistic_index AS s ON s.statistic_index = p.statistic_index
JOIN bin_ranges AS r ON r.split = p.split AND r.statistic = s.statistic AND r.bin = p.bin
ORDER BY group_kind, group_name, split, epoch, statistic, bin
