"""Downloading OpenAI's GPT-2 checkpoints and HellaSwag's validation file, resumable and
checked against the announced size."""

from __future__ import annotations

from http.client import HTTPException
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

from tqdm import tqdm

from gpt_experiments.errors import UserError

MODEL_SIZES = ("124M", "355M", "774M", "1558M")
OPENAI_FILES = (
    "checkpoint",
    "encoder.json",
    "hparams.json",
    "model.ckpt.data-00000-of-00001",
    "model.ckpt.index",
    "model.ckpt.meta",
    "vocab.bpe",
)
# Tried in order; the second is the copy kept for "Build a Large Language Model (From Scratch)".
MIRRORS = (
    "https://openaipublic.blob.core.windows.net/gpt-2/models/{size}/{file}",
    "https://f001.backblazeb2.com/file/LLMs-from-scratch/gpt2/{size}/{file}",
)
# HellaSwag's validation split (10,042 examples, JSON Lines), in the benchmark's own repository.
HELLASWAG_VAL_URL = "https://raw.githubusercontent.com/rowanz/hellaswag/master/data/hellaswag_val.jsonl"
CHUNK_BYTES = 1 << 20
RANGE_NOT_SATISFIABLE = 416


class DownloadError(UserError):
    """A file could not be fetched completely from any mirror."""


class LocalWriteError(OSError):
    """The bytes could not be stored here (read-only folder, full disk): no mirror helps."""


def stored_here(part: Path, err: OSError) -> LocalWriteError:
    return LocalWriteError(err.errno, err.strerror, str(part))


def fetch(url: str, part: Path, timeout: float) -> None:
    """Append ``url``'s bytes to ``part``, asking only for those it does not hold yet."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        response = urlopen(Request(url, headers=headers), timeout=timeout)
    except HTTPError as err:
        if err.code != RANGE_NOT_SATISFIABLE or not have:
            raise
        # The partial file is not a prefix of this one (e.g. longer): start over.
        part.unlink()
        return fetch(url, part, timeout)
    with response:
        if response.status == 206:  # Partial Content: "Content-Range: bytes start-end/total"
            total = int(response.headers["Content-Range"].rsplit("/", 1)[1])
            mode = "ab"
        else:  # the server ignored the range and sends everything
            have, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length is not None else None
        try:
            out = part.open(mode, buffering=0)  # unbuffered: a full disk fails in write(), below
        except OSError as err:
            raise stored_here(part, err) from None
        with (
            out,
            tqdm(
                total=total, initial=have, unit="B", unit_scale=True, desc=part.name.removesuffix(".part")
            ) as bar,
        ):
            while chunk := response.read(CHUNK_BYTES):
                try:
                    view = memoryview(chunk)
                    while view:  # an unbuffered write may store only part of the chunk
                        view = view[out.write(view) :]
                except OSError as err:
                    raise stored_here(part, err) from None
                bar.update(len(chunk))
    size = part.stat().st_size
    if total is not None and size != total:
        raise DownloadError(f"got {size} of {total} bytes")


def download_file(urls: list[str], dest: Path, timeout: float = 30.0) -> Path:
    """Fetch ``dest`` from the first of ``urls`` that delivers it whole.

    Bytes arrive in ``dest.part``, renamed to ``dest`` only once their count matches the
    size the server announced, so an existing ``dest`` is complete and a rerun resumes.
    """
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    failures = []
    for url in urls:
        try:
            fetch(url, part, timeout)
        except LocalWriteError:
            raise  # the same on every mirror: say so at once
        except (DownloadError, HTTPException, OSError) as err:
            failures.append(f"{url}: {err}")
            continue
        part.replace(dest)
        return dest
    raise DownloadError(
        f"could not download {dest.name} ({'; '.join(failures)}): check the network and run again to resume"
    )


def download_gpt2(size: str, models_dir: str | Path, mirrors: tuple[str, ...] = MIRRORS) -> Path:
    """Fetch OpenAI's seven files for ``size`` (e.g. ``124M``) into ``models_dir/size``."""
    if size not in MODEL_SIZES:
        raise DownloadError(f"unknown GPT-2 size {size!r}: choose one of {', '.join(MODEL_SIZES)}")
    folder = Path(models_dir) / size
    for name in OPENAI_FILES:
        download_file([mirror.format(size=size, file=name) for mirror in mirrors], folder / name)
    return folder


def download_hellaswag(dest_dir: str | Path, urls: tuple[str, ...] = (HELLASWAG_VAL_URL,)) -> Path:
    """Fetch ``hellaswag_val.jsonl`` into ``dest_dir`` (for ``evaluate.py task=hellaswag``)."""
    return download_file(list(urls), Path(dest_dir) / "hellaswag_val.jsonl")
