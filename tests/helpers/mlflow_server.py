"""A real ``mlflow server`` on 127.0.0.1 for the end-to-end tests (SQLite backend, artifacts it
serves), as a context manager yielding its URI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MLFLOW = Path(sys.executable).with_name("mlflow")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(uri: str, server: subprocess.Popen, log: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.5)


@contextmanager
def mlflow_server(folder: Path, timeout_s: float = 90) -> Iterator[str]:
    """Start ``mlflow server`` storing in ``folder``; yield its URI; stop it afterwards."""
    port = free_port()
    cmd = [str(MLFLOW), "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}"]
    cmd += ["--artifacts-destination", str(folder / "artifacts"), "--workers", "1"]
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    log_path = folder / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        uri = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(uri, server, log_path, timeout_s)
            yield uri
        finally:
            server.terminate()
            server.wait(timeout=30)
