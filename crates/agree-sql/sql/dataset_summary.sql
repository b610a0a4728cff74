-- results/dataset_summary: the distribution of every statistic over the dataset's
-- samples, and for each group and split the normalised area under the agreement
-- curve (trapezoids over epochs divided by the epoch span, so in [0, 1]; a single
-- epoch: its agreement), with the curve's own spread.
WITH statistic_summary AS (
    SELECT
        statistic AS quantity,
        count(value) AS n,
        precise_avg(value) AS mean,
        precise_stddev_pop(value) AS std,
        min(value) AS min,
        percentile_cont(0.25) WITHIN GROUP (ORDER BY value) AS q25,
        median(value) AS median,
        percentile_cont(0.75) WITHIN GROUP (ORDER BY value) AS q75,
        max(value) AS max
    FROM statistic_values
    GROUP BY statistic
),
curve AS (
    SELECT
        group_kind,
        group_name,
        split,
        epoch,
        agreement,
        lag(epoch) OVER (PARTITION BY group_kind, group_name, split ORDER BY epoch) AS previous_epoch,
        lag(agreement) OVER (PARTITION BY group_kind, group_name, split ORDER BY epoch) AS previous_agreement
    FROM agreement
),
agreement_auc AS (
    SELECT
        'agreement_auc/' || group_kind || '/' || group_name || '/' || split AS quantity,
        count(*) AS n,
        CASE WHEN max(epoch) = min(epoch) THEN precise_avg(agreement)
             ELSE precise_sum(CASE WHEN previous_epoch IS NULL THEN 0.0
                           ELSE (epoch - previous_epoch) * (agreement + previous_agreement) / 2.0 END)
                  / (max(epoch) - min(epoch)) END AS mean,
        precise_stddev_pop(agreement) AS std,
        min(agreement) AS min,
        percentile_cont(0.25) WITHIN GROUP (ORDER BY agreement) AS q25,
        median(agreement) AS median,
        percentile_cont(0.75) WITHIN GROUP (ORDER BY agreement) AS q75,
        max(agreement) AS max
    FROM curve
    GROUP BY group_kind, group_name, split
),
quantities AS (
    SELECT * FROM statistic_summary
    UNION ALL
    SELECT * FROM agreement_auc
)
SELECT p.dataset, q.quantity, q.n, q.mean, q.std, q.min, q.q25, q.median, q.q75, q.max
FROM quantities AS q
CROSS JOIN analysis_parameters AS p
ORDER BY q.quantity
