-- results/statistic_correlation: per group, split and statistic, the rank
-- correlation of learned_epoch with the statistic. Never-learned samples are
-- ranked last (after the last epoch, tied among themselves). CIs: percentile
-- bootstrap (`analysis_parameters.bootstrap_replicates`, seeded).
WITH learned AS (
    SELECT
        group_kind,
        group_name,
        split,
        sample_id,
        CAST(coalesce(learned_epoch, (SELECT max(epoch) FROM analysis_epochs) + 1) AS DOUBLE) AS learned
    FROM learning_order
),
correlations AS (
    SELECT
        l.group_kind,
        l.group_name,
        l.split,
        v.statistic,
        count(*) AS n,
        spearman(l.learned, v.value) AS spearman_rho,
        bootstrap_ci(l.learned, v.value, 'spearman', p.bootstrap_replicates, p.bootstrap_seed) AS spearman_ci,
        kendall_tau(l.learned, v.value) AS kendall_tau,
        bootstrap_ci(l.learned, v.value, 'kendall', p.bootstrap_replicates, p.bootstrap_seed) AS kendall_ci
    FROM learned AS l
    JOIN statistic_values AS v ON v.sample_id = l.sample_id
    CROSS JOIN analysis_parameters AS p
    WHERE v.value IS NOT NULL
    GROUP BY l.group_kind, l.group_name, l.split, v.statistic
)
SELECT
    group_kind,
    group_name,
    split,
    statistic,
    n,
    spearman_rho,
    spearman_ci[1] AS spearman_ci_low,
    spearman_ci[2] AS spearman_ci_high,
    kendall_tau,
    kendall_ci[1] AS kendall_ci_low,
    kendall_ci[2] AS kendall_ci_high
FROM correlations
ORDER BY group_kind, group_name, split, statistic
