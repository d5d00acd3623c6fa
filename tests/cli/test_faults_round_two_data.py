"""Issue 28, part A: faults of data sources, the token cache, tokenizers, prepare_data,
convert_checkpoint and evaluate, each one ``error:`` line that leaves everything as it was.

Test names follow the issue's list. Train-command faults call ``prepare_run`` in-process (what
``scripts/train.py`` runs before Hydra makes a folder), as tests/cli/test_bad_inputs.py does;
the other commands, and the cases about the command line itself, run as scripts.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gpt_experiments.cli.handler import user_error_message
from gpt_experiments.config import asset_path, register_resolvers
from gpt_experiments.data.shards import HEADER_BYTES, shard_header
from gpt_experiments.data.sources.jsonl import JsonLines
from gpt_experiments.data.sources.text_files import TextFiles
from gpt_experiments.data.token_cache import MANIFEST, load_or_tokenize
from gpt_experiments.devices import has_native_bf16
from gpt_experiments.errors import UnsafeCheckpointError, UserError
from gpt_experiments.training.launch import prepare_run
from tests.cli.test_bad_inputs import (
    CONF_DIR,
    TINY,
    TINY_CHECKPOINT,
    needs_namespaces,
    run_with_fault,
    snapshot,
    workspace,  # noqa: F401  (a fixture)
)
from tests.helpers import ROOT, run_script, script_env


def whole_tree(folder: Path) -> tuple[dict[str, bytes], set[str]]:
    """Every file's bytes and every folder, the token cache and the Hugging Face cache included."""
    paths = sorted(folder.rglob("*"))
    files = {str(p.relative_to(folder)): p.read_bytes() for p in paths if p.is_file()}
    return files, {str(p.relative_to(folder)) for p in paths if p.is_dir()}


