-- results/agreement: per group, split and epoch (SPEC §5).
--   agreement   |all correct| / |some correct|   (0 when no network is correct)
--   tpa         |all correct| / |X|
--   lower_bound 1 − min(Σ_i (1 − acc_i), 1)
--   independent Π_i acc_i   (as exp Σ ln; a zero accuracy makes it 0)
WITH counts AS (
    SELECT
        group_kind,
        group_name,
        split,
        epoch,
        count(*) AS n_samples,
        sum(CASE WHEN n_correct = n_networks THEN 1 ELSE 0 END) AS n_all_correct,
        sum(CASE WHEN n_correct > 0 THEN 1 ELSE 0 END) AS n_some_correct,
        fleiss_kappa(n_correct, n_networks) AS fleiss_kappa
    FROM sample_agreement
    GROUP BY group_kind, group_name, split, epoch
),
accuracies AS (
    SELECT
        group_kind,
        group_name,
        split,
        epoch,
        count(*) AS n_networks,
        precise_sum(1.0 - accuracy) AS error_sum,
        min(accuracy) AS min_accuracy,
        exp(precise_sum(ln(CASE WHEN accuracy > 0 THEN accuracy ELSE 1.0 END))) AS product_of_nonzero,
        precise_avg(accuracy) AS mean_accuracy,
        precise_stddev_pop(accuracy) AS std_accuracy
    FROM network_accuracy
    GROUP BY group_kind, group_name, split, epoch
)
SELECT
    c.group_kind,
    c.group_name,
    c.split,
    c.epoch,
    CAST(a.n_networks AS INT) AS n_networks,
    c.n_samples,
    CASE WHEN c.n_some_correct = 0 THEN 0.0
         ELSE CAST(c.n_all_correct AS DOUBLE) / c.n_some_correct END AS agreement,
    CAST(c.n_all_correct AS DOUBLE) / c.n_samples AS tpa,
    1.0 - CASE WHEN a.error_sum > 1.0 THEN 1.0 ELSE a.error_sum END AS lower_bound,
    CASE WHEN a.min_accuracy = 0 THEN 0.0 ELSE a.product_of_nonzero END AS independent,
    a.mean_accuracy,
    a.std_accuracy,
    c.fleiss_kappa
FROM counts AS c
JOIN accuracies AS a
  ON c.group_kind = a.group_kind AND c.group_name = a.group_name
 AND c.split = a.split AND c.epoch = a.epoch
ORDER BY c.group_kind, c.group_name, c.split, c.epoch
