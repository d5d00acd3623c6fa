"""Property-based tests of the sliding windows (gpt_experiments/windows.py) on random streams."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from gpt_experiments.data.windows import TokenWindows, count_windows

token_streams = arrays(np.uint16, st.integers(0, 400), elements=st.integers(0, 50256))
lengths = st.integers(1, 64)
strides = st.integers(1, 80)


@settings(max_examples=200, deadline=None)
@given(tokens=token_streams, max_length=lengths, stride=strides)
def test_every_pair_is_a_slice_of_the_stream_and_its_shift(tokens, max_length, stride):
    windows = TokenWindows(tokens, max_length, stride)
    for index in range(len(windows)):
        inputs, targets = windows[index]
        start = index * stride
        assert torch.equal(inputs, torch.from_numpy(tokens[start : start + max_length].astype(np.int64)))
        assert torch.equal(
            targets, torch.from_numpy(tokens[start + 1 : start + max_length + 1].astype(np.int64))
        )


@settings(max_examples=300, deadline=None)
@given(num_tokens=st.integers(0, 5000), max_length=lengths, stride=strides)
def test_window_count_matches_the_seeds_range(num_tokens, max_length, stride):
    expected = len(range(0, num_tokens - max_length, stride))
    assert count_windows(num_tokens, max_length, stride) == expected
    assert len(TokenWindows(np.zeros(num_tokens, dtype=np.uint16), max_length, stride)) == expected


@settings(max_examples=200, deadline=None)
@given(num_tokens=st.integers(0, 2000), max_length=lengths)
def test_with_stride_equal_to_context_no_token_is_scored_twice(num_tokens, max_length):
    positions = np.arange(num_tokens, dtype=np.uint16)  # each value names its position
    windows = TokenWindows(positions, max_length, stride=max_length)
    scored = [windows[i][1] for i in range(len(windows))]
    scored = torch.cat(scored) if scored else torch.empty(0, dtype=torch.int64)
    assert len(scored.unique()) == len(scored)  # no validation token counted twice
    assert torch.equal(scored, torch.arange(1, len(scored) + 1))  # and none skipped in between