def refused_in_process(folder: Path, monkeypatch, overrides: list[str], whole: bool = True) -> str:
    """The train command's one-line error for ``overrides``, run in ``folder``; nothing changed
    there (``whole=False``: a valid entry the check made in the token cache is allowed)."""
    monkeypatch.chdir(folder)
    monkeypatch.setenv("GPT_EXPERIMENTS_CACHE", str(folder / "cache"))
    register_resolvers()
    take = whole_tree if whole else snapshot
    before = take(folder)
    with pytest.raises(UserError) as info:
        prepare_run(CONF_DIR, "train", [*TINY, *overrides])
    assert take(folder) == before
    return str(info.value)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The message of a script that failed as promised: exit 1, one ``error:`` line, no traceback."""
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr[-3000:]
    return errors[0].removeprefix("error: ")


def llmc_folder(folder: Path, train: np.ndarray, val: np.ndarray) -> Path:
    folder.mkdir()
    for split, tokens in (("train", train), ("val", val)):
        data = shard_header(np.dtype("<u2"), len(tokens)) + tokens.astype("<u2").tobytes()
        (folder / f"{split}_000000.bin").write_bytes(data)
    return folder


# --- Tracebacks -------------------------------------------------------------------------


def test_jsonl_with_invalid_utf8(workspace, monkeypatch):  # noqa: F811
    (workspace / "bad.jsonl").write_bytes(b'{"text": "fine"}\n{"text": "caf\xe9 au lait"}\n')
    message = refused_in_process(workspace, monkeypatch, ["data=jsonl", "data.path=bad.jsonl"])
    assert message == (
        "bad.jsonl is not UTF-8 (line 2, byte 30: b'\\xe9'): convert it, or set data.encoding_errors=replace"
    )


def test_jsonl_honours_encoding_errors(tmp_path):
    (tmp_path / "bad.jsonl").write_bytes(b'{"text": "caf\xe9 au lait"}\n')
    assert list(JsonLines(str(tmp_path / "bad.jsonl"), encoding_errors="replace").documents()) == [
        "caf\ufffd au lait"
    ]
    strict = JsonLines(str(tmp_path / "bad.jsonl")).fingerprint()
    assert JsonLines(str(tmp_path / "bad.jsonl"), encoding_errors="replace").fingerprint() != strict


def test_parquet_text_column_holding_integers(workspace, monkeypatch):  # noqa: F811
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": [1, 2, 3], "body": ["a", "b", "c"]}), workspace / "ints.parquet")
    message = refused_in_process(workspace, monkeypatch, ["data=parquet", "data.path=ints.parquet"])
    assert message == (
        "ints.parquet column 'text' holds int64, not text: set data.text_field to the column holding the "
        "text (string columns: body)"
    )


def test_corrupt_or_random_parquet(workspace, monkeypatch):  # noqa: F811
    pytest.importorskip("pyarrow")
    (workspace / "random.parquet").write_bytes(np.random.default_rng(0).bytes(4096))
    message = refused_in_process(workspace, monkeypatch, ["data=parquet", "data.path=random.parquet"])
    assert message == (
        "random.parquet is not a readable Parquet file (Parquet magic bytes not found in footer.): it is "
        "truncated, corrupt or of another format; write it again, or leave it out of data.path"
    )


def test_hf_saved_folder_with_corrupt_state_json(workspace, monkeypatch):  # noqa: F811
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"text": ["some text"] * 4}).save_to_disk(str(workspace / "saved"))
    (workspace / "saved" / "state.json").write_text("{not json")
    message = refused_in_process(workspace, monkeypatch, ["data=huggingface", "data.path=saved"])
    assert message.startswith("saved could not be read as a Hugging Face dataset (JSONDecodeError: Expecting")
    assert message.endswith("): fix or remove the damaged file, or save the dataset again")


@pytest.mark.slow
def test_hf_malformed_jsonl_leaves_nothing_in_the_hf_cache(tmp_path):
    pytest.importorskip("datasets")
    (tmp_path / "malformed.jsonl").write_text('{"text": "ok"}\n{"text": oops\n')
    before = whole_tree(tmp_path)
    result = run_script(
        "train.py",
        *TINY,
        "data=huggingface",
        "data.path=malformed.jsonl",
        cwd=tmp_path,
        env=script_env(tmp_path, HF_HOME=str(tmp_path / "hf"), HF_DATASETS_CACHE=str(tmp_path / "hf")),
    )
    assert one_line_error(result) == (
        "malformed.jsonl could not be read as a Hugging Face dataset (ArrowInvalid: JSON parse error: "
        "Invalid value in malformed.jsonl line 2): fix or remove the damaged file, or save the dataset again"
    )
    assert whole_tree(tmp_path) == before  # no lock file, no half-built dataset, no token cache


def test_hf_truncated_arrow_file_reports_its_cause(workspace, monkeypatch):  # noqa: F811
    datasets = pytest.importorskip("datasets")
    datasets.Dataset.from_dict({"text": ["hello world " * 50] * 200}).save_to_disk(str(workspace / "saved"))
    (arrow,) = (workspace / "saved").glob("*.arrow")
    arrow.write_bytes(arrow.read_bytes()[:5000])
    message = refused_in_process(workspace, monkeypatch, ["data=huggingface", "data.path=saved"])
    assert message.startswith(
        "saved could not be read as a Hugging Face dataset (OSError: Expected to be able to read "
    )
    assert "[Errno None]" not in message


@pytest.mark.slow
def test_hf_hub_dataset_without_network_reports_its_cause(tmp_path):
    pytest.importorskip("datasets")
    offline = {"HF_HOME": str(tmp_path / "hf"), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    argv = ["data=huggingface", "data.path=null", "data.dataset_name=someone/nothing"]
    result = run_script("train.py", *TINY, *argv, cwd=tmp_path, env=script_env(tmp_path, **offline))
    assert one_line_error(result) == (
        "data.dataset_name=someone/nothing could not be loaded (ConnectionError: Couldn't reach "
        "'someone/nothing' on the Hub (OfflineModeIsEnabled)): check the name, the network, or point "
        "data.path at a local copy"
    )
    assert not (tmp_path / "cache").exists() and not (tmp_path / "outputs").exists()


@pytest.mark.parametrize("handler", ["bogus", "surrogateescape"])
def test_encoding_errors_not_a_decoding_handler(workspace, monkeypatch, handler):  # noqa: F811
    message = refused_in_process(workspace, monkeypatch, [f"data.encoding_errors={handler}"])
    assert message == (
        f"data.encoding_errors='{handler}' is not one of Python's error handlers that decode bad UTF-8 into "
        "text: use strict (stop at the first bad byte), replace, ignore, backslashreplace"
    )


def test_tiktoken_ranks_missing_single_bytes(workspace, monkeypatch):  # noqa: F811
    ranks = "".join(f"{base64.b64encode(bytes([b])).decode()} {b - 97}\n" for b in range(97, 123))
    (workspace / "letters.tiktoken").write_text(ranks)
    overrides = ["tokenizer=tiktoken", "tokenizer.path=letters.tiktoken"]
    assert refused_in_process(workspace, monkeypatch, overrides) == (
        "letters.tiktoken has no rank for 230 of the 256 single bytes (the first: b'\\x00'): byte-level BPE "
        "needs every byte; give a complete tiktoken ranks file"
    )


@pytest.mark.parametrize("source", ["llmc", "nanogpt_bin"])
def test_pretokenized_ids_beyond_the_vocabulary(workspace, monkeypatch, source):  # noqa: F811
    tokens = np.arange(2000, dtype="<u2")
    tokens[1500] = 60_000
    if source == "llmc":
        llmc_folder(workspace / "tokens", tokens, tokens)
        name = "train_000000.bin"
    else:
        (workspace / "tokens").mkdir()
        for split in ("train", "val"):
            tokens.tofile(workspace / "tokens" / f"{split}.bin")
        name = "train.bin"
    message = refused_in_process(workspace, monkeypatch, [f"data={source}", "data.path=tokens"])
    assert message == (
        f"tokens/{name} holds token id 60000, but the tokenizer has 50257 ids (0 to 50256): the tokens were "
        "made by another tokenizer: pass that one as tokenizer= (and model.vocab_size)"
    )  # and no run folder: prepare_run runs before Hydra makes one


def cached_verdict(cache: Path) -> tuple[TextFiles, dict[str, list[int]], Path]:
    """The verdict's source, its tokens per split, and its entry in ``cache``."""
    source = TextFiles(asset_path("the-verdict.txt"))
    tokens = {name: np.array(t).tolist() for name, t in load_or_tokenize(source, cache).items()}
    (entry,) = [p for p in cache.iterdir() if p.is_dir()]
    return source, tokens, entry


