"""Shared fixtures: experiment directories made by agree itself (ingest, stats)."""

from __future__ import annotations

import io
import os
import shutil
import tomllib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

import agree

ROOT = Path(__file__).resolve().parents[3]
SCHEMAS = ROOT / "schemas"

_TYPES = {
    "utf8": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "binary": pa.binary(),
    "list<float32>": pa.list_(pa.float32()),
    "list<float64>": pa.list_(pa.float64()),
    "list<int32>": pa.list_(pa.int32()),
    "timestamp_us": pa.timestamp("us", tz="UTC"),
}


def contract(table: str) -> dict:
    """Column name → (pyarrow type, nullable) of schemas/<table>.toml."""
    spec = tomllib.loads((SCHEMAS / f"{table}.toml").read_text())
    return {c["name"]: (_TYPES[c["type"]], c["nullable"]) for c in spec["column"]}


def assert_follows_contract(table: pa.Table, name: str) -> None:
    """Every contract column present with its type, and no null where it is not nullable."""
    for column, (ty, nullable) in contract(name).items():
        assert column in table.column_names, f"{name}: no column {column}"
        got = table.schema.field(column).type
        if pa.types.is_dictionary(got):
            got = got.value_type
        assert got == ty, f"{name}.{column} is {got}, contract says {ty}"
        if not nullable:
            assert table.column(column).null_count == 0, f"{name}.{column} has nulls"


def decode(fmt: str, data: bytes, width: int, height: int) -> np.ndarray:
    """A samples.image value as a NumPy array (PIL for encoded files)."""
    if fmt == "rgb8":
        return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)
    return np.asarray(Image.open(io.BytesIO(data)))


def load_images(exp: Path):
    """(sample_id, split, label, uint8 N×H×W×3 images) of an experiment of equal-sized images."""
    t = pq.read_table(exp / "samples.parquet", columns=["sample_id", "split", "label", "format", "width", "height", "image"])
    d = t.to_pydict()
    images = np.stack([decode(f, b, w, h) for f, b, w, h in zip(d["format"], d["image"], d["width"], d["height"])])
    return np.array(d["sample_id"]), np.array(d["split"]), np.array(d["label"]), images


@pytest.fixture(scope="session")
def quickstart(tmp_path_factory) -> Path:
    """The quickstart's dataset (synthetic, 6,000 + 1,000 images of 32×32) with stats.parquet."""
    exp = tmp_path_factory.mktemp("quickstart")
    agree.ingest("synthetic", out=exp, seed=0, train=6000, test=1000, size=32, quiet=True)
    agree.stats(exp, quiet=True)
    return exp


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> Path:
    """A small synthetic dataset (40 train + 10 test) for the Recorder's refusals."""
    exp = tmp_path_factory.mktemp("tiny")
    agree.ingest("synthetic", out=exp, seed=3, train=40, test=10, size=16, quiet=True)
    return exp


@pytest.fixture
def fresh(tiny, tmp_path) -> Path:
    """A copy of `tiny` holding only samples.parquet, for a test to record into."""
    exp = tmp_path / "exp"
    exp.mkdir()
    shutil.copy(tiny / "samples.parquet", exp / "samples.parquet")
    return exp


def files_under(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def agree_binary() -> Path:
    """The `agree` binary the workspace built (cargo xtask test sets AGREE_BIN)."""
    candidates = [os.environ.get("AGREE_BIN")]
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        candidates.append(os.path.join(target, "debug", "agree"))
    candidates.append(str(ROOT / "target" / "debug" / "agree"))
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return Path(c)
    pytest.fail(f"no agree binary (looked at {[c for c in candidates if c]}); run `cargo build -p agree` or set AGREE_BIN")
