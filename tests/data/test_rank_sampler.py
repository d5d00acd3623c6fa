"""The sampler on several ranks: disjoint shares of one order, resumable on another rank count."""

from __future__ import annotations

from gpt_experiments.data.samplers import ResumableRandomSampler


def shares(num_windows: int, world_size: int, epoch: int = 0, windows_done: int = 0) -> list[list[int]]:
    samplers = [
        ResumableRandomSampler(num_windows, seed=3, rank=r, world_size=world_size) for r in range(world_size)
    ]
    for sampler in samplers:
        sampler.set_epoch(epoch)
        sampler.resume_at(epoch, windows_done)
    return [list(sampler) for sampler in samplers]


def test_ranks_take_turns_through_one_order_and_drop_the_uneven_tail():
    order = ResumableRandomSampler(11, seed=3).permutation(0).tolist()
    rank0, rank1 = shares(11, world_size=2)
    assert rank0 == order[0:10:2] and rank1 == order[1:10:2]  # window 11 of 11 is left out
    assert len(ResumableRandomSampler(11, seed=3, rank=1, world_size=2)) == 5


def test_a_position_in_windows_means_the_same_on_any_number_of_ranks():
    order = ResumableRandomSampler(12, seed=3).permutation(0).tolist()
    [alone] = shares(12, world_size=1, windows_done=4)
    assert alone == order[4:]
    rank0, rank1 = shares(12, world_size=2, windows_done=4)
    assert sorted(rank0 + rank1) == sorted(order[4:]) and not set(rank0) & set(rank1)
    # Same rank count: exactly the rest of what each rank would have had uninterrupted.
    full0, full1 = shares(12, world_size=2)
    assert (rank0, rank1) == (full0[2:], full1[2:])


def test_a_pass_resumed_off_the_step_grid_ends_with_a_shorter_equal_step():
    order = ResumableRandomSampler(144, seed=3).permutation(0).tolist()
    samplers = [ResumableRandomSampler(144, seed=3, rank=r, world_size=2, batch_size=2) for r in (0, 1)]
    # 50 windows done (25 steps of one device): 94 left, 23 steps of 4 and one of 2, 1 per rank.
    for sampler in samplers:
        sampler.resume_at(0, 50)
    rank0, rank1 = (list(sampler) for sampler in samplers)
    assert len(rank0) == len(rank1) == 47 and sorted(rank0 + rank1) == sorted(order[50:])
    assert samplers[0].windows_dropped(50) == 0
    # 51 done: 93 left cannot be shared by two ranks; the last one is dropped (and reported).
    assert (samplers[0].windows_left(51), samplers[0].windows_dropped(51)) == (92, 1)
    # Uninterrupted, whole steps only, as before.
    assert len(samplers[0]) == 72 and samplers[0].epoch_windows() == 144