def assert_rebuilt(source: TextFiles, tokens: dict[str, list[int]], entry: Path, capsys, damage: str) -> None:
    """The damaged entry is tokenized again, in place, with a warning naming the damage."""
    again = load_or_tokenize(source, entry.parent)
    assert {name: np.array(t).tolist() for name, t in again.items()} == tokens
    (warning,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warning.startswith(f"warning: the token cache entry {entry} is damaged ({damage}"), warning
    assert warning.endswith(": tokenizing again")
    assert [p for p in entry.parent.iterdir() if p.is_dir()] == [entry]  # nothing left beside it


def test_damaged_cache_shard_with_ids_beyond_the_vocabulary_is_rebuilt(tmp_path, capsys):
    source, tokens, entry = cached_verdict(tmp_path / "cache")
    with open(entry / "train_000000.bin", "r+b") as f:  # one flipped token: id 65535
        f.seek(HEADER_BYTES + 100)
        f.write(b"\xff\xff")
    assert_rebuilt(source, tokens, entry, capsys, f"{entry / 'train_000000.bin'} holds token id 65535")


MULTIPLE_CHOICE_CASES = {
    "null context": (b'{"context": null, "choices": [" a", " b"], "label": 0}\n', "'context' is NoneType"),
    "invalid UTF-8": (
        b'{"context": "caf\xe9", "choices": [" a", " b"], "label": 0}\n',
        "is not UTF-8 (line 1, byte 16: b'\\xe9'): convert it to UTF-8",
    ),
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("line", "message"), MULTIPLE_CHOICE_CASES.values(), ids=MULTIPLE_CHOICE_CASES.keys()
)
def test_evaluate_multiple_choice_bad_example(tmp_path, line, message):
    (tmp_path / "set.jsonl").write_bytes(line)
    result = run_script(
        "evaluate.py", f"ckpt={TINY_CHECKPOINT}", "task=multiple_choice", "path=set.jsonl", cwd=tmp_path
    )
    assert message in one_line_error(result)


def test_corrupt_tokens_json_entry_is_rebuilt(tmp_path, capsys):
    source, tokens, entry = cached_verdict(tmp_path / "cache")
    (entry / MANIFEST).write_text('{"train": ["train_000000.bin"')
    assert_rebuilt(source, tokens, entry, capsys, "tokens.json: JSONDecodeError")
    assert json.loads((entry / MANIFEST).read_text())["val"] == ["val_000000.bin"]  # whole again


def test_sweep_without_the_sweep_extra_names_it(tmp_path):
    # A module that fails to import as a missing optuna does, ahead of the installed one.
    (tmp_path / "missing").mkdir()
    (tmp_path / "missing" / "optuna.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'optuna'\", name='optuna')\n"
    )
    env = {**script_env(tmp_path), "PYTHONPATH": f"{tmp_path / 'missing'}{os.pathsep}{ROOT}"}
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "train.py"),
            "-m",
            "hparams_search=verdict_optuna",
            "model=tiny",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert one_line_error(result) == (
        "the sweeper GptOptunaSweeper needs optuna, which is not installed: "
        "pip install 'gpt-experiments[sweep]' (or make setup-dev)"
    )
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
@pytest.mark.parametrize("script", ["generate.py", "evaluate.py", "prepare_data.py"])
def test_non_ascii_value_typed_unquoted(tmp_path, script):
    result = run_script(script, "ckpt=x", "prompt=héllo", cwd=tmp_path)
    assert one_line_error(result) == (
        "cannot parse override 'prompt=héllo' (token recognition error at: 'é'): quote the value, "
        "e.g. \"prompt='héllo'\""
    )
    assert list(tmp_path.iterdir()) == []


