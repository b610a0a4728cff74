-- Which statistics order learning most strongly (|Spearman ρ|), with bootstrap CIs.
SELECT group_kind, group_name, split, statistic, n,
       round(spearman_rho, 3) AS rho,
       round(spearman_ci_low, 3) AS rho_low,
       round(spearman_ci_high, 3) AS rho_high,
       round(kendall_tau, 3) AS tau
FROM statistic_correlation
ORDER BY abs(spearman_rho) DESC
LIMIT 10
