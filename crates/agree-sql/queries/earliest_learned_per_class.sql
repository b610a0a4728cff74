-- The three earliest-learned test images of each class, per architecture.
WITH ranked AS (
    SELECT o.group_name, s.class_name, o.sample_id, s.key, o.learned_epoch, o.confidence,
           row_number() OVER (PARTITION BY o.group_name, s.class_name
                              ORDER BY o.learned_epoch, o.confidence DESC, o.sample_id) AS place
    FROM learning_order AS o
    JOIN samples AS s ON s.sample_id = o.sample_id
    WHERE o.group_kind = 'same_arch' AND o.split = 'test' AND o.learned_epoch IS NOT NULL
)
SELECT group_name, class_name, place, sample_id, key, learned_epoch, round(confidence, 3) AS confidence
FROM ranked
WHERE place <= 3
ORDER BY group_name, class_name, place
