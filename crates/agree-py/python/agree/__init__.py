"""agree from Python and PyTorch.

Record the predictions of any training loop in agree's tables (:class:`Recorder`),
map your dataset's indices to agree's ``sample_id`` (:func:`sample_ids`,
:func:`torchvision_ids`), compute agree's image statistics on NumPy arrays
(:func:`image_stats`, :func:`image_stats_batch`), run the stages (:func:`ingest`,
:func:`stats`, :func:`analyze`, :func:`report`) and query every table with SQL into
``pyarrow`` (:func:`sql`). The package links no libtorch: bring your own torch.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Optional, Sequence

import numpy as np

from . import _agree
from ._agree import AgreeError, __version__

__all__ = [
    "AgreeError",
    "Recorder",
    "analyze",
    "cifar10_keys",
    "image_stats",
    "image_stats_batch",
    "imagefolder_keys",
    "ingest",
    "report",
    "sample_ids",
    "sql",
    "stats",
    "torchvision_ids",
    "with_sample_ids",
    "__version__",
]


def _device_of(x: Any) -> str:
    device = getattr(x, "device", None)
    return "cpu" if device is None else str(device)


def _to_numpy(x: Any) -> np.ndarray:
    """A torch tensor (any device, any float type), NumPy array or nested list as an array."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        t = x.detach()
        if t.is_floating_point():
            t = t.float()  # float16/bfloat16 have no NumPy twin; a no-op for float32
        return t.cpu().numpy()
    return np.asarray(x)


def _logits(x: Any) -> np.ndarray:
    return np.ascontiguousarray(_to_numpy(x), dtype=np.float32)


def _ids(x: Any) -> np.ndarray:
    a = _to_numpy(x)
    if a.dtype.kind not in "iu":
        raise AgreeError(f"sample_ids must be integers, got {a.dtype}")
    return np.ascontiguousarray(a, dtype=np.int64)


def _labels(x: Any) -> np.ndarray:
    a = _to_numpy(x)
    if a.ndim == 2:
        return np.ascontiguousarray(a, dtype=np.float32)
    if a.dtype.kind not in "iu":
        raise AgreeError(f"class labels must be integers, got {a.dtype} (a 0/1 matrix means multi-label)")
    return np.ascontiguousarray(a, dtype=np.int64)


class Recorder:
    """Records every prediction of a network trained in your own loop.

    Writes ``<dir>/predictions/<run_id>/epoch=<E>.parquet`` (``schemas/predictions.toml``,
    the same columns and definitions as ``agree train``: ``correct``, ``loss``
    (cross-entropy, or BCE summed over classes for multi-label), ``p_label``,
    ``p_max``, ``margin``) and the run's own ``epochs/<run_id>.parquet`` and
    ``runs/<run_id>.parquet`` (no other network's file is touched), each atomically
    (temporary name, then rename).

    Args:
        dir: the experiment directory (made by :func:`ingest`; ``samples.parquet`` is read).
        run_id: the network's name, default ``f"{arch}-s{network}"``.
        arch: architecture name; networks of one ``arch`` form an agreement group.
        network: seed index of the network within its architecture (0..N-1).
        allow_partial: close an epoch that lacks samples of a split (the missing
            counts are recorded in ``runs.config``) instead of refusing it.
        epochs: planned epochs; the run is ``finished`` after that many (else when
            the ``with`` block or :meth:`close` ends it).
        seed, label_noise, label_noise_seed: recorded in ``runs`` (``seed`` defaults to ``network``).
        save_probs: also store each row's probability vector (``probs``).
        config: any JSON-serialisable settings to keep in ``runs.config``.

    Refused with :class:`AgreeError` (nothing of the call is recorded or written): a
    sample id outside ``samples.parquet`` or outside the pass's split, a sample
    recorded twice in one pass, logits that are not N×K or labels that do not fit
    them, NaN or infinite logits (counted, with the sample ids), an epoch closed twice,
    and (without ``allow_partial``) an epoch missing samples of a split.

    Example::

        with agree.Recorder("exp", arch="cnn", network=0, epochs=3) as rec:
            for epoch in range(1, 4):
                for x, y, ids in train_loader:
                    logits = model(x)
                    rec.train_batch(epoch, ids, logits, y)   # before the update
                    ...
                rec.eval_batch(epoch, "test", ids, model(x), y)
                rec.end_epoch(epoch, learning_rate=opt.param_groups[0]["lr"])
    """

    def __init__(
        self,
        dir: "os.PathLike[str] | str",
        *,
        arch: str,
        network: int,
        run_id: Optional[str] = None,
        allow_partial: bool = False,
        epochs: Optional[int] = None,
        seed: Optional[int] = None,
        label_noise: float = 0.0,
        label_noise_seed: int = 0,
        save_probs: bool = False,
        config: Optional[dict] = None,
    ) -> None:
        torch = sys.modules.get("torch")
        self.dir = os.fspath(dir)
        self.run_id = run_id if run_id is not None else f"{arch}-s{network}"
        self._native = _agree._Recorder(
            self.dir,
            self.run_id,
            arch,
            int(network),
            bool(allow_partial),
            bool(save_probs),
            int(network if seed is None else seed),
            float(label_noise),
            int(label_noise_seed),
            None if epochs is None else int(epochs),
            json.dumps(config if config is not None else {}),
            getattr(torch, "__version__", "") if torch is not None else "",
        )

    def train_batch(self, epoch: int, sample_ids: Any, logits: Any, labels: Any) -> None:
        """Records one batch of the training pass of ``epoch`` (split ``train``).

        ``sample_ids``: N agree sample ids; ``logits``: N×K (torch tensor on any
        device, NumPy array or list); ``labels``: N class indices, or an N×K 0/1
        matrix for multi-label. Record the logits of the forward pass that the
        update uses (agree's ``train`` rows are made before the batch's update).
        """
        self._native.record(int(epoch), "train", _ids(sample_ids), _logits(logits), _labels(labels), _device_of(logits))

    def eval_batch(self, epoch: int, split: str, sample_ids: Any, logits: Any, labels: Any) -> None:
        """Records one batch of an eval pass of ``epoch``: ``split`` is ``test`` (or any
        split of ``samples.parquet``), or ``train_eval`` for a clean pass over ``train``."""
        self._native.record(int(epoch), str(split), _ids(sample_ids), _logits(logits), _labels(labels), _device_of(logits))

    def end_epoch(self, epoch: int, learning_rate: Optional[float] = None) -> str:
        """Closes ``epoch``: every sample of ``train`` and of ``test`` (and of any other
        recorded pass) must have been recorded once, unless ``allow_partial``. Writes
        the prediction file, then the ``epochs`` row (``learning_rate`` as given, NaN
        when not) and the ``runs`` row. Returns the prediction file's path."""
        lr = None if learning_rate is None else float(learning_rate)
        return os.fspath(self._native.end_epoch(int(epoch), lr))

    def close(self, failed: bool = False) -> None:
        """Marks the run ``finished`` (or ``failed``) in ``runs/<run_id>.parquet``."""
        self._native.finish(bool(failed))

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(failed=exc_type is not None)


