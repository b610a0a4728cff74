"""The stages with the CLI's options as keywords, and the id mapping."""

from __future__ import annotations

import types

import numpy as np
import pyarrow.parquet as pq
import pytest

import agree
from conftest import files_under


def test_ingest_takes_the_cli_options(tmp_path):
    agree.ingest("synthetic", out=tmp_path, train=30, test=12, size=8, seed=5, quiet=True)
    t = pq.read_table(tmp_path / "samples.parquet", columns=["split", "width"]).to_pydict()
    assert t["split"].count("train") == 30 and t["split"].count("test") == 12 and set(t["width"]) == {8}


def test_stats_takes_the_cli_options(tiny, tmp_path):
    import shutil

    shutil.copy(tiny / "samples.parquet", tmp_path / "samples.parquet")
    agree.stats(tmp_path, stats=["entropy_local", "dct"], threads=1, quiet=True)
    cols = pq.read_table(tmp_path / "stats.parquet").column_names
    assert cols == ["sample_id", "entropy_local", "dct_energy_pct", "dct_max_coeff", "error"]


def test_bad_options_are_refused_with_the_cli_message(tiny):
    before = files_under(tiny)
    with pytest.raises(agree.AgreeError, match="--nope"):
        agree.analyze(tiny, nope=3)
    with pytest.raises(agree.AgreeError, match="--bins"):
        agree.analyze(tiny, bins=0)
    with pytest.raises(agree.AgreeError, match="no prediction files"):
        agree.analyze(tiny, quiet=True)
    with pytest.raises(agree.AgreeError, match="invalid value 'tiff'"):
        agree.ingest("tiff", out=tiny)
    assert files_under(tiny) == before


def test_sample_ids_follow_the_samples_keys(tiny):
    t = pq.read_table(tiny / "samples.parquet", columns=["sample_id", "split", "key"]).to_pydict()
    train = [(k, i) for k, s, i in zip(t["key"], t["split"], t["sample_id"]) if s == "train"]
    keys = [k for k, _ in reversed(train)]
    ids = agree.sample_ids(tiny, "train", keys)
    assert ids.dtype == np.int64 and ids.tolist() == [i for _, i in reversed(train)]
    with pytest.raises(agree.AgreeError, match=r"2 of 3 keys are not samples of split `test`"):
        agree.sample_ids(tiny, "test", [keys[0], "nope.png", [k for k, s in zip(t["key"], t["split"]) if s == "test"][0]])


def test_torchvision_cifar10_indices_map_to_record_keys():
    keys = agree.cifar10_keys(train=True)
    assert len(keys) == 50000
    assert keys[0] == "data_batch_1.bin#00000" and keys[10000] == "data_batch_2.bin#00000"
    assert keys[49999] == "data_batch_5.bin#09999"
    assert agree.cifar10_keys(train=False)[123] == "test_batch.bin#00123"


def test_torchvision_imagefolder_indices_map_to_paths(tiny):
    t = pq.read_table(tiny / "samples.parquet", columns=["sample_id", "split", "key"]).to_pydict()
    test = [(k, i) for k, s, i in zip(t["key"], t["split"], t["sample_id"]) if s == "test"]
    # An ImageFolder over <somewhere>/test: `samples` holds absolute paths in its own order.
    folder = types.SimpleNamespace(samples=[(f"/data/synthetic/{k}", 0) for k, _ in test])
    assert agree.imagefolder_keys(folder)[0] == test[0][0]
    assert agree.torchvision_ids(tiny, folder).tolist() == [i for _, i in test]


def test_with_sample_ids_appends_the_id_and_a_loader_batches_it(tiny):
    import torch
    from torch.utils.data import DataLoader

    t = pq.read_table(tiny / "samples.parquet", columns=["sample_id", "split", "key"]).to_pydict()
    test = [(k, i) for k, s, i in zip(t["key"], t["split"], t["sample_id"]) if s == "test"]

    class Folder:  # an ImageFolder's shape: `samples` and (x, y) items
        samples = [(f"/data/synthetic/{k}", n % 3) for n, (k, _) in enumerate(reversed(test))]

        def __len__(self):
            return len(self.samples)

        def __getitem__(self, i):
            return torch.full((2,), float(i)), self.samples[i][1]

    wrapped = agree.with_sample_ids(tiny, Folder())
    assert len(wrapped) == len(test)
    x, y, sid = wrapped[0]
    assert sid == test[-1][1] and y == 0 and x.tolist() == [0.0, 0.0]
    seen = []
    for x, y, ids in DataLoader(wrapped, batch_size=5, shuffle=True):
        assert ids.dtype == torch.int64
        seen += [(int(v), int(s)) for v, s in zip(x[:, 0], ids)]
    assert sorted(seen) == sorted((n, i) for n, (_, i) in enumerate(reversed(test)))
    # A dataset that is neither CIFAR10 nor ImageFolder takes explicit ids, of the right length.
    items = [(0, 1), (2, 3)]
    assert agree.with_sample_ids(tiny, items, ids=[7, 9])[1] == (2, 3, 9)
    with pytest.raises(agree.AgreeError, match="2 sample ids for a dataset of 3 items"):
        agree.with_sample_ids(tiny, items + [(4, 5)], ids=[7, 9])
    with pytest.raises(agree.AgreeError, match="expected a torchvision CIFAR10 or ImageFolder"):
        agree.with_sample_ids(tiny, items)
