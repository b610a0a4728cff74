"""DuckDB peer of the SQL-stage benchmark (benches/sql.rs): the same SQL files of
crates/agree-sql/sql/ (expanded by the bench for the run's statistics) on the same
Parquet files.

DuckDB has no rank-correlation aggregates, so statistic_correlation is left out
(the Rust side reports that step separately), and the two aggregates of ours that
have plain-SQL equivalents are substituted: fleiss_kappa by its formula over
sums, forgetting_events by a list lambda over the epoch-ordered correct flags,
precise_avg by avg, and the two passes of the bounded exact median
(median_window, window_median) by DuckDB's median over the same rows;
DataFusion's make_array is DuckDB's list_value.

Usage: sql_duckdb.py <experiment dir> <expanded sql dir> <query.sql> <out dir>
                     [memory_limit [temp_directory]]
(the sql dir holds steps.json, statistic_values.sql, statistic_wide.sql,
statistic_buckets.sql, statistic_index.sql and one file per analysis step)
Prints one JSON line: seconds of the analysis, of each step, of the agreement
query (best of 3), and peak RSS in MiB.
"""

import glob
import json
import os
import re
import sys
import time

import duckdb

FLEISS = (
    "((avg((n_correct * (n_correct - 1) + (n_networks - n_correct) * (n_networks - n_correct - 1))"
    " / (n_networks * (n_networks - 1.0)))"
    " - (power(sum(n_correct) / sum(n_networks), 2) + power(1 - sum(n_correct) / sum(n_networks), 2)))"
    " / nullif(1 - (power(sum(n_correct) / sum(n_networks), 2) + power(1 - sum(n_correct) / sum(n_networks), 2)), 0))"
)
FORGETTING = (
    "len(list_filter(list_transform(range(1, len(list(correct ORDER BY epoch))),"
    " lambda i: list(correct ORDER BY epoch)[i] AND NOT list(correct ORDER BY epoch)[i + 1]), lambda x: x))"
)
def el2n_epoch(epochs):
    """agree's default: the analysed epoch closest to 10 % of the last (at least 1), the earlier on a tie."""
    target = max(1.0, 0.1 * epochs[-1])
    return min(epochs, key=lambda e: (abs(e - target), e))


def register(con, root):
    files = os.path.join(root, "predictions", "*", "epoch=*.parquet")
    con.execute(f"CREATE VIEW predictions AS SELECT * FROM read_parquet('{files}')")
    for name in ["stats", "attributes"]:
        path = os.path.join(root, f"{name}.parquet")
        if os.path.exists(path):
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{path}')")


def analysis(con, root, sql_dir, out_dir):
    runs, epochs = [], set()
    for run_dir in sorted(glob.glob(os.path.join(root, "predictions", "*"))):
        files = sorted(glob.glob(os.path.join(run_dir, "epoch=*.parquet")))
        epochs |= {int(os.path.basename(f)[6:-8]) for f in files}
        arch, network = con.execute(f"SELECT arch, network FROM read_parquet('{files[0]}') LIMIT 1").fetchone()
        runs.append((os.path.basename(run_dir), arch, network, len(files)))
    con.execute("CREATE TEMP TABLE networks (run_id VARCHAR, arch VARCHAR, network INT, epochs INT)")
    con.executemany("INSERT INTO networks VALUES (?, ?, ?, ?)", runs)
    con.execute("CREATE TEMP TABLE analysis_epochs AS SELECT unnest(?::INT[]) AS epoch", [sorted(epochs)])
    con.execute(
        "CREATE TEMP TABLE analysis_parameters AS SELECT 5 AS quantile_bins, 200::BIGINT AS bootstrap_replicates,"
        " 0::BIGINT AS bootstrap_seed, 'synthetic' AS dataset, ?::INT AS el2n_epoch", [el2n_epoch(sorted(epochs))]
    )
    for name in ["statistic_values", "statistic_wide", "statistic_buckets", "statistic_index"]:
        con.execute(f"CREATE TEMP TABLE {name} AS {read(sql_dir, name)}")
    steps = {}
    for step in json.load(open(os.path.join(sql_dir, "steps.json"))):
        name, result = step["name"], step["result"]
        if name in ("statistic_correlation", "score_correlation"):
            continue  # no rank-correlation aggregates in DuckDB
        sql = read(sql_dir, name)
        start = time.perf_counter()
        con.execute(f"CREATE TEMP TABLE {name} AS {sql}")
        if result:
            con.execute(f"COPY {name} TO '{os.path.join(out_dir, name + '.parquet')}' (FORMAT parquet)")
        steps[name] = time.perf_counter() - start
    return steps


def read(sql_dir, name):
    sql = open(os.path.join(sql_dir, f"{name}.sql")).read()
    sql = sql.replace("fleiss_kappa(n_correct, n_networks)", FLEISS)
    sql = sql.replace("forgetting_events(epoch, correct)", FORGETTING)
    sql = re.sub(r"window_median\(([^,()]+), [^,()]+, [^()]+\)", r"median(\1)", sql)
    sql = re.sub(r"median_window\(([^()]+)\)", r"count(\1)", sql)
    sql = sql.replace("precise_avg(", "avg(").replace("precise_sum(", "sum(").replace("precise_stddev_pop(", "stddev_pop(")
    return sql.replace("make_array(", "list_value(")


def connect(memory_limit, temp_directory):
    con = duckdb.connect()
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if temp_directory:
        con.execute(f"SET temp_directory = '{temp_directory}'")
    return con


def main(root, sql_dir, agreement_query_path, out_dir, memory_limit=None, temp_directory=None):
    agreement_query = open(agreement_query_path).read()
    os.makedirs(out_dir, exist_ok=True)

    start = time.perf_counter()
    con = connect(memory_limit, temp_directory)
    register(con, root)
    steps = analysis(con, root, sql_dir, out_dir)
    total = time.perf_counter() - start
    con.close()

    query = []
    for _ in range(3):
        con = connect(memory_limit, temp_directory)
        start = time.perf_counter()
        register(con, root)
        rows = con.execute(agreement_query).fetchall()
        query.append(time.perf_counter() - start)
        con.close()
    # VmHWM belongs to this process image; ru_maxrss would carry the parent's peak across fork+exec.
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
    print(json.dumps({"analysis_s": total, "steps": steps, "query_s": min(query), "query_rows": len(rows),
                      "peak_rss_mib": peak, "threads": duckdb.connect().execute("SELECT current_setting('threads')").fetchone()[0]}))


if __name__ == "__main__":
    main(*sys.argv[1:7])
