"""Independent reference for `agree analyze`: the authors' calc_agreement
(intersection over union of the networks' correct sets, lower bound
1 - min(sum of errors, 1), mean/std accuracy) in numpy, and Spearman/Kendall
from scipy.stats, compared with results/*.parquet to 1e-9.

Usage: crosscheck.py <experiment dir>. Exit 0 with a summary line when every
number matches, 1 with the mismatches otherwise.
"""

import glob
import os
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import stats

TOLERANCE = 1e-9


def calc_agreement(correct):
    """The reference: `correct` is a list of boolean arrays, one per network."""
    sets = [set(np.flatnonzero(c)) for c in correct]
    intersection = set.intersection(*sets)
    union = set.union(*sets)
    agreement = len(intersection) / len(union) if union else 0.0
    accuracies = np.array([c.mean() for c in correct])
    lower_bound = 1.0 - min(np.sum(1.0 - accuracies), 1.0)
    return {
        "agreement": agreement,
        "tpa": len(intersection) / len(correct[0]),
        "lower_bound": lower_bound,
        "independent": float(np.prod(accuracies)),
        "mean_accuracy": float(np.mean(accuracies)),
        "std_accuracy": float(np.std(accuracies)),
    }


def column(table, name, dtype=None):
    values = table.column(name).to_numpy(zero_copy_only=False)
    return values.astype(dtype) if dtype is not None else values


def main(root):
    files = sorted(glob.glob(os.path.join(root, "predictions", "*", "epoch=*.parquet")))
    table = pq.ParquetDataset(files).read(columns=["arch", "network", "epoch", "split", "sample_id", "correct"])
    arch_col, network_col = column(table, "arch"), column(table, "network")
    epoch_col, split_col = column(table, "epoch"), column(table, "split")
    id_col, correct_col = column(table, "sample_id"), column(table, "correct", bool)
    networks = sorted({(a, int(n)) for a, n in zip(arch_col, network_col)})
    archs = sorted({a for a, _ in networks})
    groups = [("same_arch", a, [(a2, n) for a2, n in networks if a2 == a]) for a in archs]
    if len(archs) > 1:
        for s in sorted({n for _, n in networks}):
            groups.append(("cross_arch", f"s{s}", [(a, n) for a, n in networks if n == s]))
    epochs = sorted(int(e) for e in np.unique(epoch_col))
    splits = sorted(set(split_col))

    # correct[(arch, network, split)]: bool matrix epochs × samples (ascending sample_id)
    correct, sample_ids = {}, {}
    for split in splits:
        in_split = split_col == split
        sample_ids[split] = np.unique(id_col[in_split])
        for arch, network in networks:
            mask = in_split & (arch_col == arch) & (network_col == network)
            ids, eps, ok = id_col[mask], epoch_col[mask], correct_col[mask]
            matrix = np.zeros((len(epochs), len(sample_ids[split])), dtype=bool)
            matrix[np.searchsorted(epochs, eps), np.searchsorted(sample_ids[split], ids)] = ok
            correct[(arch, network, split)] = matrix

    agreement = pq.read_table(os.path.join(root, "results", "agreement.parquet")).to_pylist()
    agreement = {(r["group_kind"], r["group_name"], r["split"], r["epoch"]): r for r in agreement}
    order = pq.read_table(os.path.join(root, "results", "learning_order.parquet")).to_pylist()
    learned_by = {(r["group_kind"], r["group_name"], r["split"], r["sample_id"]): r["learned_epoch"] for r in order}
    correlation = pq.read_table(os.path.join(root, "results", "statistic_correlation.parquet")).to_pylist()
    correlation = {(r["group_kind"], r["group_name"], r["split"], r["statistic"]): r for r in correlation}

    stat_values = {}
    for name, path in [("stats", "stats.parquet"), ("attributes", "attributes.parquet")]:
        full = os.path.join(root, path)
        if os.path.exists(full):
            t = pq.read_table(full)
            ids = column(t, "sample_id")
            for field in t.schema:
                if field.name != "sample_id" and (pa.types.is_integer(field.type) or pa.types.is_floating(field.type)):
                    values = np.full(ids.max() + 1, np.nan)
                    raw = t.column(field.name).to_numpy(zero_copy_only=False)
                    values[ids] = np.where(raw == None, np.nan, raw).astype(float)  # noqa: E711
                    stat_values[f"{name}.{field.name}"] = values

    mismatches, compared = [], 0

    def check(what, expected, actual):
        nonlocal compared
        compared += 1
        if actual is None or not (abs(expected - actual) <= TOLERANCE):
            mismatches.append(f"{what}: reference {expected!r}, agree {actual!r}")

    for kind, name, members in groups:
        for split in splits:
            matrices = [correct[(a, n, split)] for a, n in members]
            for e, epoch in enumerate(epochs):
                reference = calc_agreement([m[e] for m in matrices])
                row = agreement[(kind, name, split, epoch)]
                for key, value in reference.items():
                    check(f"agreement {kind}/{name}/{split}/{epoch}/{key}", value, row[key])
            # learned epoch: first epoch from which all networks stay correct to the end.
            all_correct = np.logical_and.reduce(matrices)
            stays = np.logical_and.accumulate(all_correct[::-1], axis=0)[::-1]
            learned = np.where(stays.any(axis=0), np.array(epochs)[stays.argmax(axis=0)], np.nan)
            ours = np.array(
                [learned_by[(kind, name, split, int(i))] for i in sample_ids[split]], dtype=float
            )
            compared += 1
            if not np.array_equal(learned, ours, equal_nan=True):
                mismatches.append(f"learned_epoch {kind}/{name}/{split} differs")
            ranked = np.where(np.isnan(learned), max(epochs) + 1, learned)
            for statistic, values in stat_values.items():
                v = values[sample_ids[split]]
                keep = ~np.isnan(v)
                rho = stats.spearmanr(ranked[keep], v[keep]).statistic
                tau = stats.kendalltau(ranked[keep], v[keep]).statistic
                row = correlation[(kind, name, split, statistic)]
                check(f"spearman {kind}/{name}/{split}/{statistic}", rho, row["spearman_rho"])
                check(f"kendall {kind}/{name}/{split}/{statistic}", tau, row["kendall_tau"])
                check(f"n {kind}/{name}/{split}/{statistic}", int(keep.sum()), row["n"])

    if mismatches:
        print(f"{len(mismatches)} of {compared} numbers differ:")
        print("\n".join(mismatches[:40]))
        return 1
    print(f"crosscheck: {compared} numbers equal to the numpy/scipy reference within {TOLERANCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
