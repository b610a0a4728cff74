-- Per class, does the synthetic set's latent difficulty order learning? The
-- analysis aggregates (spearman, kendall_tau, bootstrap_ci) work in any query.
SELECT s.class_name,
       count(*) AS n,
       round(spearman(coalesce(o.learned_epoch, 1000), a.difficulty), 3) AS rho,
       round(kendall_tau(coalesce(o.learned_epoch, 1000), a.difficulty), 3) AS tau,
       bootstrap_ci(coalesce(o.learned_epoch, 1000), a.difficulty, 'spearman', 200, 0) AS rho_95ci
FROM learning_order AS o
JOIN samples AS s ON s.sample_id = o.sample_id
JOIN attributes AS a ON a.sample_id = o.sample_id
WHERE o.group_kind = 'same_arch' AND o.split = 'test'
GROUP BY s.class_name
ORDER BY s.class_name
