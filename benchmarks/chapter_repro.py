"""The seed chapter's training run, done with the benchmarks' re-implementation of its algorithm.

``python scripts/chapter_repro.py --seed 123 --lr 4e-4 --out DIR`` trains ``ChapterGPT`` on
the-verdict as the chapter does: the text split 90/10 by characters, each part tokenized on
its own, windows of 256 tokens every 256, batches of 2 (training batches shuffled, the last
incomplete one dropped), AdamW with weight decay 0.1, ``torch.manual_seed(seed)`` before the
model is built, 10 epochs. Every 5 optimizer steps it scores the model in eval mode on the
first (at most) 5 batches of a *fresh pass* over each loader: the training loader reshuffles
for it, which draws random numbers that the later dropout masks and batch orders would
otherwise have used. The project's Trainer scores 5 fixed training batches instead.

It writes ``history.csv`` in the project's format (``HISTORY_FIELDS``) and a ``.hydra``
folder like a Hydra run's, so ``scripts/compare_runs.py`` and ``scripts/repro_seeds.py``
read it like any project run. ``step`` counts optimizer steps done, as the project's does.
The chapter's own printout counts from 0 after the first step, so its "Step 85" is our
step 86: ``--first-eval-step 1`` evaluates at the chapter's own moments (1, 6, ..., 86).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path
from statistics import fmean

import torch
from omegaconf import OmegaConf
from torch.utils.data import DataLoader

from benchmarks.chapter_baseline import ChapterGPT, WindowDataset, batch_loss, train_steps
from gpt_experiments.cli.arguments import CommandParser, first_paragraph, positive_int
from gpt_experiments.cli.handler import exits_on_user_error
from gpt_experiments.config import asset_path
from gpt_experiments.errors import ConfigError
from gpt_experiments.model import GPTConfig
from gpt_experiments.run_folder.history import perplexity, write_history_csv
from gpt_experiments.tokenizer import encode

# The chapter's GPT-2 124M: context 256, no qkv bias, dropout 0.1 (its own head and init are ChapterGPT's).
CHAPTER_MODEL = GPTConfig(context_length=256, qkv_bias=False, drop_rate=0.1)


@dataclass(frozen=True)
class ChapterRunSettings:
    """Everything but the model that decides the run; the defaults are the chapter's."""

    seed: int = 123
    lr: float = 4e-4
    weight_decay: float = 0.1
    batch_size: int = 2
    train_ratio: float = 0.9
    epochs: int = 10
    eval_every: int = 5
    eval_batches: int = 5
    first_eval_step: int = 5  # the project's first validation; the chapter's own is after step 1
    max_steps: int | None = None  # stop early (tests); None: all epochs

    def overrides(self) -> list[str]:
        """How the run is labelled for compare_runs: like a Hydra run's command-line overrides."""
        return ["implementation=chapter", f"optimizer.lr={self.lr:g}", f"seed={self.seed}"]


def split_tokens(text: str, train_ratio: float) -> tuple[list[int], list[int]]:
    """Training and validation token ids: the text cut by characters, each part tokenized alone."""
    cut = int(train_ratio * len(text))
    return encode(text[:cut]), encode(text[cut:])


def mean_loss(model: torch.nn.Module, loader: DataLoader, max_batches: int) -> float:
    """The mean of the per-batch losses over the first ``max_batches`` batches of a new pass."""
    # Starting the pass is what reshuffles a shuffling loader, however few batches are taken.
    return fmean(batch_loss(model, inputs, targets).item() for inputs, targets in islice(loader, max_batches))


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, train: DataLoader, val: DataLoader, max_batches: int
) -> tuple[float, float]:
    """Train and val loss in eval mode (no dropout); training mode is restored by the next step."""
    model.eval()
    return mean_loss(model, train, max_batches), mean_loss(model, val, max_batches)


