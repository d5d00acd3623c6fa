"""A real ``tensorboard`` server on a folder, for tests that read what it serves."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post_json(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


@contextmanager
def serve_tensorboard(logdir: Path, timeout_s: float = 90) -> Iterator[str]:
    """Start ``tensorboard --logdir`` on a free local port; yields its base URL; always stops it."""
    port = free_port()
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--reload_interval", "0"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                urllib.request.urlopen(f"{url}/data/runs", timeout=5).close()
                break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"tensorboard did not start on port {port}") from None
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# Every session, whatever its status, one page of up to 100 groups (the plugin's request format).
ALL_SESSIONS = {
    "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
    "startIndex": 0,
    "sliceSize": 100,
}


def served_hparams(url: str, runs: int, timeout_s: float = 60) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The HParams plugin's experiment (columns) and session groups (rows), once it serves ``runs`` rows."""
    deadline = time.monotonic() + timeout_s
    while True:  # the server reads the event files in the background
        experiment = post_json(f"{url}/data/plugin/hparams/experiment", {})
        groups = post_json(f"{url}/data/plugin/hparams/session_groups", {**ALL_SESSIONS, "colParams": []})
        groups = groups.get("sessionGroups", [])
        if len(groups) >= runs or time.monotonic() > deadline:
            return experiment, groups
        time.sleep(0.5)
