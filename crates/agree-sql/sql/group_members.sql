-- Which networks the analysis compares (SPEC §5), one row per (group, network):
--   same_arch  — each architecture's networks, named by the architecture;
--   cross_arch — networks of different architectures that share a seed index,
--                named s<index>; only when the run has several architectures.
-- Reads `networks` (one row per network found under predictions/).
SELECT 'same_arch' AS group_kind, arch AS group_name, arch, network
FROM networks
UNION ALL
SELECT 'cross_arch' AS group_kind, 's' || CAST(network AS VARCHAR) AS group_name, arch, network
FROM networks
WHERE (SELECT count(DISTINCT arch) FROM networks) > 1
