-- results/sample_dynamics: per group, split and sample, the per-sample
-- learning-dynamics scores of the literature, from the same prediction rows
-- (schemas/sample_dynamics.toml defines each column):
--   aum                  mean logit_margin over epochs and networks (Pleiss et al. 2020)
--   el2n                 mean el2n over networks at analysis_parameters.el2n_epoch
--                        (Paul et al. 2021)
--   cumulative_accuracy  mean of correct over epochs and networks (the learning-speed
--                        proxy of C-scores, Jiang et al. 2021)
--   first_learned_epoch  mean over the networks ever correct of their first correct
--                        epoch (Toneva et al. 2019); never_learned counts the others
--   correctness          fraction of epochs correct, averaged over networks
--   confidence, variability  from learning_order (data maps, Swayamdipta et al. 2020)
--   data_map_region      ambiguous: the third of the samples with the highest
--                        variability; of the rest, easy/hard: the third with the
--                        highest/lowest confidence; other: the remainder
--   agreement_rate       fraction of epochs at which every network is correct
WITH per_network AS (
    SELECT
        p.arch,
        p.network,
        p.split,
        p.sample_id,
        precise_sum(CAST(p.logit_margin AS DOUBLE)) AS margin_sum,
        count(p.logit_margin) AS margin_n,
        max(CASE WHEN p.epoch = ap.el2n_epoch THEN p.el2n END) AS el2n_at,
        min(CASE WHEN p.correct THEN p.epoch END) AS first_correct,
        sum(CASE WHEN p.correct THEN 1 ELSE 0 END) AS n_correct,
        count(*) AS n_epochs
    FROM predictions AS p
    CROSS JOIN analysis_parameters AS ap
    GROUP BY p.arch, p.network, p.split, p.sample_id
),
per_group AS (
    SELECT
        g.group_kind,
        g.group_name,
        n.split,
        n.sample_id,
        CASE WHEN sum(n.margin_n) > 0 THEN precise_sum(n.margin_sum) / sum(n.margin_n) END AS aum,
        precise_avg(CAST(n.el2n_at AS DOUBLE)) AS el2n,
        CAST(sum(n.n_correct) AS DOUBLE) / CAST(sum(n.n_epochs) AS DOUBLE) AS cumulative_accuracy,
        precise_avg(CAST(n.first_correct AS DOUBLE)) AS first_learned_epoch,
        sum(CASE WHEN n.first_correct IS NULL THEN 1 ELSE 0 END) AS never_learned,
        precise_avg(CAST(n.n_correct AS DOUBLE) / CAST(n.n_epochs AS DOUBLE)) AS correctness
    FROM per_network AS n
    JOIN group_members AS g ON n.arch = g.arch AND n.network = g.network
    GROUP BY g.group_kind, g.group_name, n.split, n.sample_id
),
agreed AS (
    SELECT
        group_kind,
        group_name,
        split,
        sample_id,
        CAST(sum(CASE WHEN n_correct = n_networks THEN 1 ELSE 0 END) AS DOUBLE) / CAST(count(*) AS DOUBLE)
            AS agreement_rate
    FROM sample_agreement
    GROUP BY group_kind, group_name, split, sample_id
),
by_variability AS (
    SELECT
        group_kind,
        group_name,
        split,
        sample_id,
        confidence,
        row_number() OVER (
            PARTITION BY group_kind, group_name, split ORDER BY variability DESC, sample_id
        ) AS v_rank,
        count(*) OVER (PARTITION BY group_kind, group_name, split) AS n
    FROM learning_order
    WHERE confidence IS NOT NULL AND variability IS NOT NULL
),
by_confidence AS (
    SELECT
        group_kind,
        group_name,
        split,
        sample_id,
        row_number() OVER (
            PARTITION BY group_kind, group_name, split ORDER BY confidence DESC, sample_id
        ) AS c_high,
        row_number() OVER (
            PARTITION BY group_kind, group_name, split ORDER BY confidence ASC, sample_id
        ) AS c_low,
        count(*) OVER (PARTITION BY group_kind, group_name, split) AS m
    FROM by_variability
    WHERE v_rank > n / 3
),
regions AS (
    SELECT
        v.group_kind,
        v.group_name,
        v.split,
        v.sample_id,
        CASE
            WHEN v.v_rank <= v.n / 3 THEN 'ambiguous'
            WHEN c.c_high <= c.m / 3 THEN 'easy'
            WHEN c.c_low <= c.m / 3 THEN 'hard'
            ELSE 'other'
        END AS region
    FROM by_variability AS v
    LEFT JOIN by_confidence AS c
      ON c.group_kind = v.group_kind AND c.group_name = v.group_name
     AND c.split = v.split AND c.sample_id = v.sample_id
)
SELECT
    d.group_kind,
    d.group_name,
    d.split,
    d.sample_id,
    CAST(d.aum AS DOUBLE) AS aum,
    CAST(d.el2n AS DOUBLE) AS el2n,
    CAST(ap.el2n_epoch AS INT) AS el2n_epoch,
    CAST(d.cumulative_accuracy AS DOUBLE) AS cumulative_accuracy,
    CAST(d.first_learned_epoch AS DOUBLE) AS first_learned_epoch,
    CAST(d.never_learned AS INT) AS never_learned,
    CAST(d.correctness AS DOUBLE) AS correctness,
    l.confidence,
    l.variability,
    coalesce(r.region, 'other') AS data_map_region,
    CAST(a.agreement_rate AS DOUBLE) AS agreement_rate
FROM per_group AS d
JOIN learning_order AS l
  ON l.group_kind = d.group_kind AND l.group_name = d.group_name
 AND l.split = d.split AND l.sample_id = d.sample_id
JOIN agreed AS a
  ON a.group_kind = d.group_kind AND a.group_name = d.group_name
 AND a.split = d.split AND a.sample_id = d.sample_id
LEFT JOIN regions AS r
  ON r.group_kind = d.group_kind AND r.group_name = d.group_name
 AND r.split = d.split AND r.sample_id = d.sample_id
CROSS JOIN analysis_parameters AS ap
ORDER BY d.group_kind, d.group_name, d.split, d.sample_id
