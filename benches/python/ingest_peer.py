"""The Python peer of `agree ingest imagefolder`: what a researcher writes today.

Reads the ImageFolder tar.gz in place with tarfile, decodes every image fully with
PIL (to validate it and read its size), assigns sample_id in (split, key) order, and
writes the same samples table with pyarrow (original bytes kept, zstd elsewhere).

usage: ingest_peer.py ARCHIVE OUT.parquet   → prints "<images> <seconds>"
"""

import io
import sys
import tarfile
import time

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

SPLITS = {"train": "train", "val": "test", "test": "test"}


def main(archive: str, out: str) -> None:
    start = time.perf_counter()
    rows = []
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            if not member.isfile():
                continue
            parts = member.name.split("/")
            if len(parts) < 3 or parts[-3] not in SPLITS:
                continue
            data = tar.extractfile(member).read()
            with Image.open(io.BytesIO(data)) as img:
                img.load()
                width, height = img.size
                channels = len(img.getbands())
                fmt = (img.format or "").lower()
            split = SPLITS[parts[-3]]
            key = "/".join(parts[-3:])
            rows.append((split, key, parts[-2], width, height, channels, fmt, data))
    classes = sorted({r[2] for r in rows})
    label_of = {c: i for i, c in enumerate(classes)}
    rows.sort(key=lambda r: (r[0], r[1]))
    table = pa.table(
        {
            "sample_id": pa.array(range(len(rows)), pa.int64()),
            "split": [r[0] for r in rows],
            "key": [r[1] for r in rows],
            "label": pa.array([label_of[r[2]] for r in rows], pa.int32()),
            "labels": pa.array([[label_of[r[2]]] for r in rows], pa.list_(pa.int32())),
            "class_name": [r[2] for r in rows],
            "width": pa.array([r[3] for r in rows], pa.int32()),
            "height": pa.array([r[4] for r in rows], pa.int32()),
            "channels": pa.array([r[5] for r in rows], pa.int32()),
            "bit_depth": pa.array([8] * len(rows), pa.int32()),
            "format": [r[6] for r in rows],
            "image": pa.array([r[7] for r in rows], pa.binary()),
        }
    )
    pq.write_table(
        table,
        out,
        compression={c: ("none" if c == "image" else "zstd") for c in table.column_names},
        row_group_size=65536,
    )
    print(len(rows), time.perf_counter() - start)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
