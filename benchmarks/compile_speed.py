"""torch.compile against eager, side by side in one process: the project's training step at one
precision, compiled and not, and the chapter's loop (fp32) as the baseline.

The three loops train their own copies of one initialisation on the same batches and take
their steps in turn (A B C A B C ...), so a machine that gets busier or quieter during the
measurement slows all of them alike. The compiled loop's first step includes compiling;
``compile_s`` is that step less a compiled step. ``quick_start`` asks whether compiling pays
over a run of ``run_steps`` steps (``make train``'s length) with the compile time included.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from itertools import cycle, islice
from typing import Any

import torch

from benchmarks.chapter_baseline import chapter_model_with_weights_of, train_steps
from benchmarks.measure import peak_rss_mb, timed_step
from benchmarks.plain_loop import plain_training_steps
from benchmarks.training_speed import TrainSetup, optimizer_spec, project_data
from gpt_experiments.model import GPT, GPTConfig
from gpt_experiments.training.optimizers import build_optimizer


def project_steps(model: GPT, batches: list, precision: str) -> Iterator[torch.Tensor]:
    optimizer = build_optimizer(model, optimizer_spec(TrainSetup(variant="plain", model={})))
    return plain_training_steps(model, cycle(batches), optimizer, precision=precision)


def chapter_steps(model: GPT, batches: list) -> Iterator[torch.Tensor]:
    chapter = chapter_model_with_weights_of(model)
    optimizer = torch.optim.AdamW(chapter.parameters(), lr=4e-4, weight_decay=0.1)
    return train_steps(chapter, cycle(batches), optimizer)


def quick_start(eager_s: float, compiled_s: float, compile_s: float, run_steps: int) -> dict[str, Any]:
    """Whole-run seconds of ``run_steps`` steps eager and compiled (compiling included)."""
    eager_run, compiled_run = run_steps * eager_s, compile_s + run_steps * compiled_s
    saved_per_step = eager_s - compiled_s
    return {
        "steps": run_steps,
        "eager_s": eager_run,
        "compiled_s": compiled_run,
        "compile_pays": compiled_run < eager_run,
        # Steps after which compiling has paid for itself; None when a compiled step is no faster.
        "break_even_steps": compile_s / saved_per_step if saved_per_step > 0 else None,
    }


def measure_compile_speed(
    model: dict[str, Any],
    precision: str,
    batch_size: int = 2,
    steps: int = 6,
    run_steps: int = 90,
    cache_dir: str | None = None,
    compile_only: bool = False,
    seed: int = 123,
) -> dict[str, Any]:
    """Eager, compiled and chapter step times at ``precision`` (see the module docstring).

    ``compile_only`` times the compiled loop alone: run after a full measurement with the same
    ``TORCHINDUCTOR_CACHE_DIR``, its first step less its own later steps is a second run's
    compile time from inductor's cache (both measured in that process, under the same load).
    """
    setup = TrainSetup(variant="plain", model=model, batch_size=batch_size, cache_dir=cache_dir)
    batches = list(islice(project_data(setup).train_dataloader(), steps))
    torch.manual_seed(seed)
    eager_model = GPT(GPTConfig(**model))
    compiled_model = GPT(GPTConfig(**model))
    compiled_model.load_state_dict(eager_model.state_dict())
    compiled_model.compile()
    compiled = project_steps(compiled_model, batches, precision)
    first_compiled_s, first_compiled_loss = timed_step(compiled)
    if compile_only:
        later = statistics.median(timed_step(compiled)[0] for _ in range(steps - 1))
        return {"precision": precision, "compile_s_from_cache": first_compiled_s - later}
    loops = {
        "eager": project_steps(eager_model, batches, precision),
        "compiled": compiled,
        "chapter_fp32": chapter_steps(eager_model, batches),
    }
    _, first_eager_loss = timed_step(loops["eager"])  # its warmup step, as the compiled loop had
    next(loops["chapter_fp32"])
    times: dict[str, list[float]] = {name: [] for name in loops}
    losses: dict[str, list[float]] = {"eager": [first_eager_loss], "compiled": [first_compiled_loss]}
    for _ in range(steps - 1):
        for name, loop in loops.items():
            seconds, loss = timed_step(loop)
            times[name].append(seconds)
            losses.setdefault(name, []).append(loss)
    step_s = {name: statistics.median(values) for name, values in times.items()}
    tokens = batch_size * model["context_length"]
    compile_s = first_compiled_s - step_s["compiled"]
    return {
        "precision": precision,
        "step_s": step_s,
        "tokens_per_sec": {name: tokens / seconds for name, seconds in step_s.items()},
        "compiled_speedup": step_s["eager"] / step_s["compiled"],
        "speedup_over_chapter": {
            name: step_s["chapter_fp32"] / step_s[name] for name in ("eager", "compiled")
        },
        "compile_s": compile_s,
        "quick_start": quick_start(step_s["eager"], step_s["compiled"], compile_s, run_steps),
        "max_loss_difference": max(
            abs(a - b) for a, b in zip(losses["eager"], losses["compiled"], strict=True)
        ),
        "peak_rss_mb_all_three": peak_rss_mb(),
        "step_times": times,
    }
