"""Cross-check agree-imstats against independent implementations (numpy, scipy, scikit-image).

Run by tests/crosscheck.rs, which decodes real CIFAR-10 images with the Rust decoder, writes
their pixels (`pixels.u8`, N×H×W×3), our statistics (`ours.csv`) and `meta.json` into a
directory, and calls `python crosscheck.py DIR`. Exit status 1 when a criterion fails:

- entropy_global, entropy_local (numpy, per-window bincount), dct_energy_pct, dct_max_coeff
  (scipy.fft.dctn norm="ortho"), colour moments, colorfulness, rms_contrast, the spectra row
  and its fit (numpy.fft): relative difference <= 1e-6 on every image;
- gradient_mean (scipy.ndimage.sobel, mode="nearest", our f32 arithmetic): <= 1e-5;
- segment_count vs skimage.segmentation.felzenszwalb(scale=500, sigma=0.5, min_size=20):
  Spearman rho >= 0.98 and identical counts on more than half of the images.
edge_density vs skimage.feature.canny is reported (correlation), not enforced: our Canny
quantises the suppression direction where skimage interpolates.
"""

import json
import sys

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage
from scipy.fft import dctn
from scipy.stats import pearsonr, spearmanr
from skimage.feature import canny
from skimage.segmentation import felzenszwalb


def luma(rgb):
    rgb = rgb.astype(np.float64)
    return 0.2989 * rgb[..., 0] + 0.5870 * rgb[..., 1] + 0.1140 * rgb[..., 2]


def entropy_of_counts(counts, n):
    p = counts[counts > 0] / n
    return float(-(p * np.log2(p)).sum())


def local_entropy(levels, w=10):
    h_, w_ = levels.shape
    wh, ww = min(w, h_), min(w, w_)
    win = sliding_window_view(levels, (wh, ww)).reshape(-1, wh * ww).astype(np.int64)
    nwin = win.shape[0]
    counts = np.bincount((win + 256 * np.arange(nwin)[:, None]).ravel(), minlength=256 * nwin).reshape(nwin, 256)
    p = counts / (wh * ww)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(counts > 0, -p * np.log2(np.where(p > 0, p, 1.0)), 0.0)
    return float(terms.sum(axis=1).mean())


def dct_stats(y):
    c = dctn(y / 255.0, norm="ortho")
    e = np.sort((c * c).ravel())[::-1]
    cum = np.cumsum(e)
    if cum[-1] == 0:
        return 0.0, 0.0
    k = int(np.argmax(np.sqrt(cum) / np.sqrt(cum[-1]) >= 0.9998)) + 1
    return 100.0 * k / y.size, float(np.abs(c).max())


def spectrum(y):
    h, w = y.shape
    f = np.fft.fft2(y - y.mean())
    p = np.abs(f) ** 2
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[None, :]
    r = np.sqrt(fx * fx + fy * fy)
    inside = r <= 0.5
    b = np.minimum(np.floor(r * 32), 15).astype(int)
    sums = np.bincount(b[inside], weights=p[inside], minlength=16)
    counts = np.bincount(b[inside], minlength=16)
    power = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    power = power / power.sum() if power.sum() > 0 else power
    i = np.arange(1, 16)
    keep = power[1:] > 0
    xs = np.log((i[keep] + 0.5) / 32)
    ys = np.log(power[1:][keep])
    b1, b0 = np.polyfit(xs, ys, 1)
    dc = (r == 0)
    high = p[(r > 0.25) & ~dc].sum() / p[~dc].sum()
    return power, -b1, b0, high


def colour(rgb):
    x = rgb.astype(np.float64).reshape(-1, 3) / 255.0
    mean = x.mean(0)
    std = x.std(0)
    skew = np.cbrt(((x - mean) ** 3).mean(0))
    r, g, b = (rgb.astype(np.float64)[..., i].ravel() for i in range(3))
    rg = r - g
    yb = (r + g) / 2 - b
    cf = np.sqrt(rg.var() + yb.var()) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2)
    return mean, std, skew, cf


def rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.abs(a - b) / np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-12)


