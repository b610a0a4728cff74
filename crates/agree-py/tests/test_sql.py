"""agree.sql: a pyarrow.Table with the contract's types; writes are refused."""

from __future__ import annotations

import pyarrow as pa
import pytest

import agree
from conftest import contract, files_under


def test_a_query_returns_a_pyarrow_table_with_the_schema_types(tiny):
    t = agree.sql(tiny, "SELECT sample_id, split, key, label, width FROM samples ORDER BY sample_id")
    assert isinstance(t, pa.Table)
    types = contract("samples")
    for name in t.column_names:
        got = t.schema.field(name).type
        assert got == types[name][0], f"{name} is {got}, contract says {types[name][0]}"
    assert t.num_rows == 50
    assert t.column("sample_id").to_pylist() == list(range(50))
    df = t.to_pandas()
    assert list(df.columns) == ["sample_id", "split", "key", "label", "width"]
    assert (df.groupby("split").size().to_dict()) == {"test": 10, "train": 40}


def test_aggregates_and_udfs_work(tiny):
    t = agree.sql(tiny, "SELECT split, count(*) AS n FROM samples GROUP BY split ORDER BY split")
    assert t.to_pydict() == {"split": ["test", "train"], "n": [10, 40]}


@pytest.mark.parametrize(
    "query",
    [
        "CREATE TABLE copy AS SELECT * FROM samples",
        "INSERT INTO samples SELECT * FROM samples",
        "COPY samples TO 'out.parquet'",
        "DROP TABLE samples",
        "SET datafusion.execution.batch_size = 1",
    ],
)
def test_writes_are_refused(tiny, query):
    before = files_under(tiny)
    with pytest.raises(agree.AgreeError):
        agree.sql(tiny, query)
    assert files_under(tiny) == before


def test_a_syntax_error_names_the_position(tiny):
    with pytest.raises(agree.AgreeError, match="line 1"):
        agree.sql(tiny, "SELEC 1")
