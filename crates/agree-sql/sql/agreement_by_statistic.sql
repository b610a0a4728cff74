-- results/agreement_by_statistic: per group, split, epoch and statistic, the
-- statistic over the samples all networks got right (`agreed`, the reference's
-- curve) and over the rest. `statistic_values` is the long form
-- (sample_id, statistic, value) of every numeric column of stats, attributes
-- and scores, built by the session from the tables found.
SELECT
    a.group_kind,
    a.group_name,
    a.split,
    a.epoch,
    v.statistic,
    CASE WHEN a.n_correct = a.n_networks THEN 'agreed' ELSE 'rest' END AS subset,
    count(v.value) AS n,
    avg(v.value) AS mean,
    median(v.value) AS median
FROM sample_agreement AS a
JOIN statistic_values AS v ON v.sample_id = a.sample_id
GROUP BY
    a.group_kind,
    a.group_name,
    a.split,
    a.epoch,
    v.statistic,
    CASE WHEN a.n_correct = a.n_networks THEN 'agreed' ELSE 'rest' END
ORDER BY a.group_kind, a.group_name, a.split, a.epoch, v.statistic, subset
