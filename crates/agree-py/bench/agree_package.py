"""Benchmark of the `agree` Python package (crates/agree-py), in one process:

1. `agree.image_stats_batch` on N CIFAR-10 images (default 10,000, from
   ../shared/data/cifar10-jpeg.tar.gz) against the optimised NumPy/SciPy/scikit-image
   peer of benches/python/imstats_peer.py (all statistics, batches of 1,000), as
   images/s; every rate the best of --repeat runs.
2. The Recorder's overhead: a small ResNet (ResNet-20, He et al.'s CIFAR net) trained
   on the CPU in a plain PyTorch loop over the same images, recorded with
   `agree.Recorder`. The time spent inside the Recorder's calls (train_batch,
   eval_batch, end_epoch: conversion, scoring, Parquet and table writes) is timed
   directly and reported as a share of the epoch's wall time (target <= 2 %).

Memory: the peak resident set of each phase above its start (Linux VmHWM, reset through
/proc/self/clear_refs before each phase, so one process measures each side alone):
image_stats_batch against the peer on the same images, and the Recorder replaying one
recorded epoch (the same calls with the same logits, no training) into a fresh run.

Usage: python crates/agree-py/bench/agree_package.py [--images N] [--py-n N] [--repeat R]
       [--train N] [--test N] [--epochs E] [--threads T] [--json OUT]
(`cargo xtask bench python` runs it with the defaults.)
"""

import argparse
import io
import json
import os
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

import agree

HERE = Path(__file__).resolve().parents[3] / "benches" / "python"
sys.path.insert(0, str(HERE))
import imstats_peer  # noqa: E402  (the existing peer, reused as is)

DATA = HERE.parents[2] / "shared" / "data" / "cifar10-jpeg.tar.gz"


def read_cifar(limit_train, limit_test):
    """(split, class, file, uint8 32×32×3) for the first images of each split, in archive order."""
    out = {"train": [], "test": []}
    limits = {"train": limit_train, "test": limit_test}
    with tarfile.open(DATA) as tar:
        for m in tar:
            parts = m.name.split("/")
            if not m.isfile() or len(parts) < 4 or parts[-3] not in out:
                continue
            split = parts[-3]
            if len(out[split]) >= limits[split]:
                if all(len(out[s]) >= limits[s] for s in out):
                    break
                continue
            data = tar.extractfile(m).read()
            px = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
            out[split].append((split, parts[-2], parts[-1], data, px))
    return out


def _status_mib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_above_start(run):
    """Runs `run()`; MiB the resident set peaked above where it started."""
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := current RSS
    start = _status_mib("VmRSS")
    run()
    return _status_mib("VmHWM") - start


