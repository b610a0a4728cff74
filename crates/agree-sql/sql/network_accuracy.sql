-- Accuracy of every network per split and epoch, repeated for each group it is in.
WITH per_network AS (
    SELECT
        arch,
        network,
        split,
        epoch,
        CAST(sum(CASE WHEN correct THEN 1 ELSE 0 END) AS DOUBLE) / count(*) AS accuracy
    FROM predictions
    GROUP BY arch, network, split, epoch
)
SELECT g.group_kind, g.group_name, n.split, n.epoch, n.arch, n.network, n.accuracy
FROM per_network AS n
JOIN group_members AS g ON n.arch = g.arch AND n.network = g.network