def sample_ids(dir: "os.PathLike[str] | str", split: str, keys: Sequence[str]) -> np.ndarray:
    """agree's ``sample_id`` of each key of ``split`` (an int64 array in the order of ``keys``).

    Keys are ``samples.key``: the image's path relative to the dataset root
    (``train/cat/0001.png``), or ``data_batch_N.bin#IIIII`` / ``test_batch.bin#IIIII``
    for CIFAR-10 binary records. A key that is not a sample of ``split`` is an error.
    """
    return np.asarray(_agree.sample_ids(os.fspath(dir), split, list(keys)), dtype=np.int64)


def cifar10_keys(train: bool) -> list:
    """The keys of torchvision's ``CIFAR10(train=...)`` in its index order.

    torchvision concatenates ``data_batch_1..5`` (10,000 records each) for train and
    reads ``test_batch`` for test; ``agree ingest cifar10`` keys each record
    ``<batch file>#<record index>``, so index ``i`` of the train set is
    ``data_batch_{i // 10000 + 1}.bin#{i % 10000:05}``.
    """
    if train:
        return [f"data_batch_{b}.bin#{r:05}" for b in range(1, 6) for r in range(10000)]
    return [f"test_batch.bin#{r:05}" for r in range(10000)]


def imagefolder_keys(dataset: Any) -> list:
    """The keys of a torchvision ``ImageFolder`` (or any ``DatasetFolder``) in its index
    order: the last three components ``SPLIT/CLASS/FILE`` of each ``dataset.samples`` path,
    as ``agree ingest imagefolder`` keys files."""
    keys = []
    for path, _ in dataset.samples:
        parts = os.path.normpath(os.fspath(path)).split(os.sep)
        if len(parts) < 3:
            raise AgreeError(f"{path}: expected .../SPLIT/CLASS/FILE")
        keys.append("/".join(parts[-3:]))
    return keys


def torchvision_ids(dir: "os.PathLike[str] | str", dataset: Any, split: Optional[str] = None) -> np.ndarray:
    """``ids[i]`` = agree's ``sample_id`` of item ``i`` of a torchvision ``CIFAR10`` or
    ``ImageFolder`` dataset ingested into ``dir``.

    ``split`` defaults to ``train``/``test`` from ``CIFAR10.train``, or from the
    ImageFolder's root folder name (``val`` is agree's ``test``).

    Example::

        train_set = torchvision.datasets.CIFAR10("data", train=True, download=True)
        ids = torch.as_tensor(agree.torchvision_ids("exp", train_set))
        # in the loop, with a loader that yields the dataset index `idx`:
        rec.train_batch(epoch, ids[idx], logits, y)
    """
    if hasattr(dataset, "train") and hasattr(dataset, "targets") and not hasattr(dataset, "samples"):
        keys = cifar10_keys(bool(dataset.train))[: len(dataset)]
        split = split or ("train" if dataset.train else "test")
    elif hasattr(dataset, "samples"):
        keys = imagefolder_keys(dataset)
        if split is None:
            top = keys[0].split("/")[0] if keys else "train"
            split = "train" if top == "train" else "test"
    else:
        raise AgreeError(f"{type(dataset).__name__}: expected a torchvision CIFAR10 or ImageFolder dataset")
    return sample_ids(dir, split, keys)