# --- The token cache ----------------------------------------------------------------------


class FailingSource(TextFiles):
    """A source whose reading fails with an OSError of no file name, as a library's may."""

    def documents(self):
        raise OSError("Expected to be able to read 1234 bytes for message body, got 17")

    def stream(self):
        return self.documents()


def test_cache_os_error_from_elsewhere_reports_its_cause(tmp_path):
    with pytest.raises(OSError) as info:
        load_or_tokenize(FailingSource(asset_path("the-verdict.txt")), tmp_path / "cache")
    assert user_error_message(info.value) == "Expected to be able to read 1234 bytes for message body, got 17"
    assert not (tmp_path / "cache").exists()


def test_cache_missing_shard_is_rebuilt(tmp_path, capsys):
    source, tokens, entry = cached_verdict(tmp_path / "cache")
    (entry / "val_000000.bin").unlink()
    assert_rebuilt(source, tokens, entry, capsys, f"{entry / 'val_000000.bin'} is missing")


def test_cache_truncated_shard_is_rebuilt(tmp_path, capsys):
    source, tokens, entry = cached_verdict(tmp_path / "cache")
    shard = entry / "train_000000.bin"
    shard.write_bytes(shard.read_bytes()[:-10])
    assert_rebuilt(source, tokens, entry, capsys, f"{shard} holds")


@pytest.mark.slow
@needs_namespaces
def test_cache_read_only_hit_is_served_and_damage_says_delete(tmp_path):
    """A hit needs no write; a damaged entry in a read-only cache says to delete it."""
    (tmp_path / "cache").mkdir()
    _, _, entry = cached_verdict(tmp_path / "cache")
    prepare = [sys.executable, str(ROOT / "scripts" / "prepare_data.py"), "data=verdict", "out_dir=out"]
    result, after = run_with_fault(tmp_path / "cache", "read-only", prepare, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "out" / "train_000000.bin").is_file()
    (entry / MANIFEST).write_text("{")
    before = whole_tree(tmp_path / "cache")
    result, after = run_with_fault(tmp_path / "cache", "read-only", [*prepare[:-1], "out_dir=out2"], tmp_path)
    assert one_line_error(result) == (
        f"{tmp_path / 'cache'}: Read-only file system: the token cache entry {entry} is damaged "
        "(tokens.json: JSONDecodeError: Expecting property name enclosed in double quotes: line 1 "
        f"column 2 (char 1)): delete it (rm -r {entry}) where the cache is writable, or set data.cache_dir "
        "to a writable folder"
    )
    assert whole_tree(after) == before and not (tmp_path / "out2").exists()


@pytest.mark.parametrize(
    ("setup", "overrides", "message"),
    [
        (
            lambda folder: (folder / "empty.jsonl").write_text("\n"),
            ["data=jsonl", "data.path=empty.jsonl"],
            "the data holds no text (every document is empty): check data.path and data.text_field",
        ),
        (
            lambda folder: (folder / "one.jsonl").write_text('{"text": "only one document here"}\n'),
            ["data=jsonl", "data.path=one.jsonl", "data.split=documents"],
            "the val split gets no tokens: data.split=documents put every document in the other split: give "
            "more documents, or use data.split=chars",
        ),
    ],
    ids=["empty JSONL", "one document split by documents"],
)
def test_cache_keeps_no_empty_entry(workspace, monkeypatch, setup, overrides, message):  # noqa: F811
    setup(workspace)
    assert refused_in_process(workspace, monkeypatch, overrides) == message
    assert not (workspace / "cache").exists()


