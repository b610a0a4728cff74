"""A real PyTorch training recorded with agree.Recorder, analysed by agree.analyze,
checked against a hand computation and against the CLI's analysis."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import agree
from conftest import agree_binary, assert_follows_contract, load_images

EPOCHS = 3
NETWORKS = 2
RESULTS = ["agreement", "agreement_by_statistic", "agreement_by_quantile", "learning_order",
           "sample_dynamics", "statistic_correlation", "dataset_summary"]


class SmallCNN(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Linear(32 * 8 * 8, classes)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def train_network(exp: Path, network: int, data, captured: dict) -> None:
    ids, split, labels, images = data
    x_all = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255.0
    y_all = torch.from_numpy(labels.astype(np.int64))
    ids_all = torch.from_numpy(ids.astype(np.int64))
    train = np.flatnonzero(split == "train")
    test = np.flatnonzero(split == "test")
    torch.manual_seed(network)
    model = SmallCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    g = torch.Generator().manual_seed(100 + network)
    # The training pass as the README's loop: a DataLoader over with_sample_ids.
    train_items = agree.with_sample_ids(exp, TensorDataset(x_all[train], y_all[train]), ids=ids_all[train])
    loader = DataLoader(train_items, batch_size=64, shuffle=True, generator=g)
    with agree.Recorder(exp, arch="smallcnn", network=network, epochs=EPOCHS) as rec:
        for epoch in range(1, EPOCHS + 1):
            model.train()
            for b, (x, y, sample_ids) in enumerate(loader):
                logits = model(x)
                rec.train_batch(epoch, sample_ids, logits, y)
                if network == 0 and epoch == 1 and b == 0:
                    captured.update(ids=sample_ids.clone(), logits=logits.detach().clone(), y=y.clone())
                loss = F.cross_entropy(logits, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                for batch in torch.from_numpy(test).split(256):
                    rec.eval_batch(epoch, "test", ids_all[batch], model(x_all[batch]), y_all[batch])
            rec.end_epoch(epoch, learning_rate=opt.param_groups[0]["lr"])


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    exp = tmp_path_factory.mktemp("trained")
    agree.ingest("synthetic", out=exp, seed=1, train=1200, test=300, size=32, quiet=True)
    agree.stats(exp, quiet=True)
    torch.set_num_threads(2)
    data = load_images(exp)
    captured: dict = {}
    for network in range(NETWORKS):
        train_network(exp, network, data, captured)
    agree.analyze(exp, bootstrap=50, quiet=True)
    return exp, captured


def test_recorded_tables_follow_their_contracts(trained):
    exp, _ = trained
    files = sorted((exp / "predictions").glob("*/epoch=*.parquet"))
    assert [f.relative_to(exp / "predictions").as_posix() for f in files] == [
        f"smallcnn-s{n}/epoch={e}.parquet" for n in range(NETWORKS) for e in range(1, EPOCHS + 1)
    ]
    for f in files:
        t = pq.read_table(f)
        assert_follows_contract(t, "predictions")
        # Every sample once per pass: 1,200 train rows and 300 test rows.
        for split, n in [("train", 1200), ("test", 300)]:
            rows = t.filter(pc.equal(t.column("split"), split))
            assert rows.num_rows == n and len(set(rows.column("sample_id").to_pylist())) == n
    epochs = pq.read_table(exp / "epochs")
    assert_follows_contract(epochs, "epochs")
    assert epochs.num_rows == NETWORKS * EPOCHS
    assert epochs.column("learning_rate").to_pylist() == [0.05] * (NETWORKS * EPOCHS)
    runs = pq.read_table(exp / "runs").to_pydict()
    assert runs["status"] == ["finished"] * NETWORKS
    assert runs["epochs_planned"] == [EPOCHS] * NETWORKS == runs["epochs_completed"]
    assert runs["torch_version"] == [torch.__version__] * NETWORKS


def test_analysis_tables_follow_their_contracts(trained):
    exp, _ = trained
    for name in RESULTS:
        t = pq.read_table(exp / "results" / f"{name}.parquet")
        assert t.num_rows > 0, name
        assert_follows_contract(t, name)
    agreement = pq.read_table(exp / "results" / "agreement.parquet").to_pydict()
    assert sorted(set(agreement["epoch"])) == [1, 2, 3]
    # The networks learned something: final test accuracy well above chance (10 %).
    epochs = pq.read_table(exp / "epochs").to_pydict()
    last = [a for a, e in zip(epochs["test_accuracy"], epochs["epoch"]) if e == EPOCHS]
    assert min(last) > 0.3, last


def test_one_batch_equals_a_hand_computation(trained):
    exp, c = trained
    t = pq.read_table(exp / "predictions" / "smallcnn-s0" / "epoch=1.parquet")
    t = t.filter(pc.equal(t.column("split"), "train")).to_pandas().set_index("sample_id")
    rows = t.loc[c["ids"].numpy()]
    logits, y = c["logits"], c["y"]
    probs = torch.softmax(logits, dim=1)
    predicted = probs.argmax(dim=1)
    loss = F.cross_entropy(logits, y, reduction="none")
    p_label = probs.gather(1, y[:, None])[:, 0]
    p_other = probs.scatter(1, y[:, None], -1.0).max(dim=1).values
    np.testing.assert_array_equal(rows["label"].to_numpy(), y.numpy())
    np.testing.assert_array_equal(rows["predicted"].to_numpy(), predicted.numpy())
    np.testing.assert_array_equal(rows["correct"].to_numpy(), (predicted == y).numpy())
    tight = dict(rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(rows["loss"].to_numpy(), loss.numpy(), **tight)
    np.testing.assert_allclose(rows["p_label"].to_numpy(), p_label.numpy(), **tight)
    np.testing.assert_allclose(rows["p_max"].to_numpy(), probs.max(dim=1).values.numpy(), **tight)
    np.testing.assert_allclose(rows["margin"].to_numpy(), (p_label - p_other).numpy(), **tight)
    x_label = logits.gather(1, y[:, None])[:, 0]
    x_other = logits.scatter(1, y[:, None], float("-inf")).max(dim=1).values
    # Logit differences: a few float32 ulps of the logits, absolute.
    np.testing.assert_allclose(rows["logit_margin"].to_numpy(), (x_label - x_other).numpy(), rtol=2e-6, atol=1e-5)
    el2n = torch.linalg.vector_norm(probs - F.one_hot(y, probs.shape[1]).to(probs.dtype), dim=1)
    np.testing.assert_allclose(rows["el2n"].to_numpy(), el2n.numpy(), **tight)
    assert rows["run_id"].unique().tolist() == ["smallcnn-s0"] and rows["epoch"].unique().tolist() == [1]


def test_the_cli_analysis_gives_identical_tables(trained, tmp_path):
    exp, _ = trained
    copy = tmp_path / "cli"
    shutil.copytree(exp, copy, ignore=shutil.ignore_patterns("results"))
    subprocess.run([str(agree_binary()), "--quiet", "analyze", str(copy), "--bootstrap", "50"], check=True)
    for name in RESULTS:
        ours = pq.read_table(exp / "results" / f"{name}.parquet")
        cli = pq.read_table(copy / "results" / f"{name}.parquet")
        assert ours.equals(cli), name