def best(run, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_image_stats(images, py_n, repeat, threads):
    px = np.stack(images)
    n = len(px)
    rust = {}
    for t in sorted({1, threads}):
        secs = best(lambda: agree.image_stats_batch(px, threads=t), repeat)
        rust[t] = n / secs
    peer_px = px[:py_n]

    def peer():
        for fn in imstats_peer.OPTIMISED.values():
            for b in range(0, len(peer_px), 1000):
                fn(peer_px[b:b + 1000])

    peer_rate = len(peer_px) / best(peer, repeat)
    same = px[:py_n]
    memory = {"agree_mib": peak_above_start(lambda: agree.image_stats_batch(same, threads=threads)),
              "peer_mib": peak_above_start(peer), "images": len(same)}
    return {"images": n, "peer_images": len(peer_px), "agree_per_s": rust, "peer_per_s": peer_rate,
            "ratio": {t: r / peer_rate for t, r in rust.items()}, "peak_memory": memory}


class Block(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.c1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(c_out)
        self.c2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(c_out)
        self.skip = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.skip = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        return F.relu(self.b2(self.c2(y)) + self.skip(x))


class ResNet20(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        layers, c = [], 16
        for i, w in enumerate([16, 32, 64]):
            for j in range(3):
                layers.append(Block(c, w, 2 if (j == 0 and i > 0) else 1))
                c = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.layers(self.stem(x)), 1).flatten(1))


def bench_recorder(data, epochs, batch_size):
    """Trains ResNet-20 for `epochs` over data['train'], evaluating on data['test'], recorded."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "cifar"
        for split in ("train", "test"):
            for _, cls, name, raw, _ in data[split]:
                d = root / split / cls
                d.mkdir(parents=True, exist_ok=True)
                (d / name).write_bytes(raw)
        exp = Path(tmp) / "exp"
        agree.ingest("imagefolder", root, out=exp, quiet=True)
        classes = sorted({c for _, c, _, _, _ in data["train"]})
        sets = {}
        for split in ("train", "test"):
            rows = data[split]
            keys = [f"{split}/{c}/{n}" for _, c, n, _, _ in rows]
            ids = torch.from_numpy(agree.sample_ids(exp, split, keys))
            x = torch.from_numpy(np.stack([r[4] for r in rows])).permute(0, 3, 1, 2).float().div(255)
            y = torch.tensor([classes.index(r[1]) for r in rows])
            sets[split] = (ids, x, y)
        torch.manual_seed(0)
        model = ResNet20(len(classes))
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
        rec = agree.Recorder(exp, arch="resnet20", network=0, epochs=epochs)
        in_recorder = 0.0
        per_epoch = []
        replay = []  # epoch 1's calls, for the memory replay
        for epoch in range(1, epochs + 1):
            spent = 0.0
            start = time.perf_counter()
            ids, x, y = sets["train"]
            model.train()
            for idx in torch.randperm(len(ids)).split(batch_size):
                logits = model(x[idx])
                t0 = time.perf_counter()
                rec.train_batch(epoch, ids[idx], logits, y[idx])
                spent += time.perf_counter() - t0
                if epoch == 1:
                    replay.append(("train", ids[idx], logits.detach().clone(), y[idx]))
                loss = F.cross_entropy(logits, y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
            ids, x, y = sets["test"]
            model.eval()
            with torch.no_grad():
                for idx in torch.arange(len(ids)).split(512):
                    logits = model(x[idx])
                    t0 = time.perf_counter()
                    rec.eval_batch(epoch, "test", ids[idx], logits, y[idx])
                    spent += time.perf_counter() - t0
                    if epoch == 1:
                        replay.append(("test", ids[idx], logits.clone(), y[idx]))
            t0 = time.perf_counter()
            rec.end_epoch(epoch, learning_rate=0.05)
            spent += time.perf_counter() - t0
            wall = time.perf_counter() - start
            per_epoch.append({"epoch": epoch, "wall_s": wall, "recorder_s": spent, "share": spent / wall})
            in_recorder += spent
        rec.close()

        def replay_epoch():
            with agree.Recorder(exp, arch="resnet20", network=1, epochs=1) as again:
                for split, ids, logits, y in replay:
                    if split == "train":
                        again.train_batch(1, ids, logits, y)
                    else:
                        again.eval_batch(1, split, ids, logits, y)
                again.end_epoch(1, learning_rate=0.05)

        replay_mib = peak_above_start(replay_epoch)
        return {"train": len(sets["train"][0]), "test": len(sets["test"][0]), "epochs": per_epoch,
                "replay_peak_mib": replay_mib}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--py-n", type=int, default=2000, help="images for the (slower) Python peer")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--train", type=int, default=5000)
    ap.add_argument("--test", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--json")
    args = ap.parse_args()
    if not DATA.is_file():
        sys.exit(f"{DATA}: CIFAR-10 archive not found")
    torch.set_num_threads(args.threads)
    data = read_cifar(max(args.images, args.train), args.test)
    images = [r[4] for r in data["train"][: args.images]]
    stats = bench_image_stats(images, min(args.py_n, len(images)), args.repeat, args.threads)
    print(f"image_stats_batch on {stats['images']} CIFAR-10 images: "
          + ", ".join(f"{t} thread(s) {r:,.0f}/s ({stats['ratio'][t]:.1f}x)" for t, r in stats["agree_per_s"].items())
          + f"; numpy/scipy/skimage peer {stats['peer_per_s']:,.0f}/s on {stats['peer_images']}")
    m = stats["peak_memory"]
    print(f"peak memory above the start on {m['images']} images: agree {m['agree_mib']:.1f} MiB, "
          f"peer {m['peer_mib']:.1f} MiB")
    data["train"] = data["train"][: args.train]
    recorder = bench_recorder(data, args.epochs, args.batch_size)
    for e in recorder["epochs"]:
        print(f"ResNet-20 epoch {e['epoch']} ({recorder['train']} train + {recorder['test']} test images): "
              f"{e['wall_s']:.1f} s, in the Recorder {e['recorder_s'] * 1000:.0f} ms = {100 * e['share']:.2f} %")
    print(f"the Recorder replaying epoch 1 ({recorder['train']} + {recorder['test']} predictions): "
          f"peak {recorder['replay_peak_mib']:.1f} MiB above the start")
    if args.json:
        Path(args.json).write_text(json.dumps({"image_stats": stats, "recorder": recorder}, indent=1))


if __name__ == "__main__":
    main()
