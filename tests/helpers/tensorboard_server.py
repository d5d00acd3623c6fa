"""A real ``tensorboard`` server on a folder, for tests that read what it serves."""

from __future__ import annotations

import json
import os
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
def local_server(
    command: list[str], probe_url: str, timeout_s: float, log: Path | None = None
) -> Iterator[None]:
    """Start the server ``command``, wait until ``probe_url`` answers; always stop it. Its output
    goes to ``log`` (shown if it does not start), or nowhere."""
    with open(log or os.devnull, "w") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    urllib.request.urlopen(probe_url, timeout=5).close()
                    break
                except (urllib.error.URLError, ConnectionError):
                    if server.poll() is not None or time.monotonic() > deadline:
                        shown = log.read_text()[-2000:] if log else ""
                        raise RuntimeError(f"{command[2]} did not answer {probe_url}: {shown}") from None
                    time.sleep(0.5)
            yield
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@contextmanager
def serve_tensorboard(logdir: Path, timeout_s: float = 90) -> Iterator[str]:
    """Start ``tensorboard --logdir`` on a free local port; yields its base URL; always stops it."""
    port = free_port()
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--reload_interval", "0"]
    url = f"http://127.0.0.1:{port}"
    with local_server(command, f"{url}/data/runs", timeout_s):
        yield url


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