class SampleIdDataset:
    """A map-style dataset whose item ``i`` is the wrapped dataset's item followed by
    agree's ``sample_id`` of it: ``(x, y)`` becomes ``(x, y, sample_id)``. Made by
    :func:`with_sample_ids`; any ``DataLoader`` batches the ids into an int64 tensor."""

    def __init__(self, dataset: Any, ids: Any) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if ids.ndim != 1 or len(ids) != len(dataset):
            raise AgreeError(f"{len(ids)} sample ids for a dataset of {len(dataset)} items")
        self.dataset = dataset
        self.ids = ids

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple:
        item = self.dataset[index]
        sample_id = int(self.ids[index])
        return (*item, sample_id) if isinstance(item, tuple) else (item, sample_id)


def with_sample_ids(
    dir: "os.PathLike[str] | str", dataset: Any, split: Optional[str] = None, ids: Any = None
) -> SampleIdDataset:
    """``dataset`` with agree's ``sample_id`` appended to every item, for the Recorder.

    ``ids`` defaults to :func:`torchvision_ids` (torchvision ``CIFAR10`` or
    ``ImageFolder``); for any other dataset pass them, e.g. from :func:`sample_ids`.

    Example::

        train = agree.with_sample_ids("exp", torchvision.datasets.CIFAR10("data", train=True))
        for x, y, ids in DataLoader(train, batch_size=128, shuffle=True):
            rec.train_batch(epoch, ids, model(x), y)
    """
    if ids is None:
        ids = torchvision_ids(dir, dataset, split)
    return SampleIdDataset(dataset, ids)


def image_stats(array: Any, stats: "Optional[str | Sequence[str]]" = None, **params: Any) -> dict:
    """The statistics of ``agree stats`` for one image, bit for bit.

    ``array``: H×W or H×W×C (C = 1..4; alpha dropped) uint8 or uint16 NumPy array
    (16-bit values become ⌊v·255/65535 + ½⌋, as when decoding a 16-bit file).
    ``stats``: ``None`` (all), or statistic names as for ``agree stats --stats``.
    ``params``: ``entropy_window``, ``segment_sigma``, ``segment_k``, ``segment_min_size``.
    Returns ``{column: value}`` with the ``stats.parquet`` columns (``segment_count``
    an int) and ``spectrum``, the 16-bin ``spectra.power`` row, when selected.
    """
    return _agree.image_stats(array, stats, **params)


def image_stats_batch(images: Any, stats: "Optional[str | Sequence[str]]" = None, **params: Any) -> list:
    """:func:`image_stats` of many images, in parallel with the GIL released.

    ``images``: a list of arrays (sizes may differ) or one N×H×W[×C] array.
    ``params`` also takes ``threads`` (default: one per core). Returns one dict per image.
    """
    if hasattr(images, "detach"):
        images = _to_numpy(images)
    return _agree.image_stats_batch(images, stats, **params)


def ingest(format: str, *inputs: "os.PathLike[str] | str", out: "os.PathLike[str] | str", quiet: bool = False, **options: Any) -> None:
    """``agree ingest FORMAT INPUT… --out OUT``; options as keywords (``train=5000``,
    ``on_error="skip"``, ``download=True``), exactly the CLI's."""
    _agree.ingest(format, *inputs, out=out, quiet=quiet, **options)


def stats(dir: "os.PathLike[str] | str", quiet: bool = False, **options: Any) -> None:
    """``agree stats DIR``; options as keywords (``stats="dct,entropy_local"``, ``threads=2``,
    ``resize="64x64"``, ``on_error="skip"``, …)."""
    _agree.stats(dir, quiet=quiet, **options)


def analyze(dir: "os.PathLike[str] | str", quiet: bool = False, **options: Any) -> None:
    """``agree analyze DIR``; options as keywords (``bins=5``, ``bootstrap=200``, ``seed=0``,
    ``sql_dir=…``, ``export_sql=…``). Writes ``DIR/results/*.parquet``."""
    _agree.analyze(dir, quiet=quiet, **options)


def report(dir: "os.PathLike[str] | str", quiet: bool = False, **options: Any) -> None:
    """``agree report DIR``; options as keywords (``out=…``). Writes ``DIR/report/index.html``."""
    _agree.report(dir, quiet=quiet, **options)


def sql(dir: "os.PathLike[str] | str", query: str):
    """Read-only SQL over every table of ``dir`` (as ``agree sql``), as a ``pyarrow.Table``.

    The result's buffers are handed over zero-copy through the Arrow C data interface;
    ``.to_pandas()`` gives a DataFrame. DDL, DML, COPY and SET are refused with
    :class:`AgreeError`.
    """
    return _agree.sql(os.fspath(dir), query)
