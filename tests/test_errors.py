"""errors.py: the words of one-line errors taken from libraries and from the file system."""

from __future__ import annotations

import os

from gpt_experiments.errors import missing_reason, refusal_reason


def test_refusal_reason_is_the_first_whole_sentence_about_the_file():
    torch_like = (
        "Weights only load failed. In PyTorch 2.6, we changed the default value of the `weights_only` "
        "argument in `torch.load` from `False` to `True`. Re-running it will likely succeed.\n\n\n"
        "Trying to load unsupported GLOBAL posix.system whose module posix is blocked.\n\n"
        "Check the documentation of torch.load to learn more."
    )
    assert refusal_reason(ValueError(torch_like)) == (
        "Trying to load unsupported GLOBAL posix.system whose module posix is blocked."
    )
    # Colour codes go; a reason of one sentence is kept whole however long it is.
    long = "\x1b[1m" + "word " * 60 + "end\x1b[0m"
    assert refusal_reason(ValueError(long)) == ("word " * 60 + "end")
    assert refusal_reason(ValueError("")) == "ValueError"


def test_missing_reason_names_what_the_path_is(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "folder").mkdir()
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    assert missing_reason(tmp_path / "pipe") == "is a FIFO (named pipe), not a file to read"
    assert missing_reason(tmp_path / "folder") == "is a folder"
    assert (
        missing_reason(tmp_path / "dangling")
        == f"is a symbolic link to {tmp_path / 'gone'}, which does not exist"
    )
    assert missing_reason(tmp_path / "nothing") == "does not exist"
