"""``typed_override``: the one rule by which the project spells ``key=value`` for a user to paste
into a shell (resume hints, the summary's commands, the fix for an unparsable override)."""

import shlex

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from gpt_experiments.config import typed_override

VALUES = [
    "outputs/runs/2026-12-06/15-02-11_482913_model-tiny+lr-0.003",  # plain
    "outputs/runs/15-02-11_model=tiny,lr=0.003",  # Hydra's own signs
    "café.txt",  # not ASCII: Hydra's grammar refuses it unquoted
    "my runs/with space",
    "it's here",
    '$HOME/`whoami`/"x"!',  # the shell would expand these inside double quotes
    "back\\slash",
    "ends in a backslash\\",
    "a'b\\'c",
]


@pytest.mark.parametrize("value", VALUES)
def test_the_shell_word_reads_back_as_the_value(value):
    """The shell splits it into one word, and Hydra reads that word's value back unchanged."""
    [word] = shlex.split(typed_override("ckpt", value))
    parsed = OverridesParser.create().parse_override(word)
    assert (parsed.key_or_group, parsed.value()) == ("ckpt", value)


def test_a_plain_value_is_left_as_it_is():
    assert typed_override("resume", "outputs/runs/a_b-c+d") == "resume=outputs/runs/a_b-c+d"
    assert typed_override("data.path", "café.txt") == "\"data.path='café.txt'\""
