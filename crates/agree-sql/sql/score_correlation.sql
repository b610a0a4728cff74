-- results/score_correlation: per group and split, the rank correlation of one
-- per-sample score with every statistic (versus_kind = 'statistic') and with
-- every score listed after it (versus_kind = 'score'), so each pair of scores
-- appears once. The scores, in this order (steps.toml runs this query once per
-- score, `{score}` standing for its name, and writes the rows in that order):
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
-- The parameters join the per-sample rows (thousands), not the pairs: a one-row
-- side crossed with the pairs came out as one batch per pair, and the aggregates
-- then ran once per row (30 s a score on the quickstart instead of 2). They join by
-- split, not by a cross join: DataFusion 55 executed the probe side of that cross
-- join twice on CIFAR-10 ("partition not used yet").
WITH settings AS (
    SELECT sp.split, CAST(e.never AS DOUBLE) AS never, p.bootstrap_replicates, p.bootstrap_seed
    FROM (SELECT DISTINCT split FROM learning_order) AS sp
    CROSS JOIN (SELECT max(epoch) + 1 AS never FROM analysis_epochs) AS e
    CROSS JOIN analysis_parameters AS p
),
-- Every score of a sample side by side, each column named by its score.
per_sample AS (
    SELECT
        o.group_kind,
        o.group_name,
        o.split,
        o.sample_id,
        coalesce(CAST(o.learned_epoch AS DOUBLE), s.never) AS learned_epoch,
        CAST(d.aum AS DOUBLE) AS aum,
        CAST(d.el2n AS DOUBLE) AS el2n,
        CAST(d.cumulative_accuracy AS DOUBLE) AS cumulative_accuracy,
        CAST(o.forgetting_events AS DOUBLE) AS forgetting_events,
        coalesce(CAST(d.first_learned_epoch AS DOUBLE), s.never) AS first_learned_epoch,
        CAST(o.confidence AS DOUBLE) AS confidence,
        CAST(o.variability AS DOUBLE) AS variability,
        s.bootstrap_replicates,
        s.bootstrap_seed
    FROM learning_order AS o
    JOIN sample_dynamics AS d
      ON d.group_kind = o.group_kind AND d.group_name = o.group_name
     AND d.split = o.split AND d.sample_id = o.sample_id
    JOIN settings AS s ON s.split = o.split
),
-- The scores in the table's order (the order of steps.toml's repeat).
score_list (score, position) AS (
    VALUES
        ('learned_epoch', 1), ('aum', 2), ('el2n', 3), ('cumulative_accuracy', 4),
        ('forgetting_events', 5), ('first_learned_epoch', 6), ('confidence', 7), ('variability', 8)
),
pairs AS (
    SELECT t.group_kind, t.group_name, t.split, '{score}' AS score, 'statistic' AS versus_kind,
        v.statistic AS versus, t.{score} AS x, v.value AS y,
        t.bootstrap_replicates, t.bootstrap_seed
    FROM per_sample AS t
    JOIN statistic_values AS v ON v.sample_id = t.sample_id
    WHERE t.{score} IS NOT NULL AND v.value IS NOT NULL
    UNION ALL
    SELECT t.group_kind, t.group_name, t.split, '{score}' AS score, 'score' AS versus_kind,
        later.score AS versus, t.{score} AS x,
        CASE later.score
            WHEN 'learned_epoch' THEN t.learned_epoch
            WHEN 'aum' THEN t.aum
            WHEN 'el2n' THEN t.el2n
            WHEN 'cumulative_accuracy' THEN t.cumulative_accuracy
            WHEN 'forgetting_events' THEN t.forgetting_events
            WHEN 'first_learned_epoch' THEN t.first_learned_epoch
            WHEN 'confidence' THEN t.confidence
            WHEN 'variability' THEN t.variability
        END AS y,
        t.bootstrap_replicates, t.bootstrap_seed
    FROM per_sample AS t
    CROSS JOIN score_list AS this_score
    CROSS JOIN score_list AS later
    WHERE this_score.score = '{score}' AND later.position > this_score.position
      AND t.{score} IS NOT NULL
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
        bootstrap_ci(c.x, c.y, 'spearman', c.bootstrap_replicates, c.bootstrap_seed) AS spearman_ci,
        kendall_tau(c.x, c.y) AS kendall_tau,
        bootstrap_ci(c.x, c.y, 'kendall', c.bootstrap_replicates, c.bootstrap_seed) AS kendall_ci
    FROM pairs AS c
    WHERE c.y IS NOT NULL
    GROUP BY c.group_kind, c.group_name, c.split, c.score, c.versus_kind, c.versus,
        c.bootstrap_replicates, c.bootstrap_seed
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
