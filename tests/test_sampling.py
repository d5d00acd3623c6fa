"""Shuffling: one order shared by the ranks, and no Python object per window."""

import itertools

import psutil

from gpt_experiments.sampling import ShuffledWindowSampler


class ManyWindows:
    """Stands in for a 10M-window dataset (stride 1 over 10M tokens)."""

    def __len__(self) -> int:
        return 10_000_000


def test_sampler_shares_one_shuffled_order_between_ranks():
    windows = list(range(103))
    ranks = [list(ShuffledWindowSampler(windows, num_replicas=2, rank=r, seed=5)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 51
    assert not set(ranks[0]) & set(ranks[1])
    assert ranks[0] != sorted(ranks[0])
    sampler = ShuffledWindowSampler(windows, seed=5)
    first = list(sampler)
    sampler.set_epoch(1)
    assert sorted(first) == windows and list(sampler) != first


def test_shuffling_ten_million_windows_holds_no_per_window_objects():
    process = psutil.Process()
    before = process.memory_info().rss
    first = list(itertools.islice(ShuffledWindowSampler(ManyWindows(), seed=1), 1000))
    grown_mb = (process.memory_info().rss - before) / 2**20
    assert len(set(first)) == 1000
    # An int32 permutation is 40 MB; randperm(n).tolist() would be ~400 MB of Python ints.
    assert grown_mb < 120
