"""agree.image_stats on NumPy arrays equals `agree stats` bit for bit."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

import agree
from conftest import load_images


def test_every_quickstart_image_matches_stats_parquet(quickstart):
    ids, _, _, images = load_images(quickstart)
    assert len(ids) == 7000
    got = agree.image_stats_batch(images)
    stats = pq.read_table(quickstart / "stats.parquet").to_pydict()
    spectra = pq.read_table(quickstart / "spectra.parquet").to_pydict()
    row_of = {sid: i for i, sid in enumerate(stats["sample_id"])}
    spectrum_of = {sid: i for i, sid in enumerate(spectra["sample_id"])}
    columns = [c for c in stats if c not in ("sample_id", "error")]
    assert set(got[0]) == set(columns) | {"spectrum"}
    mismatches = []
    for sid, values in zip(ids, got):
        r = row_of[sid]
        for c in columns:
            if values[c] != stats[c][r]:  # exact: same bits, not approximately
                mismatches.append((int(sid), c, values[c], stats[c][r]))
        if values["spectrum"] != spectra["power"][spectrum_of[sid]]:
            mismatches.append((int(sid), "spectrum", None, None))
    assert not mismatches, mismatches[:10]
    assert isinstance(got[0]["segment_count"], int)


def test_one_image_and_the_batch_agree(quickstart):
    _, _, _, images = load_images(quickstart)
    some = images[:5]
    batch = agree.image_stats_batch(list(some), threads=1)
    assert [agree.image_stats(img) for img in some] == batch
    assert agree.image_stats_batch(some) == batch  # the 4-d array form


def test_selection_and_parameters():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(24, 20, 3), dtype=np.uint8)
    only = agree.image_stats(img, stats=["entropy_local", "dct"])
    assert sorted(only) == ["dct_energy_pct", "dct_max_coeff", "entropy_local"]
    assert agree.image_stats(img, "entropy_local")["entropy_local"] == only["entropy_local"]
    wide = agree.image_stats(img, "entropy_local", entropy_window=5)["entropy_local"]
    assert wide != only["entropy_local"]


def test_bit_depths_and_channels_follow_the_decoder():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, size=(16, 16, 3), dtype=np.uint8)
    # 16 bits: v·257 scales back to v exactly (⌊v·257·255/65535 + ½⌋ = v).
    assert agree.image_stats(rgb.astype(np.uint16) * 257) == agree.image_stats(rgb)
    rgba = np.concatenate([rgb, np.full((16, 16, 1), 7, np.uint8)], axis=2)
    assert agree.image_stats(rgba) == agree.image_stats(rgb)
    grey = rgb[:, :, 0]
    assert agree.image_stats(grey[:, :, None]) == agree.image_stats(grey)
    # A non-contiguous view is read as the values it shows.
    assert agree.image_stats(rgb[:, ::-1]) == agree.image_stats(np.ascontiguousarray(rgb[:, ::-1]))


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((8, 8), np.float32), "uint8 or uint16"),
        (np.zeros((8, 8, 5), np.uint8), "C in 1..4"),
        (np.zeros((0, 8), np.uint8), "empty"),
        (np.zeros(8, np.uint8), "H×W"),
    ],
)
def test_bad_arrays_are_refused(bad, message):
    with pytest.raises(agree.AgreeError, match=message):
        agree.image_stats(bad)


def test_an_unknown_statistic_is_refused():
    with pytest.raises(agree.AgreeError, match="nope"):
        agree.image_stats(np.zeros((8, 8), np.uint8), stats="nope")