# --- prepare_data.py and convert_checkpoint.py ------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["out_dir=taken.txt"],
            "out_dir=taken.txt is a file, not a folder: choose a folder for the token files",
        ),
        (["out_dir=new", "shard_tokens=0"], "shard_tokens=0 is invalid: it must be a positive integer"),
    ],
    ids=["out_dir is a file", "shard_tokens zero"],
)
def test_prepare_data_checks_out_dir_and_shard_tokens_before_tokenizing(tmp_path, argv, message):
    (tmp_path / "taken.txt").write_text("mine\n")
    before = whole_tree(tmp_path)
    result = run_script("prepare_data.py", "data=verdict", *argv, cwd=tmp_path)
    assert one_line_error(result) == message
    assert whole_tree(tmp_path) == before  # no out_dir, no token cache entry


def test_prepare_data_failing_mid_export_leaves_no_shard(tmp_path, monkeypatch):
    """A full disk half-way: the finished shards, the one being written and out_dir all go."""
    from gpt_experiments.data import export

    tokens = {"train": np.arange(5000, dtype="<u2"), "val": np.arange(500, dtype="<u2")}
    writes = []

    def write_then_fail(self, block):
        writes.append(len(block))
        if len(writes) == 2:
            raise OSError(28, "No space left on device", str(self.folder))
        original(self, block)

    original = export.ShardWriter.write
    monkeypatch.setattr(export.ShardWriter, "write", write_then_fail)
    monkeypatch.setattr(export, "COPY_TOKENS", 1000)
    with pytest.raises(OSError, match="No space left"):
        export.export_tokens(tokens, tmp_path / "out", "llmc", shard_tokens=600)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_convert_checkpoint_replaces_an_existing_file_only_with_overwrite(tmp_path):
    (tmp_path / "notes.txt").write_text("my notes\n")
    before = whole_tree(tmp_path)
    argv = ["convert_checkpoint.py", str(TINY_CHECKPOINT), "notes.txt", "--to", "project"]
    assert one_line_error(run_script(*argv, cwd=tmp_path)) == (
        "notes.txt already exists: pass --overwrite to replace it, or choose another destination"
    )
    assert whole_tree(tmp_path) == before
    assert run_script(*argv, "--overwrite", cwd=tmp_path).returncode == 0
    assert torch.load(tmp_path / "notes.txt", weights_only=True)["hyper_parameters"]["model"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["convert_checkpoint.py", str(TINY_CHECKPOINT), "hf.txt", "--to", "huggingface"],
            "hf.txt is a file, not a folder: choose a folder to write into",
        ),
        (
            ["consolidate_checkpoint.py", "sharded", "notes.txt"],
            "notes.txt already exists: pass --overwrite to replace it, or choose another destination",
        ),
    ],
    ids=["huggingface export onto a file", "consolidate onto a file"],
)
def test_every_command_writing_a_named_path_refuses_to_replace_a_file(tmp_path, argv, message):
    (tmp_path / "hf.txt").write_text("mine\n")
    (tmp_path / "notes.txt").write_text("mine\n")
    before = whole_tree(tmp_path)
    assert one_line_error(run_script(*argv, cwd=tmp_path)) == message
    assert whole_tree(tmp_path) == before


# --- Wrong or missing words ----------------------------------------------------------------


class RunsCode:
    def __reduce__(self):
        return (os.system, ("true",))


def test_refused_pickle_message_is_a_whole_sentence(tmp_path):
    from gpt_experiments.checkpoints.project import safe_torch_load

    torch.save({"state_dict": {}, "planted": RunsCode()}, tmp_path / "planted.ckpt")
    with pytest.raises(UnsafeCheckpointError) as info:
        safe_torch_load(tmp_path / "planted.ckpt")
    assert f"({'Trying to load unsupported GLOBAL posix.system whose module posix is blocked.'})" in str(
        info.value
    )


