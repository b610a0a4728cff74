"""Independent reference for `agree analyze`: the authors' calc_agreement
(intersection over union of the networks' correct sets, lower bound
1 - min(sum of errors, 1), mean/std accuracy) in numpy, the per-sample scores of
sample_dynamics (AUM, EL2N, cumulative accuracy, first-learned epoch, data-map
correctness, confidence, variability and region, agreement rate) from their
papers' definitions, and Spearman/Kendall from scipy.stats for
statistic_correlation and score_correlation (every score against every statistic and
every later score), compared with results/*.parquet
to 1e-9.

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
    table = pq.ParquetDataset(files).read(
        columns=["arch", "network", "epoch", "split", "sample_id", "correct", "p_label", "logit_margin", "el2n"]
    )
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

    floats = {name: column(table, name, float) for name in ["p_label", "logit_margin", "el2n"]}
    # correct[(arch, network, split)]: bool matrix epochs × samples (ascending sample_id);
    # values[name][(arch, network, split)]: the same for a float column.
    correct, sample_ids = {}, {}
    float_values = {name: {} for name in floats}
    for split in splits:
        in_split = split_col == split
        sample_ids[split] = np.unique(id_col[in_split])
        for arch, network in networks:
            mask = in_split & (arch_col == arch) & (network_col == network)
            ids, eps, ok = id_col[mask], epoch_col[mask], correct_col[mask]
            matrix = np.zeros((len(epochs), len(sample_ids[split])), dtype=bool)
            at = (np.searchsorted(epochs, eps), np.searchsorted(sample_ids[split], ids))
            matrix[at] = ok
            correct[(arch, network, split)] = matrix
            for name, col in floats.items():
                m = np.full((len(epochs), len(sample_ids[split])), np.nan)
                m[at] = col[mask]
                float_values[name][(arch, network, split)] = m

    agreement = pq.read_table(os.path.join(root, "results", "agreement.parquet")).to_pylist()
    agreement = {(r["group_kind"], r["group_name"], r["split"], r["epoch"]): r for r in agreement}
    order = pq.read_table(os.path.join(root, "results", "learning_order.parquet")).to_pylist()
    learned_by = {(r["group_kind"], r["group_name"], r["split"], r["sample_id"]): r["learned_epoch"] for r in order}
    correlation = pq.read_table(os.path.join(root, "results", "statistic_correlation.parquet")).to_pylist()
    correlation = {(r["group_kind"], r["group_name"], r["split"], r["statistic"]): r for r in correlation}
    score_rows = pq.read_table(os.path.join(root, "results", "score_correlation.parquet")).to_pylist()
    score_correlation = {
        (r["group_kind"], r["group_name"], r["split"], r["score"], r["versus_kind"], r["versus"]): r for r in score_rows
    }
    dynamics = pq.read_table(os.path.join(root, "results", "sample_dynamics.parquet")).to_pylist()
    dynamics = {(r["group_kind"], r["group_name"], r["split"], r["sample_id"]): r for r in dynamics}
    order_rows = {(r["group_kind"], r["group_name"], r["split"], r["sample_id"]): r for r in order}
    # EL2N's epoch: the analysed epoch closest to 10 % of the last (at least 1), the earlier on a tie.
    target = max(1.0, 0.1 * epochs[-1])
    el2n_epoch = min(epochs, key=lambda e: (abs(e - target), e))

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
        if expected is None or (isinstance(expected, float) and np.isnan(expected)):
            if actual is not None:
                mismatches.append(f"{what}: reference null, agree {actual!r}")
        elif actual is None or not (abs(expected - actual) <= TOLERANCE):
            mismatches.append(f"{what}: reference {expected!r}, agree {actual!r}")

    def data_map_regions(ids, confidence, variability):
        """Swayamdipta et al.'s regions by the contract's rule (ties by sample_id)."""
        region = {int(i): "other" for i in ids}
        ok = ~np.isnan(confidence) & ~np.isnan(variability)
        ids, confidence, variability = ids[ok], confidence[ok], variability[ok]
        n = len(ids)
        by_var = np.lexsort((ids, -variability))
        ambiguous = set(by_var[: n // 3].tolist())
        rest = np.array([i for i in range(n) if i not in ambiguous], dtype=int)
        m = len(rest)
        high = rest[np.lexsort((ids[rest], -confidence[rest]))][: m // 3]
        low = rest[np.lexsort((ids[rest], confidence[rest]))][: m // 3]
        for i in ambiguous:
            region[int(ids[i])] = "ambiguous"
        for i in high:
            region[int(ids[i])] = "easy"
        for i in low:
            region[int(ids[i])] = "hard"
        return region

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

            # sample_dynamics, from each network's epochs × samples matrices.
            ids = sample_ids[split]
            ok = np.array(matrices, dtype=float)  # networks × epochs × samples
            margins = np.array([float_values["logit_margin"][(a, n, split)] for a, n in members])
            p_label = np.array([float_values["p_label"][(a, n, split)] for a, n in members])
            el2n_all = np.array([float_values["el2n"][(a, n, split)] for a, n in members])
            e_at = epochs.index(el2n_epoch)
            ever = ok.any(axis=1)  # networks × samples
            first = np.where(ever, np.array(epochs)[ok.argmax(axis=1)], np.nan)
            with np.errstate(invalid="ignore"):
                first_learned = np.where(ever.any(axis=0), np.nanmean(np.where(ever, first, np.nan), axis=0), np.nan)
            reference = {
                "aum": margins.reshape(len(members) * len(epochs), -1).mean(axis=0),
                "el2n": el2n_all[:, e_at, :].mean(axis=0),
                "cumulative_accuracy": ok.reshape(len(members) * len(epochs), -1).mean(axis=0),
                "first_learned_epoch": first_learned,
                "correctness": ok.mean(axis=1).mean(axis=0),
                "confidence": p_label.reshape(len(members) * len(epochs), -1).mean(axis=0),
                "variability": p_label.std(axis=1).mean(axis=0),
                "agreement_rate": all_correct.mean(axis=0),
            }
            never = (~ever).sum(axis=0)
            forgetting = (ok[:, :-1, :] > ok[:, 1:, :]).sum(axis=(0, 1)).astype(float)
            regions = data_map_regions(
                ids,
                np.array([dynamics[(kind, name, split, int(i))]["confidence"] for i in ids], dtype=float),
                np.array([dynamics[(kind, name, split, int(i))]["variability"] for i in ids], dtype=float),
            )
            wrong_regions = 0
            for j, i in enumerate(ids):
                row = dynamics[(kind, name, split, int(i))]
                where = f"{kind}/{name}/{split}/{int(i)}"
                for key, v in reference.items():
                    check(f"{key} {where}", float(v[j]), row[key])
                check(f"never_learned {where}", int(never[j]), row["never_learned"])
                check(f"el2n_epoch {where}", el2n_epoch, row["el2n_epoch"])
                check(f"forgetting_events {where}", forgetting[j], order_rows[(kind, name, split, int(i))]["forgetting_events"])
                wrong_regions += regions[int(i)] != row["data_map_region"]
            compared += 1
            if wrong_regions:
                mismatches.append(f"data_map_region {kind}/{name}/{split}: {wrong_regions} samples differ")

            # score_correlation: each score (never learned ranked last) against every
            # statistic and every later score, on the samples where both are known.
            scores = {
                "learned_epoch": ranked,
                "aum": reference["aum"],
                "el2n": reference["el2n"],
                "cumulative_accuracy": reference["cumulative_accuracy"],
                "forgetting_events": forgetting,
                "first_learned_epoch": np.where(np.isnan(first_learned), max(epochs) + 1, first_learned),
                "confidence": reference["confidence"],
                "variability": reference["variability"],
            }
            names = list(scores)
            for i, score in enumerate(names):
                others = [("statistic", s, v[sample_ids[split]]) for s, v in stat_values.items()]
                others += [("score", t, scores[t]) for t in names[i + 1 :]]
                for versus_kind, versus, y in others:
                    x = scores[score]
                    keep = ~np.isnan(x) & ~np.isnan(y)
                    where = f"score_correlation {kind}/{name}/{split}/{score}/{versus}"
                    row = score_correlation.get((kind, name, split, score, versus_kind, versus))
                    compared += 1
                    if row is None:
                        if keep.any():
                            mismatches.append(f"{where}: no row")
                        continue
                    check(f"spearman {where}", stats.spearmanr(x[keep], y[keep]).statistic, row["spearman_rho"])
                    check(f"kendall {where}", stats.kendalltau(x[keep], y[keep]).statistic, row["kendall_tau"])
                    check(f"n {where}", int(keep.sum()), row["n"])
                    for low, high in [("spearman_ci_low", "spearman_ci_high"), ("kendall_ci_low", "kendall_ci_high")]:
                        compared += 1
                        if row[low] is not None and not (row[low] <= row[high]):
                            mismatches.append(f"{where}: {low} {row[low]} > {high} {row[high]}")

    compared += 1
    if not score_rows:
        mismatches.append("score_correlation is empty")
    if mismatches:
        print(f"{len(mismatches)} of {compared} numbers differ:")
        print("\n".join(mismatches[:40]))
        return 1
    print(f"crosscheck: {compared} numbers equal to the numpy/scipy reference within {TOLERANCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
