"""train.log: what the console finally shows, without progress-bar redraws or colours, while the
console still gets every byte."""

from __future__ import annotations

import logging
import sys

from gpt_experiments.training.console_log import ScreenLines, console_saved_to


def screen_text(*writes: str) -> str:
    written: list[str] = []
    screen = ScreenLines(written.append)
    for text in writes:
        screen.feed(text)
    screen.close()
    return "".join(written)


def test_carriage_return_redraws_keep_the_last_drawing():
    # tqdm: each update returns to the line's start and draws it again, a newline at the end.
    bar = ["\rtokenizing:   0%|  | 0/10", "\rtokenizing:  50%|# | 5/10", "\rtokenizing: 100%|##| 10/10", "\n"]
    assert screen_text("start\n", *bar, "done\n") == "start\ntokenizing: 100%|##| 10/10\ndone\n"


def test_cursor_up_redraws_of_a_multi_line_display_keep_its_last_frame():
    # rich: a two-line display, redrawn by moving up over it and erasing each line.
    frame = "Epoch 1 {}\ntrain/loss {}"
    redraw = "\r\x1b[2K\x1b[1A\x1b[2K"
    printed = redraw + "[epoch 1] a sample\n"  # a print while the display is live: above it
    writes = [frame.format(1, 9.1), redraw + frame.format(2, 8.7), printed + frame.format(3, 8.2), "\n"]
    assert screen_text("Model: 1.2 M\n", *writes) == (
        "Model: 1.2 M\n[epoch 1] a sample\nEpoch 1 3\ntrain/loss 8.2\n"
    )


def test_colours_and_other_escape_codes_are_left_out():
    assert screen_text("\x1b[1;34mwandb\x1b[0m: offline\x1b[?25l\n") == "wandb: offline\n"


def test_crlf_ends_a_line_and_an_unfinished_line_is_kept():
    assert screen_text("one\r\ntwo") == "one\ntwo\n"


def test_lines_far_above_the_cursor_are_written_as_they_come():
    written: list[str] = []
    screen = ScreenLines(written.append)
    screen.feed("".join(f"line {n}\n" for n in range(200)))
    assert "".join(written).startswith("line 0\nline 1\n")  # before close: a crash keeps them


def test_the_console_gets_everything_and_the_log_the_lines(tmp_path, capsys):
    log = tmp_path / "train.log"
    handler = logging.StreamHandler(sys.stderr)
    logger = logging.getLogger("tests.console_log")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with console_saved_to(log):
            print("Run folder: outputs/runs/x")
            print("\rstep 1\rstep 2", file=sys.stderr)
            logger.warning("GPU available: False")
        print("after the run")  # not in the log
    finally:
        logger.removeHandler(handler)
    out, err = capsys.readouterr()
    assert out == "Run folder: outputs/runs/x\nafter the run\n"
    assert err == "\rstep 1\rstep 2\nGPU available: False\n"
    assert handler.stream is sys.stderr  # given back
    assert log.read_text() == "Run folder: outputs/runs/x\nstep 2\nGPU available: False\n"


def test_a_resumed_run_appends_to_its_log(tmp_path):
    log = tmp_path / "train.log"
    for leg in ("first", "resumed"):
        with console_saved_to(log):
            print(f"{leg} leg")
    assert log.read_text() == "first leg\nresumed leg\n"


class FullDisk:
    """A log file on a full disk: every write fails."""

    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        raise OSError(28, "No space left on device")


def test_a_full_disk_stops_the_log_but_not_the_console(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("builtins.open", lambda *args, **kwargs: FullDisk())
    with console_saved_to(tmp_path / "train.log"):
        print("still shown")
    assert capsys.readouterr().out == "still shown\n"
