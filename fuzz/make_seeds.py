"""Writes the fuzz targets' seed corpora (fuzz/seeds/<target>/) from the fixtures the
tests build in code: crates/agree-ingest/tests/formats.rs (cifar_record, voc_xml,
the KTH names, tar_gz, the score CSV and hand-written .npy, `encoded` images),
agree-imstats' decode tests, agree-sql's query tests and the shipped pipelines/.
Run with the project's .venv python (numpy, pillow): `.venv/bin/python fuzz/make_seeds.py`.
"""

import gzip
import io
import pathlib
import struct
import tarfile

import numpy as np
from PIL import Image

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent
SEEDS = FUZZ / "seeds"


def put(target, name, data):
    d = SEEDS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data if isinstance(data, bytes) else data.encode())


def cifar_record(label, seed):
    return bytes([label]) + bytes((i * seed) & 0xFF for i in range(3072))


def encoded(w, h, seed, fmt):
    """formats.rs `encoded`: pixel (x, y) = (x ^ seed, y, seed)."""
    img = Image.new("RGB", (w, h))
    img.putdata([((x ^ seed) & 0xFF, y & 0xFF, seed) for y in range(h) for x in range(w)])
    out = io.BytesIO()
    img.save(out, format=fmt)
    return out.getvalue()


def voc_xml(objects, size=(20, 10)):
    s = f"<annotation><size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>"
    for name, difficult, b in objects:
        s += (
            f"<object><name>{name}</name><difficult>{int(difficult)}</difficult><bndbox><xmin>{b[0]}</xmin>"
            f"<ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        )
    return (s + "</annotation>").encode()


def tar_bytes(files, gzip_it):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for path, data in files:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, compresslevel=1, mtime=0) if gzip_it else raw


def npy(array):
    out = io.BytesIO()
    np.save(out, array)
    return out.getvalue()


META = b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n"


def cifar10_batch():
    put("cifar10_batch", "two_records", b"\x00" + cifar_record(3, 1) + cifar_record(1, 2))
    put("cifar10_batch", "meta_one_record", bytes([len(META) + 1]) + META + cifar_record(9, 1))
    short = (cifar_record(2, 1) + cifar_record(4, 2))[: 3073 + 100]
    put("cifar10_batch", "short_record_skip", b"\x80" + short)
    put("cifar10_batch", "label_out_of_range", bytes([0x80 | 4]) + b"a\nb" + cifar_record(7, 3))


def voc_annotation():
    put("voc_annotation", "two_objects", voc_xml([("dog", True, [1, 1, 10, 10]), ("person", False, [1, 1, 5, 5])]))
    put("voc_annotation", "three_objects", voc_xml(
        [("dog", True, [1, 1, 10, 10]), ("cat", False, [1, 1, 4, 5]), ("cat", False, [5, 5, 6, 6])]))
    put("voc_annotation", "unit_test", voc_xml([("dog", False, [1, 1, 10, 10]), ("cat", True, [1, 1, 20, 5])], (100, 50)))
    put("voc_annotation", "malformed", b"<annotation><size>")
    put("voc_annotation", "unknown_class", voc_xml([("dragon", False, [1, 1, 2, 2])]))


def kth_name():
    for i, n in enumerate(["22a-scale_2_im_1_col.png", "22c-scale_5_im_6_col.png",
                           "15b-scale_10_im_12_col.png", "1b-scale_2_im_13_col.png", "photo.png"]):
        put("kth_name", f"name{i}", n)