def main(d):
    meta = json.load(open(f"{d}/meta.json"))
    n, h, w = meta["n"], meta["height"], meta["width"]
    px = np.fromfile(f"{d}/pixels.u8", dtype=np.uint8).reshape(n, h, w, 3)
    with open(f"{d}/ours.csv") as fh:
        header = fh.readline().strip().split(",")
    ours = np.loadtxt(f"{d}/ours.csv", delimiter=",", skiprows=1, ndmin=2)
    col = {name: ours[:, i] for i, name in enumerate(header)}
    exact = {k: [] for k in ["entropy_global", "entropy_local", "dct_energy_pct", "dct_max_coeff", "mean_r",
                             "std_g", "skew_b", "colorfulness", "rms_contrast", "spectral_slope",
                             "spectral_intercept", "high_freq_ratio", "spectra"]}
    grad, segs, edges = [], [], []
    for i in range(n):
        rgb = px[i]
        y = luma(rgb)
        levels = np.clip(np.floor(y + 0.5), 0, 255).astype(np.uint8)
        exact["entropy_global"].append(entropy_of_counts(np.bincount(levels.ravel(), minlength=256), levels.size))
        exact["entropy_local"].append(local_entropy(levels))
        pct, mx = dct_stats(y)
        exact["dct_energy_pct"].append(pct)
        exact["dct_max_coeff"].append(mx)
        mean, std, skew, cf = colour(rgb)
        exact["mean_r"].append(mean[0])
        exact["std_g"].append(std[1])
        exact["skew_b"].append(skew[2])
        exact["colorfulness"].append(cf)
        exact["rms_contrast"].append((y / 255.0).std())
        if y.std() > 0:
            power, slope, icpt, high = spectrum(y)
        else:
            power, slope, icpt, high = np.zeros(16), 0.0, 0.0, 0.0
        exact["spectral_slope"].append(slope)
        exact["spectral_intercept"].append(icpt)
        exact["high_freq_ratio"].append(high)
        exact["spectra"].append(power)
        gx = ndimage.sobel(y, axis=1, mode="nearest")
        gy = ndimage.sobel(y, axis=0, mode="nearest")
        grad.append(np.hypot(gx, gy).mean())
        segs.append(len(np.unique(felzenszwalb(rgb, scale=500, sigma=0.5, min_size=20))))
        edges.append(canny(y / 255.0).mean())

    ok = True
    print(f"cross-check on {n} real CIFAR-10 images ({h}x{w})")
    for k, ref in exact.items():
        if k == "spectra":
            ref = np.stack(ref)
            mine = ours[:, [header.index(f"power_{b}") for b in range(16)]]
            diff = np.abs(ref - mine).max()
            good = diff <= 1e-9
            print(f"  {'spectra (16 bins)':<20} max |diff| = {diff:.2e}  {'ok' if good else 'FAIL'}")
        else:
            r = rel(col[k], ref)
            good = r.max() <= 1e-6
            print(f"  {k:<20} max rel diff = {r.max():.2e}  identical-to-1e-12 on {np.mean(r <= 1e-12):.1%}  "
                  f"{'ok' if good else 'FAIL'}")
        ok &= bool(good)
    r = rel(col["gradient_mean"], grad)
    good = r.max() <= 1e-5
    ok &= bool(good)
    print(f"  {'gradient_mean':<20} max rel diff = {r.max():.2e} (f32 kernels)  {'ok' if good else 'FAIL'}")
    segs = np.asarray(segs)
    mine = col["segment_count"]
    rho = spearmanr(mine, segs).statistic
    same = float(np.mean(mine == segs))
    within1 = float(np.mean(np.abs(mine - segs) <= 1))
    good = rho >= 0.98 and same > 0.5
    ok &= bool(good)
    print(f"  {'segment_count':<20} Spearman rho = {rho:.4f}, identical on {same:.1%}, within 1 on {within1:.1%}, "
          f"mean ours {mine.mean():.2f} vs skimage {segs.mean():.2f}  {'ok' if good else 'FAIL'}")
    er = pearsonr(col["edge_density"], edges).statistic
    print(f"  {'edge_density':<20} Pearson r vs skimage canny = {er:.4f} (reported, not enforced)")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
