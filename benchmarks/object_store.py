"""Real servers for the storage tests and benchmarks, each in a subprocess (DALI's pipeline build holds the GIL, so
a server thread in the caller's process would starve): moto's S3 on 127.0.0.1 (an IP literal: clients address
buckets by path there, not by a virtual host), optionally behind a proxy that holds every request back by a
latency, and an HTTP server that honours Range and can be told to fail.

``python -m benchmarks.object_store s3 [--latency S]`` or ``... http FOLDER [--fail N] [--latency S]`` runs one and
prints ``ready <port>``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def s3_environment(endpoint: str) -> dict[str, str]:
    """The variables an S3 client reads to reach moto at ``endpoint``."""
    return {**CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}


@contextmanager
def _server(*args: str) -> Iterator[str]:
    """Run ``python -m benchmarks.object_store ARGS``; yield its http://127.0.0.1:<port> once it is ready."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.object_store", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])},
    )
    try:
        line = proc.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError(f"server {args} did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def moto_server(*, latency: float = 0.0) -> Iterator[str]:
    """A fresh moto S3 server, each request held back ``latency`` seconds (first-byte latency, as an object store
    has; requests in flight together wait together); yields its endpoint URL."""
    with _server("s3", "--latency", str(latency)) as endpoint:
        yield endpoint


@contextmanager
def http_server(folder: str | Path, *, fail: int = 0, latency: float = 0.0) -> Iterator[str]:
    """Files of ``folder`` over HTTP with Range; the first ``fail`` GETs answer 503, each request waits
    ``latency`` seconds first. Yields the base URL."""
    with _server("http", str(folder), "--fail", str(fail), "--latency", str(latency)) as url:
        yield url


class _RangeHandler(SimpleHTTPRequestHandler):
    """Static files with single byte ranges (206), and the failures and latency the server was told."""

    fail = 0
    latency = 0.0
    lock = threading.Lock()

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        time.sleep(self.latency)
        with self.lock:
            failing = type(self).fail > 0
            type(self).fail -= failing
        if failing:
            self.send_error(503, "Service Unavailable")
            return
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404, "Not Found")
            return
        data = path.read_bytes()
        found = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if found is None:
            self.send_response(200)
            body = data
        else:
            start = int(found.group(1))
            end = min(len(data), int(found.group(2)) + 1 if found.group(2) else len(data))
            body = data[start:end]
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self) -> None:
        time.sleep(self.latency)
        path = Path(self.translate_path(self.path))
        if not path.is_file():
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Length", str(path.stat().st_size))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()


async def _pipe(reader, writer, delay: float) -> None:
    """Copy ``reader`` to ``writer``, each chunk ``delay`` seconds late (a request, in the client's direction)."""

    try:
        while data := await reader.read(1 << 16):
            if delay:
                await asyncio.sleep(delay)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


def _latency_proxy(upstream_port: int, latency: float) -> int:
    """A TCP proxy to 127.0.0.1:``upstream_port`` in a thread, delaying what clients send by ``latency``; its port."""

    ready: list[int] = []
    started = threading.Event()

    async def handle(client_reader, client_writer):
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        await asyncio.gather(_pipe(client_reader, server_writer, latency), _pipe(server_reader, client_writer, 0.0))

    async def serve():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        ready.append(server.sockets[0].getsockname()[1])
        started.set()
        async with server:
            await server.serve_forever()

    threading.Thread(target=lambda: asyncio.run(serve()), daemon=True).start()
    started.wait(10)
    return ready[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("s3", "http"))
    parser.add_argument("folder", nargs="?")
    parser.add_argument("--fail", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    if args.kind == "s3":
        from moto.server import ThreadedMotoServer

        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        port = server.get_host_and_port()[1]
        if args.latency:
            port = _latency_proxy(port, args.latency)
    else:
        _RangeHandler.fail, _RangeHandler.latency = args.fail, args.latency
        handler = lambda *a, **k: _RangeHandler(*a, directory=args.folder, **k)  # noqa: E731
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
    print(f"ready {port}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