def tree_archive():
    kth = [
        ("KTH-TIPS2-b/wool/sample_a/22a-scale_2_im_1_col.png", encoded(4, 4, 1, "PNG")),
        ("KTH-TIPS2-b/wool/sample_c/22c-scale_5_im_6_col.png", encoded(4, 4, 2, "PNG")),
    ]
    voc = [
        ("VOCdevkit/VOC2007/ImageSets/Main/trainval.txt", b"000001\n"),
        ("VOCdevkit/VOC2007/Annotations/000001.xml", voc_xml([("cat", False, [1, 1, 20, 10])])),
        ("VOCdevkit/VOC2007/JPEGImages/000001.jpg", encoded(8, 4, 1, "JPEG")),
    ]
    folder = [("ds/train/a/1.jpg", bytes([1]) * 70), ("ds/notes.txt", b"hello"), ("ds/train/b/2.jpg", bytes([2]) * 90)]
    put("tree_archive", "kth.tar", tar_bytes(kth, False))
    put("tree_archive", "voc.tar.gz", tar_bytes(voc, True))
    put("tree_archive", "folder.tar.gz", tar_bytes(folder, True))
    put("tree_archive", "folder.tar", tar_bytes(folder, False))


def image_stats():
    for pick, fmt, w, h in [(0, "JPEG", 20, 10), (1, "PNG", 32, 32), (2, "BMP", 9, 7), (3, "GIF", 12, 12),
                            (4, "TIFF", 8, 8), (5, "WEBP", 16, 16)]:
        put("image_stats", f"{fmt.lower()}_{w}x{h}", bytes([pick, 0]) + encoded(w, h, 3, fmt))
    put("image_stats", "png_resized", bytes([1, 17]) + encoded(24, 24, 5, "PNG"))
    grey = Image.new("L", (10, 10))
    grey.putdata([(x * 25) & 0xFF for x in range(100)])
    out = io.BytesIO()
    grey.save(out, format="PNG")
    put("image_stats", "png_grey", bytes([1, 0]) + out.getvalue())
    put("image_stats", "rgb8_32x32", bytes([6, 0, 32, 32]) + cifar_record(0, 7)[1:])
    put("image_stats", "rgb8_1x1", bytes([6, 0, 1, 1, 1, 2, 3]))


def scores_import():
    put("scores_import", "by_key.csv", b"\x00key,hardness,note\ntest_batch.bin#00001,0.5,x\ntest_batch.bin#00000,,y\n")
    put("scores_import", "by_id.csv", b"\x00sample_id,margin,votes\n2,0.25,3\n0,1e-3,7\n1,-4,0\n")
    put("scores_import", "unknown_key.csv", b"\x00key,hardness\ntrain/zzz.png,1\n")
    probs = np.array([[1.0, 0.0], [0.5, 0.5], [0.25, 0.75]])
    put("scores_import", "cifar10h_f4.npy", b"\x01" + npy(probs.astype("<f4")))
    put("scores_import", "cifar10h_f8.npy", b"\x01" + npy(probs.astype("<f8")))
    put("scores_import", "cifar10h_i8.npy", b"\x01" + npy(np.array([[3, 1], [0, 2], [1, 1]], dtype="<i8")))


def pipeline_config():
    for p in sorted((ROOT / "pipelines").glob("*.toml")):
        put("pipeline_config", p.name, p.read_bytes())


SQL = [
    "SELECT split, class_name, count(*) AS n FROM samples GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT sample_id, key FROM samples WHERE sample_id > 1 ORDER BY key DESC LIMIT 2",
    "SELECT fleiss_kappa(k, 2) FROM (VALUES (2), (0), (1)) AS t(k)",
    "WITH s AS (SELECT sample_id FROM samples) SELECT count(*) FROM s",
    "EXPLAIN SELECT * FROM samples",
    "SHOW TABLES",
    "CREATE TABLE t AS SELECT 1",
    "INSERT INTO samples VALUES (9, 'z')",
    "COPY (SELECT sample_id FROM samples LIMIT 3) TO 'stats.parquet' STORED AS PARQUET",
    "DROP TABLE samples",
    "SET datafusion.execution.batch_size = 1",
    "CREATE VIEW v AS SELECT * FROM samples",
]


def sql_readonly():
    for i, q in enumerate(SQL):
        put("sql_readonly", f"q{i:02}", q)


for make in [cifar10_batch, voc_annotation, kth_name, tree_archive, image_stats, scores_import, pipeline_config,
             sql_readonly]:
    make()
