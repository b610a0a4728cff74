"""Type stubs of the `agree` package (see the docstrings in `agree/__init__.py`)."""

import os
from types import TracebackType
from typing import Any, Literal, Optional, Sequence, Union

import numpy as np
import numpy.typing as npt
import pyarrow

__version__: str

PathLike = Union[str, "os.PathLike[str]"]
ArrayLike = Any  # torch.Tensor (any device), numpy.ndarray or a nested list

class AgreeError(ValueError):
    """Refused input or a failed stage; the message names the file and the problem."""

class Recorder:
    """Records every prediction of a network trained in your own loop into agree's tables."""

    dir: str
    run_id: str
    def __init__(
        self,
        dir: PathLike,
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
        config: Optional[dict[str, Any]] = None,
    ) -> None: ...
    def train_batch(self, epoch: int, sample_ids: ArrayLike, logits: ArrayLike, labels: ArrayLike) -> None:
        """Records one batch of the training pass (split `train`): N ids, N×K logits, N labels or an N×K 0/1 matrix."""
    def eval_batch(self, epoch: int, split: str, sample_ids: ArrayLike, logits: ArrayLike, labels: ArrayLike) -> None:
        """Records one batch of an eval pass: `test` (or another split), or `train_eval` over `train`."""
    def end_epoch(self, epoch: int, learning_rate: Optional[float] = None) -> str:
        """Closes the epoch: writes predictions/<run_id>/epoch=<E>.parquet and the epochs/runs rows; returns the file."""
    def close(self, failed: bool = False) -> None:
        """Marks the run `finished` (or `failed`) in runs/<run_id>.parquet."""
    def __enter__(self) -> "Recorder": ...
    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None: ...

def sample_ids(dir: PathLike, split: str, keys: Sequence[str]) -> npt.NDArray[np.int64]:
    """agree's sample_id of each `samples.key` of `split`, in the order of `keys`."""

def cifar10_keys(train: bool) -> list[str]:
    """The keys of torchvision's CIFAR10(train=...) in its index order."""

def imagefolder_keys(dataset: Any) -> list[str]:
    """The keys (SPLIT/CLASS/FILE) of a torchvision ImageFolder in its index order."""

def torchvision_ids(dir: PathLike, dataset: Any, split: Optional[str] = None) -> npt.NDArray[np.int64]:
    """ids[i] = agree's sample_id of item i of a torchvision CIFAR10 or ImageFolder dataset."""

class SampleIdDataset:
    """Item i of the wrapped dataset followed by its agree sample_id: (x, y) -> (x, y, sample_id)."""
    dataset: Any
    ids: npt.NDArray[np.int64]
    def __init__(self, dataset: Any, ids: Any) -> None: ...
    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> tuple[Any, ...]: ...

def with_sample_ids(
    dir: PathLike, dataset: Any, split: Optional[str] = None, ids: Optional[Any] = None
) -> SampleIdDataset:
    """dataset with agree's sample_id appended to every item (ids default to torchvision_ids)."""

def image_stats(
    array: npt.NDArray[Union[np.uint8, np.uint16]],
    stats: Optional[Union[str, Sequence[str]]] = None,
    *,
    entropy_window: int = 10,
    segment_sigma: float = 0.5,
    segment_k: float = 500.0,
    segment_min_size: int = 20,
) -> dict[str, Union[float, int, list[float]]]:
    """The statistics of `agree stats` on an H×W or H×W×C uint8/uint16 array, bit for bit."""

def image_stats_batch(
    images: Union[Sequence[npt.NDArray[Any]], npt.NDArray[Any]],
    stats: Optional[Union[str, Sequence[str]]] = None,
    *,
    threads: Optional[int] = None,
    entropy_window: int = 10,
    segment_sigma: float = 0.5,
    segment_k: float = 500.0,
    segment_min_size: int = 20,
) -> list[dict[str, Union[float, int, list[float]]]]:
    """image_stats of many images in parallel, with the GIL released."""

def ingest(
    format: Literal["cifar10", "imagefolder", "kth-tips2b", "voc", "synthetic", "scores"],
    *inputs: PathLike,
    out: PathLike,
    quiet: bool = False,
    on_error: Literal["fail", "skip"] = "fail",
    download: bool = False,
    cache: Optional[PathLike] = None,
    url: Optional[str] = None,
    sha256: Optional[str] = None,
    seed: int = 0,
    train: int = 5000,
    test: int = 1000,
    size: int = 32,
    name: Optional[str] = None,
) -> None:
    """`agree ingest FORMAT INPUT… --out OUT` with the CLI's options as keywords."""

def stats(
    dir: PathLike,
    quiet: bool = False,
    *,
    stats: Union[str, Sequence[str]] = "all",
    resize: Optional[str] = None,
    threads: Optional[int] = None,
    on_error: Literal["fail", "skip"] = "fail",
    entropy_window: int = 10,
    segment_sigma: float = 0.5,
    segment_k: float = 500.0,
    segment_min_size: int = 20,
    samples: Optional[PathLike] = None,
) -> None:
    """`agree stats DIR` with the CLI's options as keywords."""

def analyze(
    dir: PathLike,
    quiet: bool = False,
    *,
    bins: int = 5,
    bootstrap: int = 200,
    seed: int = 0,
    sql_dir: Optional[PathLike] = None,
    export_sql: Optional[PathLike] = None,
) -> None:
    """`agree analyze DIR` with the CLI's options as keywords; writes DIR/results/."""

def report(dir: PathLike, quiet: bool = False, *, out: Optional[PathLike] = None) -> None:
    """`agree report DIR`; writes DIR/report/index.html."""

def sql(dir: PathLike, query: str) -> pyarrow.Table:
    """Read-only SQL over every table of `dir`, as a pyarrow.Table (zero-copy)."""
