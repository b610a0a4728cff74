"""Python peers of the imstats benchmark (run by benches/imstats.rs).

Usage: imstats_peer.py SETS.json OUT.json [REPEAT]. SETS lists image sets (raw N×H×W×3
uint8 files). Every rate is the best of REPEAT runs (default 3), as on the Rust side.
For each set it times, single process:
- "optimised": a careful numpy/scipy/scikit-image implementation of each SPEC §3 statistic
  (batched over images wherever the definition allows: DCT, FFT, moments, Sobel), keys named
  like the Rust statistics;
- "authors": the reference's style for entropy_local (a window loop with np.unique per
  window) and dct_energy_pct (growing the norm one coefficient at a time).
Writes images/s per statistic as JSON.
"""

import io
import json
import sys
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image
from scipy import ndimage
from scipy.fft import dctn
from skimage.feature import canny
from skimage.segmentation import felzenszwalb


def luma(px):
    x = px.astype(np.float64)
    return 0.2989 * x[..., 0] + 0.5870 * x[..., 1] + 0.1140 * x[..., 2]


def levels_of(y):
    return np.clip(np.floor(y + 0.5), 0, 255).astype(np.uint8)


# ---------------------------------------------------------------- optimised peers


def entropy_local(px):
    lv = levels_of(luma(px))
    out = np.empty(len(lv))
    n, h, w = lv.shape
    wh, ww = min(10, h), min(10, w)
    rows, cols = h - wh + 1, w - ww + 1
    # Window rows in blocks of at most ~16k windows bound the count matrix's memory.
    block = max(1, 16384 // cols)
    offsets = 256 * np.arange(block * cols)[:, None]
    table = np.zeros(wh * ww + 1)
    c = np.arange(1, wh * ww + 1)
    table[1:] = c * np.log2(c)
    for i in range(n):
        win_all = sliding_window_view(lv[i], (wh, ww))
        total = 0.0
        for r0 in range(0, rows, block):
            win = win_all[r0:r0 + block].reshape(-1, wh * ww)
            m = win.shape[0]
            counts = np.bincount((win + offsets[:m]).ravel(), minlength=256 * m).reshape(m, 256)
            total += (np.log2(wh * ww) - table[counts].sum(axis=1) / (wh * ww)).sum()
        out[i] = total / (rows * cols)
    return out


def entropy_global(px):
    lv = levels_of(luma(px)).reshape(len(px), -1).astype(np.int64)
    n, m = lv.shape
    counts = np.bincount((lv + 256 * np.arange(n)[:, None]).ravel(), minlength=256 * n).reshape(n, 256)
    p = counts / m
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.where(counts > 0, p * np.log2(np.where(p > 0, p, 1)), 0).sum(axis=1)


def dct(px):
    y = luma(px) / 255.0
    c = dctn(y, norm="ortho", axes=(1, 2)).reshape(len(px), -1)
    e = -np.sort(-(c * c), axis=1)
    cum = np.cumsum(e, axis=1)
    total = cum[:, -1:]
    with np.errstate(invalid="ignore", divide="ignore"):
        k = np.argmax(np.sqrt(cum) / np.sqrt(total) >= 0.9998, axis=1) + 1
    pct = np.where(total[:, 0] > 0, 100.0 * k / c.shape[1], 0.0)
    return pct, np.abs(c).max(axis=1)


def segment_count(px):
    return np.array([len(np.unique(felzenszwalb(im, scale=500, sigma=0.5, min_size=20))) for im in px])


def edge_density(px):
    y = luma(px) / 255.0
    return np.array([canny(im).mean() for im in y])


def gradient_mean(px):
    y = luma(px)
    gx = ndimage.correlate1d(ndimage.correlate1d(y, [-1, 0, 1], axis=2, mode="nearest"), [1, 2, 1], axis=1, mode="nearest")
    gy = ndimage.correlate1d(ndimage.correlate1d(y, [-1, 0, 1], axis=1, mode="nearest"), [1, 2, 1], axis=2, mode="nearest")
    return np.hypot(gx, gy).mean(axis=(1, 2))


def spectrum(px):
    y = luma(px)
    n, h, w = y.shape
    f = np.fft.fft2(y - y.mean(axis=(1, 2), keepdims=True), axes=(1, 2))
    p = (f.real ** 2 + f.imag ** 2).reshape(n, -1)
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    r = np.sqrt(fx * fx + fy * fy).ravel()
    inside = r <= 0.5
    b = np.minimum(np.floor(r * 32), 15).astype(int)
    onehot = np.zeros((h * w, 16))
    onehot[np.arange(h * w)[inside], b[inside]] = 1
    counts = onehot.sum(axis=0)
    power = (p @ onehot) / np.maximum(counts, 1)
    sums = power.sum(axis=1, keepdims=True)
    power = np.where(sums > 0, power / np.where(sums > 0, sums, 1), 0)
    xs = np.log((np.arange(1, 16) + 0.5) / 32)
    with np.errstate(divide="ignore"):
        ys = np.log(power[:, 1:])
    xm = xs - xs.mean()
    slope = (ys * xm).sum(axis=1) / (xm * xm).sum()  # all bins filled for these sizes
    icpt = ys.mean(axis=1) - slope * xs.mean()
    dc = r == 0
    high = p[:, (r > 0.25) & ~dc].sum(axis=1) / p[:, ~dc].sum(axis=1)
    return power, -slope, icpt, high


def colour_moments(px):
    x = px.reshape(len(px), -1, 3).astype(np.float64) / 255.0
    mean = x.mean(axis=1)
    d = x - mean[:, None, :]
    return mean, np.sqrt((d * d).mean(axis=1)), np.cbrt((d * d * d).mean(axis=1))


def colorfulness(px):
    x = px.reshape(len(px), -1, 3).astype(np.float64)
    rg = x[..., 0] - x[..., 1]
    yb = (x[..., 0] + x[..., 1]) / 2 - x[..., 2]
    return np.sqrt(rg.var(axis=1) + yb.var(axis=1)) + 0.3 * np.sqrt(rg.mean(axis=1) ** 2 + yb.mean(axis=1) ** 2)


def rms_contrast(px):
    return (luma(px) / 255.0).std(axis=(1, 2))


def compress_ratio(px):
    out = []
    for im in px:
        buf = io.BytesIO()
        Image.fromarray(im).save(buf, format="PNG", compress_level=6)
        out.append(buf.tell() / im.size)
    return np.array(out)


OPTIMISED = {
    "entropy_local": entropy_local,
    "entropy_global": entropy_global,
    "dct": dct,
    "segment_count": segment_count,
    "edge_density": edge_density,
    "gradient_mean": gradient_mean,
    "spectrum": spectrum,
    "colour_moments": colour_moments,
    "colorfulness": colorfulness,
    "rms_contrast": rms_contrast,
    "compress_ratio": compress_ratio,
}

# ---------------------------------------------------------------- the authors' style


def entropy_local_authors(im):
    lv = levels_of(luma(im))
    h, w = lv.shape
    ents = []
    for i in range(h - 10 + 1):
        for j in range(w - 10 + 1):
            _, counts = np.unique(lv[i:i + 10, j:j + 10], return_counts=True)
            p = counts / counts.sum()
            ents.append(-(p * np.log2(p)).sum())
    return np.mean(ents)


def dct_energy_pct_authors(im):
    c = dctn(luma(im) / 255.0, norm="ortho")
    flat = np.sort(np.abs(c).ravel())[::-1]
    total = np.linalg.norm(flat)
    k = flat.size
    for i in range(1, flat.size + 1):
        if np.linalg.norm(flat[:i]) / total >= 0.9998:
            k = i
            break
    return 100.0 * k / flat.size


REPEAT = 3


def best(run, count):
    """Images/s of the fastest of REPEAT timed calls of run() over count images."""
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return count / min(times)


def rate(fn, data, per_image):
    def run():
        if per_image:
            for im in data:
                fn(im)
        else:
            # Batches of 1000 keep memory bounded, as a careful peer would.
            for s in range(0, len(data), 1000):
                fn(data[s:s + 1000])

    return best(run, len(data))


def main(sets_path, out_path):
    results = {}
    for s in json.load(open(sets_path)):
        n = max(s["n_optimised"], s["n_authors"])
        px = np.fromfile(s["file"], dtype=np.uint8, count=n * s["height"] * s["width"] * 3)
        px = px.reshape(n, s["height"], s["width"], 3)
        opt_px = px[: s["n_optimised"]]
        opt = {}
        for name, fn in OPTIMISED.items():
            opt[name] = rate(fn, opt_px, per_image=False)
        def all_statistics():
            for fn in OPTIMISED.values():
                for b in range(0, len(opt_px), 1000):
                    fn(opt_px[b:b + 1000])

        opt["all"] = best(all_statistics, len(opt_px))
        auth_px = px[: s["n_authors"]]
        authors = {
            "entropy_local": rate(entropy_local_authors, auth_px, per_image=True),
            "dct": rate(dct_energy_pct_authors, auth_px, per_image=True),
        }
        results[s["name"]] = {"optimised": opt, "authors": authors}
        print(f"  python peers on {s['name']}: " + ", ".join(f"{k} {v:.0f}/s" for k, v in opt.items()), flush=True)
    json.dump(results, open(out_path, "w"), indent=1)


if __name__ == "__main__":
    if len(sys.argv) > 3:
        REPEAT = max(1, int(sys.argv[3]))
    main(sys.argv[1], sys.argv[2])
