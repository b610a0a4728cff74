-- results/dataset_summary: the distribution of every statistic over the dataset's
-- samples, and for each group and split the normalised area under the agreement
-- curve (trapezoids over epochs divided by the epoch span, so in [0, 1]; a single
-- epoch: its agreement), with the curve's own spread.
--
-- The quantiles of a statistic are exact and need bounded memory: its values are
-- ranked by one (spilling) sort, and each quantile reads the one or two values at
-- its positions — interpolated as DataFusion's percentile_cont does (the weight
-- truncated to 6 decimals), the median as (a + b) / 2 like median().
WITH ranked AS (
    SELECT
        statistic,
        value,
        row_number() OVER (PARTITION BY statistic ORDER BY value) - 1 AS position
    FROM statistic_values
    WHERE value IS NOT NULL
),
moments AS (
    SELECT
        statistic,
        count(value) AS n,
        precise_avg(value) AS mean,
        precise_stddev_pop(value) AS std,
        min(value) AS min,
        max(value) AS max
    FROM statistic_values
    GROUP BY statistic
),
quantile_positions AS (
    SELECT
        m.statistic,
        q.p,
        CAST(floor(q.p * (m.n - 1)) AS BIGINT) AS lower_position,
        CAST(ceil(q.p * (m.n - 1)) AS BIGINT) AS upper_position,
        CAST(CAST((q.p * (m.n - 1) - floor(q.p * (m.n - 1))) * 1000000.0 AS BIGINT) AS DOUBLE) / 1000000.0 AS weight
    FROM moments AS m
    CROSS JOIN (VALUES (0.25), (0.5), (0.75)) AS q(p)
    WHERE m.n > 0
),
quantiles AS (
    SELECT
        qp.statistic,
        qp.p,
        CASE
            WHEN qp.lower_position = qp.upper_position THEN max(r.value)
            WHEN qp.p = 0.5 THEN (min(r.value) + max(r.value)) / 2
            ELSE min(r.value) + (max(r.value) - min(r.value)) * qp.weight
        END AS value
    FROM quantile_positions AS qp
    JOIN ranked AS r
        ON r.statistic = qp.statistic
        AND (r.position = qp.lower_position OR r.position = qp.upper_position)
    GROUP BY qp.statistic, qp.p, qp.lower_position, qp.upper_position, qp.weight
),
statistic_summary AS (
    SELECT
        m.statistic AS quantity,
        m.n,
        m.mean,
        m.std,
        m.min,
        q25.value AS q25,
        q50.value AS median,
        q75.value AS q75,
        m.max
    FROM moments AS m
    LEFT JOIN quantiles AS q25 ON q25.statistic = m.statistic AND q25.p = 0.25
    LEFT JOIN quantiles AS q50 ON q50.statistic = m.statistic AND q50.p = 0.5
    LEFT JOIN quantiles AS q75 ON q75.statistic = m.statistic AND q75.p = 0.75
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
