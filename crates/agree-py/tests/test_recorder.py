"""agree.Recorder: every refused input gets its error and leaves no partial file."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

import agree
from conftest import assert_follows_contract, files_under

K = 10


def split_ids(exp, split):
    t = pq.read_table(exp / "samples.parquet", columns=["sample_id", "split", "label"]).to_pydict()
    rows = [(i, l) for i, s, l in zip(t["sample_id"], t["split"], t["label"]) if s == split]
    return np.array([i for i, _ in rows]), np.array([l for _, l in rows])


def logits_for(n, seed=0):
    return np.random.default_rng(seed).normal(size=(n, K)).astype(np.float32)


def record_full_epoch(rec, exp, epoch, skip_test=0):
    tr, ytr = split_ids(exp, "train")
    te, yte = split_ids(exp, "test")
    rec.train_batch(epoch, tr, logits_for(len(tr), epoch), ytr)
    rec.eval_batch(epoch, "test", te[skip_test:], logits_for(len(te) - skip_test, epoch + 100), yte[skip_test:])


def assert_nothing_written(exp):
    assert files_under(exp) == ["samples.parquet"], files_under(exp)


def test_a_complete_epoch_is_written(fresh):
    with agree.Recorder(fresh, arch="mlp", network=1, epochs=1, config={"lr": 0.1}) as rec:
        record_full_epoch(rec, fresh, 1)
        path = rec.end_epoch(1, learning_rate=0.1)
    assert path.endswith("predictions/mlp-s1/epoch=1.parquet")
    t = pq.read_table(path)
    assert_follows_contract(t, "predictions")
    assert t.column("split").to_pylist() == ["train"] * 40 + ["test"] * 10
    assert files_under(fresh) == ["epochs/mlp-s1.parquet", "predictions/mlp-s1/epoch=1.parquet", "runs/mlp-s1.parquet", "samples.parquet"]
    runs = pq.read_table(fresh / "runs").to_pydict()
    assert runs["status"] == ["finished"] and runs["seed"] == [1]
    assert json.loads(runs["config"][0])["user"] == {"lr": 0.1}


def test_torch_tensors_of_any_float_type_and_lists_are_accepted(fresh):
    tr, ytr = split_ids(fresh, "train")
    te, yte = split_ids(fresh, "test")
    rec = agree.Recorder(fresh, arch="mlp", network=0)
    half = torch.from_numpy(logits_for(20)).to(torch.bfloat16)
    rec.train_batch(1, torch.from_numpy(tr[:20]), half, torch.from_numpy(ytr[:20]))
    rec.train_batch(1, tr[20:].tolist(), logits_for(20).tolist(), ytr[20:].tolist())
    rec.eval_batch(1, "test", te, torch.from_numpy(logits_for(10)).double(), yte.astype(np.int32))
    rec.end_epoch(1)
    epochs = pq.read_table(fresh / "epochs").to_pydict()
    assert epochs["device"] == ["cpu"] and np.isnan(epochs["learning_rate"][0])


def test_multi_label_rows(fresh):
    tr, _ = split_ids(fresh, "train")
    te, _ = split_ids(fresh, "test")
    rec = agree.Recorder(fresh, arch="mlp", network=0)
    sets = lambda n: (np.random.default_rng(n).random((n, K)) < 0.3).astype(np.float32)
    rec.train_batch(1, tr, logits_for(len(tr)), sets(len(tr)))
    rec.eval_batch(1, "test", te, logits_for(len(te)), sets(len(te)))
    t = pq.read_table(rec.end_epoch(1))
    assert t.column("label").null_count == t.num_rows == t.column("predicted").null_count


def test_an_unknown_sample_id_is_refused(fresh):
    rec = agree.Recorder(fresh, arch="mlp", network=0)
    with pytest.raises(agree.AgreeError, match=r"not in .*samples.parquet.*sample_id 50"):
        rec.train_batch(1, [3, 50], logits_for(2), [0, 1])
    with pytest.raises(agree.AgreeError, match="sample_id -1"):
        rec.train_batch(1, [-1], logits_for(1), [0])
    assert_nothing_written(fresh)


def test_a_sample_of_another_split_is_refused(fresh):
    te, _ = split_ids(fresh, "test")
    rec = agree.Recorder(fresh, arch="mlp", network=0)
    with pytest.raises(agree.AgreeError, match="not in split `train`"):
        rec.train_batch(1, te[:2], logits_for(2), [0, 1])
    assert_nothing_written(fresh)


def test_a_sample_recorded_twice_in_a_pass_is_refused(fresh):
    tr, ytr = split_ids(fresh, "train")
    rec = agree.Recorder(fresh, arch="mlp", network=0)
    with pytest.raises(agree.AgreeError, match=f"1 samples recorded twice in the `train` pass: sample_id {tr[0]}"):
        rec.train_batch(1, [tr[0], tr[0]], logits_for(2), [0, 0])
    rec.train_batch(1, tr[:5], logits_for(5), ytr[:5])
    with pytest.raises(agree.AgreeError, match="recorded twice"):
        rec.train_batch(1, tr[4:6], logits_for(2), ytr[4:6])
    # The refused batch left nothing behind: tr[5] can still be recorded, and a
    # train_eval pass may see the same samples again.
    rec.train_batch(1, tr[5:6], logits_for(1), ytr[5:6])
    rec.eval_batch(1, "train_eval", tr[:5], logits_for(5), ytr[:5])
    assert_nothing_written(fresh)


@pytest.mark.parametrize(
    "logits, labels, message",
    [
        (logits_for(3), [0, 1], "3 rows but labels|labels have shape"),
        (np.zeros(3, np.float32), [0, 1, 2], "N×K"),
        (logits_for(3), np.zeros((3, K + 1)), "labels have shape"),
        (logits_for(3), [0, 1, K], "outside 0..10"),
        (logits_for(3), [0.5, 1.0, 2.0], "must be integers"),
        (logits_for(3), np.full((3, K), 0.5), "0/1"),
    ],
)
def test_shape_and_label_mismatches_are_refused(fresh, logits, labels, message):
    tr, _ = split_ids(fresh, "train")
    rec = agree.Recorder(fresh, arch="mlp", network=0)
    with pytest.raises(agree.AgreeError, match=message):
        rec.train_batch(1, tr[:3], logits, labels)
    assert_nothing_written(fresh)


def test_ids_and_logits_of_different_lengths_are_refused(fresh):
    tr, ytr = split_ids(fresh, "train")
    rec = agree.Recorder(fresh, arch="mlp", network=0)
    with pytest.raises(agree.AgreeError, match="4 sample ids for 3 rows"):
        rec.train_batch(1, tr[:4], logits_for(3), ytr[:3])
    rec.train_batch(1, tr[:3], logits_for(3), ytr[:3])
    with pytest.raises(agree.AgreeError, match="records 10 classes"):
        rec.train_batch(1, tr[3:6], np.zeros((3, 4), np.float32), [0, 1, 2])
    assert_nothing_written(fresh)


def test_nan_logits_are_counted_and_named(fresh):
    tr, ytr = split_ids(fresh, "train")
    rec = agree.Recorder(fresh, arch="mlp", network=0)
    x = logits_for(6)
    x[1, 3] = np.nan
    x[4, 0] = np.nan
    x[5, 2] = np.inf
    with pytest.raises(agree.AgreeError, match=rf"logits of 3 samples are NaN or infinite \(sample_id {tr[1]}, {tr[4]}, {tr[5]}\)"):
        rec.train_batch(1, tr[:6], torch.from_numpy(x), ytr[:6])
    assert_nothing_written(fresh)


def test_an_epoch_closed_twice_is_refused(fresh):
    rec = agree.Recorder(fresh, arch="mlp", network=0)
    record_full_epoch(rec, fresh, 1)
    rec.end_epoch(1)
    before = {p: (fresh / p).read_bytes() for p in files_under(fresh)}
    with pytest.raises(agree.AgreeError, match="epoch 1 of run `mlp-s0` is already closed"):
        rec.end_epoch(1)
    tr, ytr = split_ids(fresh, "train")
    with pytest.raises(agree.AgreeError, match="already closed"):
        rec.train_batch(1, tr, logits_for(40), ytr)
    # A new Recorder on the same run knows the epoch is written.
    again = agree.Recorder(fresh, arch="mlp", network=0)
    with pytest.raises(agree.AgreeError, match="already closed"):
        again.end_epoch(1)
    assert {p: (fresh / p).read_bytes() for p in files_under(fresh)} == before


def test_an_epoch_without_batches_is_refused(fresh):
    rec = agree.Recorder(fresh, arch="mlp", network=0)
    with pytest.raises(agree.AgreeError, match="no recorded batches"):
        rec.end_epoch(1)
    assert_nothing_written(fresh)


def test_missing_samples_are_refused_unless_partial_is_allowed(fresh):
    rec = agree.Recorder(fresh, arch="mlp", network=0)
    record_full_epoch(rec, fresh, 1, skip_test=3)
    te, _ = split_ids(fresh, "test")
    with pytest.raises(agree.AgreeError, match=rf"`test` lacks 3 of 10 samples \(sample_id {te[0]}, {te[1]}, {te[2]}\).*allow_partial"):
        rec.end_epoch(1)
    assert_nothing_written(fresh)
    tr, ytr = split_ids(fresh, "train")
    only_train = agree.Recorder(fresh, arch="mlp", network=1)
    only_train.train_batch(1, tr, logits_for(40), ytr)
    with pytest.raises(agree.AgreeError, match="`test` lacks 10 of 10"):
        only_train.end_epoch(1)
    assert_nothing_written(fresh)


def test_allow_partial_writes_what_it_has_and_says_so(fresh):
    with agree.Recorder(fresh, arch="mlp", network=0, allow_partial=True) as rec:
        record_full_epoch(rec, fresh, 1, skip_test=3)
        t = pq.read_table(rec.end_epoch(1))
    assert t.num_rows == 47
    runs = pq.read_table(fresh / "runs").to_pydict()
    assert json.loads(runs["config"][0])["partial_epochs"] == {"1": {"test": 3}}


def test_a_failure_inside_the_with_block_marks_the_run_failed(fresh):
    with pytest.raises(RuntimeError):
        with agree.Recorder(fresh, arch="mlp", network=0, epochs=5) as rec:
            record_full_epoch(rec, fresh, 1)
            rec.end_epoch(1)
            raise RuntimeError("diverged")
    runs = pq.read_table(fresh / "runs").to_pydict()
    assert runs["status"] == ["failed"] and runs["epochs_completed"] == [1] and runs["epochs_planned"] == [5]


def test_two_networks_share_the_tables(fresh):
    for network in range(2):
        rec = agree.Recorder(fresh, arch="mlp", network=network, epochs=2)
        for epoch in (1, 2):
            record_full_epoch(rec, fresh, epoch)
            rec.end_epoch(epoch)
    epochs = pq.read_table(fresh / "epochs").to_pydict()
    assert sorted(zip(epochs["run_id"], epochs["epoch"])) == [("mlp-s0", 1), ("mlp-s0", 2), ("mlp-s1", 1), ("mlp-s1", 2)]
    runs = pq.read_table(fresh / "runs").to_pydict()
    assert sorted(runs["run_id"]) == ["mlp-s0", "mlp-s1"] and runs["status"] == ["finished"] * 2


def test_a_directory_without_samples_is_refused(tmp_path):
    with pytest.raises(agree.AgreeError, match="samples.parquet"):
        agree.Recorder(tmp_path, arch="mlp", network=0)
    assert list(tmp_path.iterdir()) == []
