-- results/learning_order: per group, split and sample.
--   learned_epoch       first epoch from which every network of the group stays
--                       correct to the last analysed epoch (null if never)
--   first_agreed_epoch  first epoch at which all networks are correct
--   forgetting_events   correct→incorrect transitions, summed over the networks
--   confidence          mean p_label over epochs and networks
--   variability         std over epochs of p_label, averaged over networks
WITH misses AS (
    SELECT
        group_kind,
        group_name,
        split,
        sample_id,
        max(CASE WHEN n_correct < n_networks THEN epoch END) AS last_miss,
        min(CASE WHEN n_correct = n_networks THEN epoch END) AS first_agreed_epoch
    FROM sample_agreement
    GROUP BY group_kind, group_name, split, sample_id
),
next_epoch AS (
    SELECT epoch, lead(epoch) OVER (ORDER BY epoch) AS next
    FROM analysis_epochs
),
per_network AS (
    SELECT
        arch,
        network,
        split,
        sample_id,
        forgetting_events(epoch, correct) AS forgetting,
        precise_sum(p_label) AS p_label_sum,
        count(p_label) AS p_label_n,
        precise_stddev_pop(p_label) AS p_label_std
    FROM predictions
    GROUP BY arch, network, split, sample_id
),
data_map AS (
    SELECT
        g.group_kind,
        g.group_name,
        n.split,
        n.sample_id,
        sum(n.forgetting) AS forgetting_events,
        precise_sum(n.p_label_sum) / sum(n.p_label_n) AS confidence,
        precise_avg(n.p_label_std) AS variability
    FROM per_network AS n
    JOIN group_members AS g ON n.arch = g.arch AND n.network = g.network
    GROUP BY g.group_kind, g.group_name, n.split, n.sample_id
)
SELECT
    m.group_kind,
    m.group_name,
    m.split,
    m.sample_id,
    CAST(CASE WHEN m.last_miss IS NULL THEN (SELECT min(epoch) FROM analysis_epochs)
              ELSE e.next END AS INT) AS learned_epoch,
    CAST(m.first_agreed_epoch AS INT) AS first_agreed_epoch,
    CAST(d.forgetting_events AS INT) AS forgetting_events,
    CAST(d.confidence AS DOUBLE) AS confidence,
    CAST(d.variability AS DOUBLE) AS variability
FROM misses AS m
LEFT JOIN next_epoch AS e ON e.epoch = m.last_miss
JOIN data_map AS d
  ON d.group_kind = m.group_kind AND d.group_name = m.group_name
 AND d.split = m.split AND d.sample_id = m.sample_id
ORDER BY m.group_kind, m.group_name, m.split, m.sample_id
