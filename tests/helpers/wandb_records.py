"""Read the records of an offline W&B run (``run-<id>.wandb``), so tests can check what was logged without a server.

The file is a LevelDB-style log (as W&B's own reader in ``wandb sync`` parses it): a 7-byte header (``:W&B``, magic
0xBEE1, version 0), then 32 KiB blocks of chunks, each with a 7-byte header (crc32, length, type: 1 full, 2 first,
3 middle, 4 last) and a piece of one serialised ``wandb_internal_pb2.Record``.
"""

import json
import struct
from collections.abc import Iterator
from pathlib import Path

from wandb.proto import wandb_internal_pb2 as pb

BLOCK = 32 * 1024
HEADER = 7


def records(path: Path) -> Iterator[pb.Record]:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B" and struct.unpack("<HB", data[4:7]) == (0xBEE1, 0), f"not a W&B log: {path}"
    pos, parts = HEADER, b""
    while pos + HEADER <= len(data):
        room = BLOCK - pos % BLOCK
        if room < HEADER:  # a block's tail too short for a chunk header is padding
            pos += room
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        if kind == 0 and length == 0:
            break
        parts += data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(parts)
            yield record
            parts = b""


def logged(run_dir: Path, offline_run: Path | None = None) -> tuple[dict, list[dict]]:
    """(config, history rows) of ``offline_run``, by default the only offline W&B run under ``run_dir/wandb``."""
    (path,) = (offline_run or Path(run_dir)).glob("run-*.wandb" if offline_run else "wandb/offline-run-*/run-*.wandb")
    config, history = {}, []
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind in ("run", "config"):  # the config given to wandb.init, then later updates
            updates = (record.run.config if kind == "run" else record.config).update
            config.update({item.key: json.loads(item.value_json) for item in updates})
        elif kind == "history":
            # W&B stores a key either whole or split at its slashes
            history.append(
                {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in record.history.item}
            )
    return config, history
