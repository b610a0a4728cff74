-- Local entropy of the images a group learned (and kept) versus those it never did.
SELECT o.group_name, o.split,
       CASE WHEN o.learned_epoch IS NULL THEN 'never learned' ELSE 'learned' END AS outcome,
       count(*) AS n,
       round(avg(st.entropy_local), 3) AS mean_entropy_local,
       round(median(st.entropy_local), 3) AS median_entropy_local
FROM learning_order AS o
JOIN stats AS st ON st.sample_id = o.sample_id
WHERE o.group_kind = 'same_arch'
GROUP BY o.group_name, o.split, CASE WHEN o.learned_epoch IS NULL THEN 'never learned' ELSE 'learned' END
ORDER BY o.group_name, o.split, outcome
