-- sample_agreement with each sample's quantile bin of every statistic, side by
-- side (one column per statistic, named by it; null where the sample has no
-- value): what agreement_by_quantile groups, statistic by statistic.
WITH bins_wide AS (
    SELECT
        split,
        sample_id,
        {each statistic: max(CASE WHEN statistic = {name} THEN bin END) AS {column}}
    FROM statistic_bins
    GROUP BY split, sample_id
)
SELECT
    a.group_kind,
    a.group_name,
    a.split,
    a.epoch,
    a.n_correct,
    a.n_networks,
    {each statistic: b.{column}}
FROM sample_agreement AS a
JOIN bins_wide AS b ON b.split = a.split AND b.sample_id = a.sample_id
