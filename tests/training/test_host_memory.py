"""CPU training reuses its freed large buffers instead of faulting their pages in each step."""

import os
import subprocess
import sys

import pytest

from gpt_experiments.training import lit_module
from gpt_experiments.training.host_memory import is_glibc
from tests.helpers import ROOT, quiet_trainer
from tests.training.test_speed_options import TINY, loader

# Allocates, fills and frees a 64 MB block (above glibc's largest mmap threshold, 32 MB)
# twice, and prints the page faults of the second fill, before and after the setting.
FAULTS_OF_A_REALLOCATED_BLOCK = """
import ctypes, resource
from gpt_experiments.training.host_memory import reuse_freed_host_memory

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
SIZE = 64 << 20

def fill_and_free():
    block = libc.malloc(SIZE)
    ctypes.memset(block, 1, SIZE)
    libc.free(block)

def faults_of_second_fill():
    fill_and_free()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    fill_and_free()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

default = faults_of_second_fill()
applied = reuse_freed_host_memory()
print(default, applied, faults_of_second_fill())
"""


@pytest.mark.skipif(not is_glibc(), reason="the setting is glibc's malloc")
def test_a_freed_large_block_is_reused_without_page_faults():
    # glibc's defaults, whatever the caller's environment tunes.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    result = subprocess.run(
        [sys.executable, "-c", FAULTS_OF_A_REALLOCATED_BLOCK],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    default, applied, reused = result.stdout.split()
    pages = (64 << 20) // 4096
    assert int(default) >= 0.9 * pages  # glibc maps it afresh: one fault per 4 KB page
    assert applied == "True"
    assert int(reused) < 0.05 * pages


def test_training_on_the_cpu_applies_it(monkeypatch):
    calls = []
    monkeypatch.setattr(lit_module, "reuse_freed_host_memory", lambda: calls.append("applied"))
    module = lit_module.GPTLitModule(model=TINY, optimizer={"_target_": "torch.optim.AdamW"})
    quiet_trainer(max_steps=1, accelerator="cpu", limit_val_batches=0).fit(module, loader())
    assert calls == ["applied"]
