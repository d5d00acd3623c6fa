"""The downloader against a local HTTP server on 127.0.0.1 (no other network)."""

from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gpt_experiments.convert.download import (
    HELLASWAG_VAL_URL,
    OPENAI_FILES,
    DownloadError,
    download_file,
    download_gpt2,
    download_hellaswag,
)

CONTENT = bytes(range(256)) * 40  # 10 KiB


class FileHandler(BaseHTTPRequestHandler):
    """Serves ``CONTENT`` with Range support under /ok/; /flaky/ breaks its first transfer
    half way, /short/ announces more bytes than it sends, /norange/ ignores Range headers,
    anything else is 404."""

    log: list[tuple[str, str | None]] = []
    flaky_failed = False

    def do_GET(self) -> None:
        range_header = self.headers.get("Range")
        self.log.append((self.path, range_header))
        if not self.path.startswith(("/ok/", "/flaky/", "/short/", "/norange/")):
            self.send_error(404)
            return
        start = int(re.fullmatch(r"bytes=(\d+)-", range_header)[1]) if range_header else 0
        if self.path.startswith("/norange/"):
            start = 0
        elif start >= len(CONTENT):
            self.send_error(416)
            return
        body = CONTENT[start:]
        announced = len(body) + (100 if self.path.startswith("/short/") else 0)
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(announced))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(CONTENT) - 1}/{len(CONTENT)}")
        self.end_headers()
        if self.path.startswith("/flaky/") and not FileHandler.flaky_failed:
            FileHandler.flaky_failed = True
            body = body[: len(body) // 2]  # the connection drops mid-transfer
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args) -> None:  # keep test output quiet
        pass


@pytest.fixture
def server():
    FileHandler.log, FileHandler.flaky_failed = [], False
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FileHandler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_interrupted_transfer_resumes_with_range(server, tmp_path):
    dest = tmp_path / "model.ckpt.index"
    with pytest.raises(DownloadError, match=f"got {len(CONTENT) // 2} of {len(CONTENT)} bytes") as err:
        download_file([f"{server}/flaky/x"], dest, timeout=5)
    assert "run again to resume" in str(err.value) and not dest.exists()
    download_file([f"{server}/flaky/x"], dest, timeout=5)
    assert dest.read_bytes() == CONTENT
    assert FileHandler.log[-1] == ("/flaky/x", f"bytes={len(CONTENT) // 2}-")


@pytest.mark.parametrize(
    ("path", "stale"), [("/norange/x", b"junk"), ("/ok/x", CONTENT + b"junk")], ids=["range-ignored", "416"]
)
def test_stale_partial_file_is_replaced(server, tmp_path, path, stale):
    (tmp_path / "encoder.json.part").write_bytes(stale)
    download_file([server + path], tmp_path / "encoder.json", timeout=5)
    assert (tmp_path / "encoder.json").read_bytes() == CONTENT


def test_wrong_size_is_detected(server, tmp_path):
    dest = tmp_path / "hparams.json"
    with pytest.raises(DownloadError, match=f"got {len(CONTENT)} of {len(CONTENT) + 100} bytes"):
        download_file([f"{server}/short/x"], dest, timeout=5)
    assert not dest.exists()


def test_fallback_mirror_is_used(server, tmp_path):
    dest = download_file([f"{server}/gone/x", f"{server}/ok/x"], tmp_path / "vocab.bpe", timeout=5)
    assert dest.read_bytes() == CONTENT
    assert [path for path, _ in FileHandler.log] == ["/gone/x", "/ok/x"]


def test_all_mirrors_failing_is_one_line(server, tmp_path):
    with pytest.raises(DownloadError) as err:
        download_file([f"{server}/gone/a", f"{server}/gone/b"], tmp_path / "checkpoint", timeout=5)
    message = str(err.value)
    assert "/gone/a: HTTP Error 404" in message and "/gone/b: HTTP Error 404" in message
    assert "\n" not in message


def test_complete_file_is_not_fetched_again(server, tmp_path):
    (tmp_path / "checkpoint").write_bytes(b"done")
    download_file([f"{server}/ok/x"], tmp_path / "checkpoint", timeout=5)
    assert FileHandler.log == []


def test_download_gpt2_fetches_the_seven_files(server, tmp_path):
    mirrors = (f"{server}/gone/{{size}}/{{file}}", f"{server}/ok/{{size}}/{{file}}")
    folder = download_gpt2("124M", tmp_path / "models", mirrors=mirrors)
    assert folder == tmp_path / "models" / "124M"
    assert sorted(p.name for p in folder.iterdir()) == sorted(OPENAI_FILES)
    assert f"/ok/124M/{OPENAI_FILES[0]}" in [path for path, _ in FileHandler.log]


def test_unknown_size_is_refused(tmp_path):
    with pytest.raises(DownloadError, match="unknown GPT-2 size '125M': choose one of 124M, 355M"):
        download_gpt2("125M", tmp_path)


def test_hellaswag_url_is_the_benchmark_repository_file():
    assert (
        HELLASWAG_VAL_URL
        == "https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_val.jsonl"
    )


def test_download_hellaswag_fetches_the_validation_file(server, tmp_path):
    path = download_hellaswag(tmp_path / "data", urls=(f"{server}/missing/hs.jsonl", f"{server}/ok/hs.jsonl"))
    assert path == tmp_path / "data" / "hellaswag_val.jsonl" and path.read_bytes() == CONTENT
