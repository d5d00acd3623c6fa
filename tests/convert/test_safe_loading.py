"""Loading never runs code hidden in a pickle: such files are refused with a clear error."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from gpt_experiments.checkpoints.project import load_model, safe_torch_load
from gpt_experiments.convert.formats import read_pretrained
from gpt_experiments.errors import CheckpointError


class Exploit:
    """Unpickling this would create ``marker``: the proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_exploit_runs_code_when_unpickled_unsafely(tmp_path):
    """Guards the tests below: the payload really is dangerous."""
    marker = tmp_path / "pwned"
    pickle.loads(pickle.dumps(Exploit(str(marker))))
    assert marker.exists()


@pytest.mark.parametrize("zip_format", [True, False], ids=["torch.save", "raw-pickle"])
@pytest.mark.parametrize("name", ["model.pth", "last.ckpt"])
def test_malicious_project_checkpoint_is_refused(tmp_path, name, zip_format):
    marker = tmp_path / "pwned"
    payload = {"state_dict": Exploit(str(marker)), "hyper_parameters": {}}
    path = tmp_path / name
    if zip_format:
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(
        CheckpointError, match="was refused: it contains pickled objects that could run code"
    ) as err:
        load_model(path)
    assert not marker.exists()
    assert "\x1b" not in str(err.value)  # torch's colour codes would leave the terminal bold


def test_malicious_pytorch_model_bin_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    (tmp_path / "config.json").write_text(
        '{"vocab_size": 9, "n_positions": 4, "n_embd": 4, "n_head": 1, "n_layer": 1}'
    )
    torch.save({"transformer.wte.weight": Exploit(str(marker))}, tmp_path / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match="pytorch_model.bin was refused") as err:
        read_pretrained(tmp_path)
    assert not marker.exists()
    assert "\n" not in str(err.value)


def test_checkpoint_with_unknown_model_settings_names_them(tmp_path):
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"model": {"emb_dim": 8, "init": "pytorch"}}}, path)
    with pytest.raises(CheckpointError, match=r"has model settings this version does not know: \['init'\]"):
        load_model(path)
    torch.save({"state_dict": {}}, path)
    with pytest.raises(CheckpointError, match="not a gpt-experiments checkpoint .no 'hyper_parameters'"):
        load_model(path)
    for settings in (None, "gpt2"):
        torch.save({"state_dict": {}, "hyper_parameters": {"model": settings}}, path)
        with pytest.raises(
            CheckpointError, match="not a gpt-experiments checkpoint .no 'hyper_parameters.model'"
        ):
            load_model(path)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads Linux's /proc")
def test_mapped_load_leaves_optimizer_state_on_disk(tmp_path):
    def resident_mb() -> float:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6

    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": {}, "optimizer_states": [torch.ones(16 * 1024 * 1024)]}, path)  # 64 MB
    before = resident_mb()
    mapped = safe_torch_load(path, mmap=True)
    assert resident_mb() - before < 16
    # The control: reading the mapped tensor brings its 64 MB in, so the measurement sees it
    # (a plain load's growth depends on what malloc kept from earlier tests in this process).
    before = resident_mb()
    assert float(mapped["optimizer_states"][0].sum()) == 16 * 1024 * 1024
    assert resident_mb() - before > 60
    read = safe_torch_load(path)
    assert torch.equal(mapped["optimizer_states"][0], read["optimizer_states"][0])


def test_text_file_named_ckpt_is_not_called_a_pickle(tmp_path):
    (tmp_path / "notes.ckpt").write_text("not a checkpoint\n")
    with pytest.raises(CheckpointError) as err:
        load_model(tmp_path / "notes.ckpt")
    assert str(err.value) == (
        f"{tmp_path / 'notes.ckpt'} is not a checkpoint file (neither a zip archive nor a pickle): "
        "pass a .ckpt written by scripts/train.py or a converted .pt"
    )


def test_symlink_loop_and_dangling_link_are_named_as_such(tmp_path):
    (tmp_path / "a.ckpt").symlink_to(tmp_path / "b.ckpt")
    (tmp_path / "b.ckpt").symlink_to(tmp_path / "a.ckpt")
    (tmp_path / "dangling.ckpt").symlink_to(tmp_path / "gone.ckpt")
    with pytest.raises(CheckpointError, match=r"a.ckpt is a symbolic link loop: pass"):
        read_pretrained(tmp_path / "a.ckpt")
    with pytest.raises(
        CheckpointError, match=r"dangling.ckpt is a symbolic link to .*gone.ckpt, which does not"
    ):
        load_model(tmp_path / "dangling.ckpt")
