-- results/score_correlation: per group and split, the rank correlation of one
-- per-sample score with every statistic (versus_kind = 'statistic') and with
-- every score listed after it (versus_kind = 'score'), so each pair of scores
-- appears once. The scores, in this order (steps.toml runs this query once per
-- score, `{score}` standing for it, and writes the rows in that order):
--   learned_epoch        learning_order; never learned ranked last (after the last
--                        analysed epoch, tied among themselves), as statistic_correlation
--   aum                  sample_dynamics (null where the predictions have no margins)
--   el2n                 sample_dynamics (null where the predictions have no el2n)
--   cumulative_accuracy  sample_dynamics
--   forgetting_events    learning_order
--   first_learned_epoch  sample_dynamics; never learned by any network ranked last,
--                        as learned_epoch
--   confidence           learning_order (data-map confidence)
--   variability          learning_order (data-map variability)
-- Samples where either side is null are left out (`n` counts the pairs used).
-- CIs: percentile bootstrap (`analysis_parameters.bootstrap_replicates`, seeded),
-- as statistic_correlation's.
WITH last_epoch AS (
    SELECT CAST(max(epoch) + 1 AS DOUBLE) AS never FROM analysis_epochs
),
scores AS (
    SELECT o.group_kind, o.group_name, o.split, o.sample_id, 'learned_epoch' AS score, 1 AS position,
        CAST(coalesce(CAST(o.learned_epoch AS DOUBLE), l.never) AS DOUBLE) AS value
    FROM learning_order AS o CROSS JOIN last_epoch AS l
    UNION ALL
    SELECT group_kind, group_name, split, sample_id, 'aum', 2, CAST(aum AS DOUBLE) FROM sample_dynamics
    UNION ALL
    SELECT group_kind, group_name, split, sample_id, 'el2n', 3, CAST(el2n AS DOUBLE) FROM sample_dynamics
    UNION ALL
    SELECT group_kind, group_name, split, sample_id, 'cumulative_accuracy', 4, CAST(cumulative_accuracy AS DOUBLE)
    FROM sample_dynamics
    UNION ALL
    SELECT group_kind, group_name, split, sample_id, 'forgetting_events', 5, CAST(forgetting_events AS DOUBLE)
    FROM learning_order
    UNION ALL
    SELECT d.group_kind, d.group_name, d.split, d.sample_id, 'first_learned_epoch', 6,
        CAST(coalesce(d.first_learned_epoch, l.never) AS DOUBLE)
    FROM sample_dynamics AS d CROSS JOIN last_epoch AS l
    UNION ALL
    SELECT group_kind, group_name, split, sample_id, 'confidence', 7, CAST(confidence AS DOUBLE) FROM learning_order
    UNION ALL
    SELECT group_kind, group_name, split, sample_id, 'variability', 8, CAST(variability AS DOUBLE) FROM learning_order
),
this AS (
    SELECT group_kind, group_name, split, sample_id, score, position, value
    FROM scores
    WHERE score = '{score}' AND value IS NOT NULL
),
pairs AS (
    SELECT t.group_kind, t.group_name, t.split, t.score, 'statistic' AS versus_kind, v.statistic AS versus,
        t.value AS x, v.value AS y
    FROM this AS t
    JOIN statistic_values AS v ON v.sample_id = t.sample_id
    WHERE v.value IS NOT NULL
    UNION ALL
    SELECT t.group_kind, t.group_name, t.split, t.score, 'score' AS versus_kind, s.score AS versus,
        t.value AS x, s.value AS y
    FROM this AS t
    JOIN scores AS s
        ON s.group_kind = t.group_kind AND s.group_name = t.group_name AND s.split = t.split
        AND s.sample_id = t.sample_id AND s.position > t.position
    WHERE s.value IS NOT NULL
),
correlations AS (
    SELECT
        c.group_kind,
        c.group_name,
        c.split,
        c.score,
        c.versus_kind,
        c.versus,
        count(*) AS n,
        spearman(c.x, c.y) AS spearman_rho,
        bootstrap_ci(c.x, c.y, 'spearman', p.bootstrap_replicates, p.bootstrap_seed) AS spearman_ci,
        kendall_tau(c.x, c.y) AS kendall_tau,
        bootstrap_ci(c.x, c.y, 'kendall', p.bootstrap_replicates, p.bootstrap_seed) AS kendall_ci
    FROM pairs AS c
    CROSS JOIN analysis_parameters AS p
    GROUP BY c.group_kind, c.group_name, c.split, c.score, c.versus_kind, c.versus
)
SELECT
    group_kind,
    group_name,
    split,
    score,
    versus_kind,
    versus,
    n,
    spearman_rho,
    spearman_ci[1] AS spearman_ci_low,
    spearman_ci[2] AS spearman_ci_high,
    kendall_tau,
    kendall_ci[1] AS kendall_ci_low,
    kendall_ci[2] AS kendall_ci_high
FROM correlations
ORDER BY group_kind, group_name, split, versus_kind, versus
