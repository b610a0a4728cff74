-- Per group, split, epoch and sample: how many of the group's networks got the
-- sample right. Every agreement figure below is a sum over this table.
SELECT
    g.group_kind,
    g.group_name,
    p.split,
    p.epoch,
    p.sample_id,
    CAST(sum(CASE WHEN p.correct THEN 1 ELSE 0 END) AS BIGINT) AS n_correct,
    CAST(count(*) AS BIGINT) AS n_networks
FROM predictions AS p
JOIN group_members AS g ON p.arch = g.arch AND p.network = g.network
GROUP BY g.group_kind, g.group_name, p.split, p.epoch, p.sample_id
