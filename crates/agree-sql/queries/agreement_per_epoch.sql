-- Agreement of each architecture's networks per split and epoch, straight from
-- the predictions (results/agreement has it precomputed with more columns).
WITH per_sample AS (
    SELECT arch, split, epoch, sample_id,
           sum(CASE WHEN correct THEN 1 ELSE 0 END) AS n_correct,
           count(*) AS n_networks
    FROM predictions
    GROUP BY arch, split, epoch, sample_id
)
SELECT arch, split, epoch,
       CAST(sum(CASE WHEN n_correct = n_networks THEN 1 ELSE 0 END) AS DOUBLE)
           / nullif(sum(CASE WHEN n_correct > 0 THEN 1 ELSE 0 END), 0) AS agreement,
       avg(CAST(n_correct AS DOUBLE) / n_networks) AS mean_accuracy
FROM per_sample
GROUP BY arch, split, epoch
ORDER BY arch, split, epoch