def test_fifo_as_data_is_named_a_fifo(workspace, monkeypatch):  # noqa: F811
    os.mkfifo(workspace / "pipe.txt")
    message = refused_in_process(workspace, monkeypatch, ["data=text", "data.path=pipe.txt"])
    assert message == (
        "data.path pipe.txt is a FIFO (named pipe), not a file to read: point data.path at a text file, "
        "directory or glob"
    )


def test_negative_tokenize_workers(workspace, monkeypatch):  # noqa: F811
    assert refused_in_process(workspace, monkeypatch, ["data.tokenize_workers=-2"]) == (
        "data.tokenize_workers=-2 is invalid: it must be positive, or null for one per CPU core"
    )


def test_char_tokenizer_with_a_small_vocab_blames_the_vocab(workspace, monkeypatch):  # noqa: F811
    message = refused_in_process(
        workspace, monkeypatch, ["tokenizer=char", "model.vocab_size=10"], whole=False
    )
    assert message.startswith("model.vocab_size=10 is smaller than the char tokenizer")


def test_empty_llmc_val_shard_names_the_val_files(workspace, monkeypatch):  # noqa: F811
    llmc_folder(workspace / "tokens", np.arange(2000), np.arange(0))
    message = refused_in_process(workspace, monkeypatch, ["data=llmc", "data.path=tokens"])
    assert message == (
        "the val split has 0 tokens, too few for one window of max_length 32 (+1 target): give val token "
        "files (data.val_files=*val*.bin) holding more tokens, or a shorter model.context_length"
    )


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_evaluate_says_its_method_and_reproduces_the_training_val_loss(tmp_path, precision):
    if precision == "bf16-mixed" and not has_native_bf16(torch.device("cpu")):
        pytest.skip("bf16-mixed needs bf16 units on this CPU")
    train = run_script(
        "train.py",
        "model=tiny",
        "model.context_length=32",
        "trainer.max_epochs=null",
        "trainer.max_steps=4",
        "trainer.val_check_interval=4",
        "trainer.limit_val_batches=3",
        f"trainer.precision={precision}",
        "trainer.enable_progress_bar=false",
        "hydra.run.dir=run",
        cwd=tmp_path,
    )
    assert train.returncode == 0, train.stderr[-3000:]
    logged = float((tmp_path / "run" / "history.csv").read_text().splitlines()[-1].split(",")[4])
    exact = run_script("evaluate.py", "ckpt=run", "windows=training", cwd=tmp_path)
    assert exact.returncode == 0, exact.stderr[-3000:]
    report = json.loads(exact.stdout)
    # The same windows, batches, limit_val_batches and autocast: equal to float32 rounding.
    assert report["cross_entropy"] == pytest.approx(logged, rel=1e-6)
    assert ("bfloat16 autocast" in report["method"]) == (precision == "bf16-mixed")
    assert (report["windows"], report["tokens_scored"]) == (6, 6 * 32)  # 3 batches of 2 windows
    assert report["method"].endswith("its val/loss")
    sliding = json.loads(run_script("evaluate.py", "ckpt=run", "data=verdict", cwd=tmp_path).stdout)
    assert "windows=training reproduces it" in sliding["method"]
    assert sliding["cross_entropy"] != pytest.approx(logged, rel=1e-6)
    # A damaged saved config: one line naming it, the run folder left as it was.
    config = tmp_path / "run" / ".hydra" / "config.yaml"
    config.write_text("data: [unclosed\n")
    damaged = run_script("evaluate.py", "ckpt=run", "windows=training", cwd=tmp_path)
    assert damaged.returncode == 1 and "Traceback" not in damaged.stderr
    [line] = [x for x in damaged.stderr.splitlines() if x.startswith("error:")]
    assert line.startswith("error: run/.hydra/config.yaml is unreadable (line ")
    assert line.endswith("): repair it, or score the text with data=<data option> instead")
    assert config.read_text() == "data: [unclosed\n"


def test_prepare_data_into_a_folder_holding_other_files_moves_its_token_files_in(tmp_path):
    """An existing out_dir (perhaps a mount point) gets the files built inside it, then moved out."""
    from gpt_experiments.data import export

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "README").write_text("my notes\n")
    tokens = {"train": np.arange(5000, dtype="<u2"), "val": np.arange(500, dtype="<u2")}
    export.export_tokens(tokens, tmp_path / "out", "llmc", shard_tokens=3000)
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["README", "train_000000.bin", "train_000001.bin", "val_000000.bin"]
