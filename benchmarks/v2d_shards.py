"""Shards exactly as video2dataset writes them (through webdataset's TarWriter): ``NNNNN.tar`` with, per sample,
``{key}.json``, ``{key}.mp4`` and ``{key}.txt`` in that (sorted) order, a float mtime so that Python's tarfile
writes a PAX header before every member; beside each tar ``NNNNN.parquet`` and ``NNNNN_stats.json``. Keys are the
shard's digits then the sample's (8 digits at 1000 a shard), clips get ``_00001``; failed samples have json and txt,
no video. The parquet files need pyarrow (a test requirement); ``parquet=False`` leaves them out."""

from __future__ import annotations

import io
import json
import math
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Sample:
    """One sample to write: its video's bytes (None: a failed download), caption, extension and extra columns."""

    video: bytes | None
    caption: str = ""
    ext: str = "mp4"
    clip: int | None = None  # video2dataset's clipping: the key gets _{clip:05d}
    key: str | None = None  # a key of one's own instead of the shard and index digits (a long name, say)
    extra: dict = field(default_factory=dict)


def sample_key(shard: int, index: int, per_shard: int) -> str:
    """video2dataset's key: ``10**d * shard + index`` zero-padded to ``5 + d`` digits, ``d = ceil(log10(n))``."""
    digits = math.ceil(math.log10(per_shard))
    return str(10**digits * shard + index).zfill(5 + digits)


def _add(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)  # what webdataset's TarWriter sets
    info.size, info.mtime, info.mode, info.uname, info.gname = len(data), mtime, 0o444, "bigdata", "bigdata"
    tar.addfile(info, io.BytesIO(data))


def write_shards(folder: str | Path, samples: list[Sample], per_shard: int, *, parquet: bool = True) -> list[str]:
    """``samples`` in shards of ``per_shard`` under ``folder``; the keys of the samples with a video, in order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    keys = []
    for shard in range(math.ceil(len(samples) / per_shard)):
        rows, stats = [], {"success": 0, "failed_to_download": 0}
        start = time.time()
        with tarfile.open(folder / f"{shard:05d}.tar", "w", format=tarfile.PAX_FORMAT) as tar:
            for i, sample in enumerate(samples[shard * per_shard : (shard + 1) * per_shard]):
                key = sample.key or sample_key(shard, i, per_shard)
                if sample.clip is not None:
                    key += f"_{sample.clip:05d}"
                status = "success" if sample.video is not None else "failed_to_download"
                meta = {
                    "url": f"https://example.org/{key}.{sample.ext}",
                    "caption": sample.caption,
                    "key": key,
                    "status": status,
                    "error_message": None if sample.video is not None else "HTTP Error 404: Not Found",
                    **sample.extra,
                }
                members = {"json": json.dumps(meta).encode(), "txt": sample.caption.encode()}
                if sample.video is not None:
                    members[sample.ext] = sample.video
                    keys.append(key)
                for ext in sorted(members):  # TarWriter writes a sample's members in sorted order
                    _add(tar, f"{key}.{ext}", members[ext], time.time())
                stats[status] += 1
                rows.append(meta)
        if parquet:
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(rows), folder / f"{shard:05d}.parquet")
        summary = {
            "count": len(rows),
            "successes": stats["success"],
            "failed_to_download": stats["failed_to_download"],
            "failed_to_subsample": 0,
            "duration": time.time() - start,
            "bytes_downloaded": sum(len(s.video or b"") for s in samples[shard * per_shard : (shard + 1) * per_shard]),
            "start_time": start,
            "end_time": time.time(),
            "status_dict": {k: v for k, v in stats.items() if v},
        }
        (folder / f"{shard:05d}_stats.json").write_text(json.dumps(summary, indent=4))
    return keys
