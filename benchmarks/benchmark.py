"""Benchmark training speed and memory; prints JSON.

    python scripts/benchmark.py                      # every section, GPT-2 small, ctx 256, batch 2
    python scripts/benchmark.py --sections train --steps 5 --rounds 3
    python scripts/benchmark.py --model tiny --context-length 32

Sections:
  profile   one training step under torch.profiler at each precision: seconds per part
            (matrix products, attention, output head + cross-entropy, LayerNorm, GELU,
            dropout, optimizer...) and achieved FLOP/s against a large matmul's, same process.
  train     tokens/s (steady state: warmup steps excluded) and peak RSS of the project under
            Lightning, the same model in a plain PyTorch loop (the framework's overhead), and the
            seed chapter's model and loop, at each precision. Each run is a fresh process;
            runs alternate, in reverse order every other round, so load changes even out.
  generate  greedy generation tokens/s: KV-cache generate against the seed's uncached loop.
  tokenize  preparing tiny Shakespeare repeated to --corpus-mb into an empty cache, side by side with
            tiktoken's encode_ordinary_batch of the same chunks on as many threads as workers; a cache
            hit side by side with one plain read (and one hashing read) of the file.
  prepare   prepare_data.py on tiny Shakespeare repeated to each of --prepare-mb (e.g. 100,1024):
            tokens/s, and peak RSS growth of the main process (flat: it must not grow with the corpus).
  memory    peak RSS while training a small model on a ~10M-token corpus with stride 1
            (10M windows) against stride = context (no overlap).
  parts     tokens/s and peak RSS of every `ablation` option (rope, rmsnorm, swiglu, ..., muon)
            against GPT-2's own parts, at each precision, in the plain loop; alternated rounds.
  scaling   the scaling fit's own time (scripts/scaling.py's work): 100 synthetic points,
            1,000 bootstrap draws, the parametric law; median of --rounds fits, in this process.
  compile   torch.compile against eager and the chapter's loop, steps taken in turn in one process
            per precision: step times, compile time from an empty inductor cache, whether
            compiling pays over --run-steps steps; then a second start from the filled cache.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from benchmarks.model_parts import BASELINE, ablation_options, ablation_setup
from benchmarks.scaling_fit import time_scaling_fit
from gpt_experiments.cli.arguments import CommandParser, non_negative_int, positive_float, positive_int
from gpt_experiments.tokenizer import build_tokenizer
from gpt_experiments.training.config_checks import model_settings

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("profile", "train", "generate", "tokenize", "prepare", "memory", "parts", "scaling", "compile")


def run_worker(section: str, settings: dict[str, Any], **env_vars: str) -> dict[str, Any]:
    """One measurement in a fresh Python process, so its peak memory is its own."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **env_vars,
    }
    command = [sys.executable, "-m", "benchmarks.worker", section, json.dumps(settings)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise RuntimeError(f"{section} benchmark failed:\n{done.stderr[-3000:]}")
    result = json.loads(lines[-1].removeprefix("RESULT "))
    print(f"  {section}: {result}", file=sys.stderr, flush=True)
    return result


def benchmark_model(name: str, context_length: int) -> dict[str, Any]:
    """GPTConfig fields of ``conf/model/<name>.yaml`` for the GPT-2 tokenizer, shaped like the
    seed chapter's run: shortened context, no qkv bias."""
    model = OmegaConf.to_container(OmegaConf.load(ROOT / "conf" / "model" / f"{name}.yaml"))
    model.update(context_length=context_length, qkv_bias=False)
    return model_settings(model, build_tokenizer(None))  # vocab_size: null follows the tokenizer


# What each train run reports, summarised as medians over the rounds.
TRAIN_FIGURES = ("tokens_per_sec", "peak_rss_mb", "minor_page_faults")


def train_section(args: argparse.Namespace, model: dict[str, Any], cache_dir: str) -> dict[str, Any]:
    setups = [("seed", "32-true")] + [
        (variant, precision) for precision in args.precisions for variant in ("lightning", "plain")
    ]
    base = {"model": model, "batch_size": args.batch_size, "steps": args.steps, "warmup_steps": args.warmup}
    runs: dict[str, list[dict[str, Any]]] = {f"{v}/{p}": [] for v, p in setups}
    for round_index in range(args.rounds):
        print(f"train round {round_index + 1}/{args.rounds}", file=sys.stderr, flush=True)
        # Every other round runs in reverse, so a machine getting busier (or quieter) during
        # a round favours no variant.
        for variant, precision in setups if round_index % 2 == 0 else setups[::-1]:
            settings = {**base, "variant": variant, "precision": precision, "cache_dir": cache_dir}
            runs[f"{variant}/{precision}"].append(run_worker("train", settings))
    summary = {
        name: {key: statistics.median(r[key] for r in results) for key in TRAIN_FIGURES}
        for name, results in runs.items()
    }
    seed = summary["seed/32-true"]
    comparisons = {}
    for precision in args.precisions:
        project, plain = summary[f"lightning/{precision}"], summary[f"plain/{precision}"]
        comparisons[precision] = {
            "speedup_over_seed": project["tokens_per_sec"] / seed["tokens_per_sec"],
            "rss_fraction_of_seed": project["peak_rss_mb"] / seed["peak_rss_mb"],
            "lightning_overhead_vs_plain_loop": 1 - project["tokens_per_sec"] / plain["tokens_per_sec"],
        }
    return {"summary": summary, "comparisons": comparisons, "runs": runs}


def parts_section(args: argparse.Namespace, model: dict[str, Any], cache_dir: str) -> dict[str, Any]:
    """Each ablation option's training speed and memory, relative to GPT-2's parts, same runs."""
    options = {name: ablation_setup(name, model) for name in ablation_options()}
    base = {"batch_size": args.batch_size, "steps": args.steps, "warmup_steps": args.warmup}
    runs: dict[str, list[dict[str, Any]]] = {
        f"{name}/{precision}": [] for name in options for precision in args.precisions
    }
    for round_index in range(args.rounds):
        print(f"parts round {round_index + 1}/{args.rounds}", file=sys.stderr, flush=True)
        order = list(runs) if round_index % 2 == 0 else list(runs)[::-1]
        for key in order:
            name, precision = key.split("/")
            parts_model, optimizer = options[name]
            settings = {**base, "variant": "plain", "precision": precision, "cache_dir": cache_dir}
            runs[key].append(run_worker("train", {**settings, "model": parts_model, "optimizer": optimizer}))
    summary = {
        key: {figure: statistics.median(r[figure] for r in results) for figure in TRAIN_FIGURES[:2]}
        for key, results in runs.items()
    }
    for key, figures in summary.items():
        baseline = summary[f"{BASELINE}/{key.split('/')[1]}"]
        figures["speed_vs_gpt2"] = figures["tokens_per_sec"] / baseline["tokens_per_sec"]
        figures["rss_vs_gpt2"] = figures["peak_rss_mb"] / baseline["peak_rss_mb"]
    return {"summary": summary, "parts": {name: setup[0] for name, setup in options.items()}, "runs": runs}


def compile_section(args: argparse.Namespace, model: dict[str, Any], work_dir: str) -> dict[str, Any]:
    """Per precision: eager, compiled and the chapter's loop in one process from an empty inductor
    cache, then a fresh process's compile time from the cache that run filled."""
    report = {}
    for precision in args.precisions:
        inductor_cache = str(Path(work_dir) / f"inductor-{precision}")
        settings = {
            "model": model,
            "precision": precision,
            "batch_size": args.batch_size,
            "steps": args.warmup + args.steps,
            "run_steps": args.run_steps,
            "cache_dir": str(Path(work_dir) / "tokens"),
        }
        measured = run_worker("compile", settings, TORCHINDUCTOR_CACHE_DIR=inductor_cache)
        warm = run_worker(
            "compile", {**settings, "compile_only": True}, TORCHINDUCTOR_CACHE_DIR=inductor_cache
        )
        report[precision] = {**measured, "compile_s_from_inductor_cache": warm["compile_s_from_cache"]}
    return report


def parse_args() -> argparse.Namespace:
    parser = CommandParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help="comma-separated: " + ", ".join(SECTIONS)
    )
    parser.add_argument("--model", default="gpt2_small", help="a conf/model/*.yaml name")
    parser.add_argument("--context-length", type=positive_int, default=256)
    parser.add_argument("--batch-size", type=positive_int, default=2)
    parser.add_argument("--precisions", default="32-true,bf16-mixed", type=lambda s: s.split(","))
    parser.add_argument("--warmup", type=non_negative_int, default=2, help="untimed steps per run")
    parser.add_argument("--steps", type=positive_int, default=3, help="timed steps per run")
    parser.add_argument(
        "--rounds",
        type=positive_int,
        default=2,
        help="alternating repetitions of every train run (and of the tokenize section's)",
    )
    parser.add_argument(
        "--run-steps",
        type=positive_int,
        default=90,
        help="compile section: the run length it judges (make train's)",
    )
    parser.add_argument(
        "--new-tokens", type=positive_int, default=64, help="tokens generated per generation run"
    )
    parser.add_argument(
        "--corpus-mb", type=positive_float, default=100.0, help="tokenize section's corpus size"
    )
    parser.add_argument(
        "--prepare-mb", default="100,1024", help="prepare section's corpus sizes, comma-separated"
    )
    parser.add_argument(
        "--shard-tokens", type=positive_int, default=100_000_000, help="prepare section's shard size"
    )
    parser.add_argument(
        "--memory-tokens", type=positive_int, default=10_000_000, help="memory section's corpus size"
    )
    parser.add_argument("--cache-dir", default=None, help="token cache (default: a temporary folder)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    sections = args.sections.split(",")
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        sys.exit(f"error: unknown section(s) {sorted(unknown)}: choose from {', '.join(SECTIONS)}")
    model = benchmark_model(args.model, args.context_length)
    report: dict[str, Any] = {"model": args.model, "model_config": model, "batch_size": args.batch_size}
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = args.cache_dir or str(Path(tmp) / "tokens")
        if "profile" in sections:
            report["profile"] = {
                precision: run_worker(
                    "profile",
                    {
                        "model": model,
                        "precision": precision,
                        "batch_size": args.batch_size,
                        "cache_dir": cache_dir,
                    },
                )
                for precision in args.precisions
            }
        if "train" in sections:
            report["train"] = train_section(args, model, cache_dir)
        if "parts" in sections:
            report["parts"] = parts_section(args, model, cache_dir)
        if "compile" in sections:
            report["compile"] = compile_section(args, model, tmp)
        if "generate" in sections:
            # The project's KV-cache generate against the seed's uncached loop, side by side.
            report["generate"] = run_worker("generate", {"model": model, "new_tokens": args.new_tokens})
        if "tokenize" in sections:
            report["tokenize"] = run_worker(
                "tokenize", {"corpus_mb": args.corpus_mb, "work_dir": tmp, "rounds": args.rounds}
            )
        if "prepare" in sections:
            report["prepare"] = [
                run_worker(
                    "prepare", {"corpus_mb": float(mb), "work_dir": tmp, "shard_tokens": args.shard_tokens}
                )
                for mb in args.prepare_mb.split(",")
            ]
        if "memory" in sections:
            memory = {"num_tokens": args.memory_tokens, "work_dir": tmp}
            run_worker("memory", {**memory, "stride": None, "prepare": True})  # tokenize first, unmeasured
            report["memory"] = {
                name: run_worker("memory", {**memory, "stride": stride})
                for name, stride in (("stride_1", 1), ("stride_context", None))
            }
        if "scaling" in sections:
            report["scaling"] = time_scaling_fit(rounds=args.rounds)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
