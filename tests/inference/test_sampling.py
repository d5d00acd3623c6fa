"""Shuffling: a fresh order every epoch, and no Python object per window."""

import itertools

import psutil

from gpt_experiments.data.samplers import ResumableRandomSampler


def test_each_epoch_is_a_new_permutation_of_every_window():
    sampler = ResumableRandomSampler(103, seed=5)
    first = list(sampler)
    assert sorted(first) == list(range(103)) and first != sorted(first)
    sampler.set_epoch(1)
    assert list(sampler) != first


def test_shuffling_ten_million_windows_holds_no_per_window_objects():
    process = psutil.Process()
    before = process.memory_info().rss
    first = list(itertools.islice(ResumableRandomSampler(10_000_000, seed=1), 1000))
    grown_mb = (process.memory_info().rss - before) / 2**20
    assert len(set(first)) == 1000
    # An int32 permutation is 40 MB (numpy draws it as int64 first: 80 MB at the peak);
    # a list of Python ints would be ~400 MB.
    assert grown_mb < 150