def epoch_batches(loader: DataLoader, epochs: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for _ in range(epochs):
        yield from loader


def train_chapter_run(
    settings: ChapterRunSettings, model_config: GPTConfig, train_ids: list[int], val_ids: list[int]
) -> Iterator[dict[str, float]]:
    """Train as the chapter does; yields one history row (``HISTORY_FIELDS``) per evaluation."""
    length = model_config.context_length
    train_set, val_set = WindowDataset(train_ids, length, length), WindowDataset(val_ids, length, length)
    if len(train_set) < settings.batch_size or not len(val_set):
        raise ConfigError(
            f"the text gives {len(train_set)} training and {len(val_set)} validation windows of "
            f"{length} tokens: use a longer text or a shorter context"
        )
    # Loaders shuffle with torch's global generator, as the chapter's do: seeded just below.
    train = DataLoader(train_set, batch_size=settings.batch_size, shuffle=True, drop_last=True)
    val = DataLoader(val_set, batch_size=settings.batch_size, shuffle=False, drop_last=False)
    torch.manual_seed(settings.seed)
    model = ChapterGPT(model_config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    tokens_seen = 0
    steps = train_steps(model, epoch_batches(train, settings.epochs), optimizer)
    for done, _ in enumerate(steps, start=1):
        tokens_seen += settings.batch_size * length
        since_first = done - settings.first_eval_step
        if since_first >= 0 and since_first % settings.eval_every == 0:
            train_loss, val_loss = evaluate(model, train, val, settings.eval_batches)
            yield {
                "step": done,
                "epoch": done / len(train),
                "tokens_seen": tokens_seen,
                "train_loss": train_loss,
                "val_loss": val_loss,
                "val_ppl": perplexity(val_loss),
            }
        if done == settings.max_steps:
            break


def write_run_marker(settings: ChapterRunSettings, model_config: GPTConfig, out_dir: Path) -> None:
    """A ``.hydra`` folder like a Hydra run's: what makes compare tools treat the folder as a run."""
    hydra_dir = out_dir / ".hydra"
    hydra_dir.mkdir(parents=True, exist_ok=True)
    config = {"implementation": "chapter", "run": asdict(settings), "model": asdict(model_config)}
    OmegaConf.save(OmegaConf.create(config), hydra_dir / "config.yaml")
    OmegaConf.save(OmegaConf.create(settings.overrides()), hydra_dir / "overrides.yaml")


def run_into(settings: ChapterRunSettings, model_config: GPTConfig, text: str, out_dir: Path) -> list[dict]:
    """Train, rewriting ``out_dir/history.csv`` after every evaluation (a crash keeps what was done)."""
    train_ids, val_ids = split_tokens(text, settings.train_ratio)
    write_run_marker(settings, model_config, out_dir)
    rows: list[dict[str, float]] = []
    for row in train_chapter_run(settings, model_config, train_ids, val_ids):
        rows.append(row)
        write_history_csv(rows, out_dir)
        print(f"step {row['step']:>3}  train {row['train_loss']:.3f}  val {row['val_loss']:.3f}", flush=True)
    return rows


@exits_on_user_error
def main(argv: list[str] | None = None) -> None:
    parser = CommandParser(description=first_paragraph(__doc__))
    parser.add_argument("--out", required=True, type=Path, help="run folder to write (history.csv, .hydra/)")
    parser.add_argument("--seed", type=int, default=ChapterRunSettings.seed)
    parser.add_argument("--lr", type=float, default=ChapterRunSettings.lr)
    parser.add_argument("--epochs", type=positive_int, default=ChapterRunSettings.epochs)
    parser.add_argument("--max-steps", type=positive_int, default=None, help="stop after this many steps")
    parser.add_argument(
        "--first-eval-step",
        type=positive_int,
        default=5,
        help="5: the project's schedule; 1: the chapter's own",
    )
    parser.add_argument("--text", default=asset_path("the-verdict.txt"), help="training text (the-verdict)")
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()):
        raise ConfigError(f"{args.out} is not empty: give a new folder with --out")
    text = Path(args.text).read_text(encoding="utf-8")
    settings = ChapterRunSettings(
        seed=args.seed,
        lr=args.lr,
        epochs=args.epochs,
        max_steps=args.max_steps,
        first_eval_step=args.first_eval_step,
    )
    rows = run_into(settings, CHAPTER_MODEL, text, args.out)
    if not rows:
        raise ConfigError(f"the run stopped before its first evaluation (step {settings.first_eval_step})")
    print(f"Wrote {args.out / 'history.csv'}")


if __name__ == "__main__":
    main()
