"""PyTorch peer of `benches/train.rs`: trains the same networks on the same
samples.parquet with a standard Dataset + DataLoader and reports training
images/s and the share of step time spent waiting for data, as JSON on stdout.

The models mirror crates/agree-train/src/models (LeNet-5 with ReLU/max-pool,
ResNet-18 with the CIFAR stem for inputs <= 64 px, ResNet-20 of He et al. 2016
with option A shortcuts), the loop is the textbook one:
SGD(momentum 0.9, wd 5e-4), cross-entropy, cosine LR stepped per epoch. With
--per-sample it also computes and keeps the per-sample predictions (loss,
predicted, correct, p_label, p_max, margin) that agree must record.
"""

import argparse
import io
import json
import math
import time

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset


def decode(fmt, data, width, height):
    if fmt == "rgb8":
        return np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


class Samples(Dataset):
    """Decoded uint8 images held in memory; per-sample ToTensor + Normalize."""

    def __init__(self, images, labels, mean, std):
        self.images = images
        self.labels = labels
        self.mean = torch.tensor(mean).view(3, 1, 1)
        self.std = torch.tensor(std).view(3, 1, 1)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        x = torch.from_numpy(self.images[i]).permute(2, 0, 1).float().div_(255.0)
        return (x - self.mean) / self.std, self.labels[i]


class LeNet5(nn.Module):
    def __init__(self, classes, side):
        super().__init__()
        s = ((side - 4) // 2 - 4) // 2
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * s * s, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class BasicBlock(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.down = None
        if stride != 1 or c_in != c_out:
            self.down = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu((x if self.down is None else self.down(x)) + y)


class ResNet18(nn.Module):
    def __init__(self, classes, side):
        super().__init__()
        self.small = side <= 64
        self.conv1 = nn.Conv2d(3, 64, 3 if self.small else 7, 1 if self.small else 2, 1 if self.small else 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        layers, c = [], 64
        for i, w in enumerate([64, 128, 256, 512]):
            for j in range(2):
                layers.append(BasicBlock(c, w, 2 if (j == 0 and i > 0) else 1))
                c = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        if not self.small:
            x = F.max_pool2d(x, 3, 2, 1)
        x = self.layers(x)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class CifarBlock(nn.Module):
    """He et al. 2016 section 4.2 basic block with the parameter-free option A shortcut:
    x[:, :, ::2, ::2] zero-padded by (c_out - c_in) / 2 channels on each side."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.stride, self.pad = stride, ((c_out - c_in) // 2, c_out - c_in - (c_out - c_in) // 2)

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.stride != 1 or self.pad != (0, 0):
            x = F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, *self.pad))
        return F.relu(x + y)


class ResNetCifar(nn.Module):
    """ResNet-(6n+2) for CIFAR: 16/32/64 filters, n blocks per stage, avg pool, FC."""

    def __init__(self, classes, depth=20):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, c = [], 16
        for i, w in enumerate([16, 32, 64]):
            for j in range(n):
                layers.append(CifarBlock(c, w, 2 if (j == 0 and i > 0) else 1))
                c = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.layers(F.relu(self.bn1(self.conv1(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


MODELS = {
    "lenet5": LeNet5,
    "resnet18": ResNet18,
    "resnet20": lambda classes, side: ResNetCifar(classes, 20),
}


def kaiming(m):
    if isinstance(m, nn.Conv2d):
        nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    elif isinstance(m, nn.Linear):
        nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        nn.init.zeros_(m.bias)


def per_sample(logits, y, loss):
    """What agree records per training sample (SPEC §4), computed the same way:
    softmax, argmax, p_label, p_max, margin, stacked and copied to the CPU once."""
    probs = logits.softmax(-1)
    p_max, predicted = probs.max(1)
    index = y.unsqueeze(1)
    p_label = probs.gather(1, index).squeeze(1)
    p_other = probs.scatter(1, index, -1.0).max(1).values
    cols = torch.stack([loss, predicted.float(), (predicted == y).float(), p_label, p_max, p_label - p_other], 1)
    return cols.cpu().numpy()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", required=True)
    ap.add_argument("--arch", default="lenet5")
    ap.add_argument("--networks", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--per-sample", action="store_true", help="also compute and keep per-sample predictions")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    t = pq.read_table(args.samples, columns=["split", "label", "width", "height", "format", "image"]).to_pydict()
    train = [i for i, s in enumerate(t["split"]) if s == "train"]
    images = np.stack([decode(t["format"][i], t["image"][i], t["width"][i], t["height"][i]) for i in train])
    labels = np.asarray([t["label"][i] for i in train], dtype=np.int64)
    classes = int(labels.max()) + 1
    flat = images.reshape(-1, 3) / 255.0
    mean, std = flat.mean(0).tolist(), flat.std(0).tolist()
    data = Samples(images, labels, mean, std)
    side = images.shape[1]

    if args.arch not in MODELS:
        raise SystemExit(f"unknown --arch {args.arch!r}; known: {', '.join(MODELS)}")
    params = sum(p.numel() for p in MODELS[args.arch](classes, side).parameters())
    results = []
    for net in range(args.networks):
        torch.manual_seed(net)
        model = MODELS[args.arch](classes, side)
        model.apply(kaiming)
        model.to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
        loader = DataLoader(
            data,
            batch_size=args.batch_size,
            shuffle=True,
            num_workers=args.workers,
            pin_memory=device.type == "cuda",
            persistent_workers=args.workers > 0,
        )
        for epoch in range(1, args.epochs + 1):
            model.train()
            wait = 0.0
            phases = {"data_wait": 0.0, "forward": 0.0, "scoring": 0.0, "backward": 0.0, "optimizer": 0.0, "bookkeeping": 0.0}
            batches = 0
            rows = []
            start = time.perf_counter()
            it = iter(loader)
            while True:
                w0 = time.perf_counter()
                try:
                    x, y = next(it)
                except StopIteration:
                    break
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                t_data = time.perf_counter()
                wait += t_data - w0
                logits = model(x)
                t_forward = time.perf_counter()
                if args.per_sample:
                    loss_per_sample = F.cross_entropy(logits, y, reduction="none")
                    loss = loss_per_sample.mean()
                    cols = per_sample(logits.detach(), y, loss_per_sample.detach())
                else:
                    loss = F.cross_entropy(logits, y)
                t_scoring = time.perf_counter()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                t_backward = time.perf_counter()
                opt.step()
                t_optimizer = time.perf_counter()
                if args.per_sample:
                    rows.append(cols)
                batches += 1
                t_done = time.perf_counter()
                phases["data_wait"] += t_data - w0
                phases["forward"] += t_forward - t_data
                phases["scoring"] += t_scoring - t_forward
                phases["backward"] += t_backward - t_scoring
                phases["optimizer"] += t_optimizer - t_backward
                phases["bookkeeping"] += t_done - t_optimizer
            if device.type == "cuda":
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - start
            sched.step()
            results.append(
                {
                    "network": net,
                    "epoch": epoch,
                    "images_per_s": len(data) / elapsed,
                    "seconds": elapsed,
                    "data_wait_share": wait / elapsed,
                    "batches": batches,
                    "phases": phases,
                    "loss": float(loss.detach()),
                }
            )
    print(json.dumps({"device": str(device), "threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(), "params": params, "torch": torch.__version__, "epochs": results}))


if __name__ == "__main__":
    main()
