"""Soak test: a long CPU training run of configs/sprites.yaml while resident memory is sampled, to catch leaks.

    python benchmarks/soak.py [--minutes 20] [--interval 5] [--tolerance 5] [-- extra CLI overrides]
    make bench-soak ARGS="--minutes 20"

The Sprites source is the real LPC benchmark when $SPRITES_LPC (or /work/shared/lpc_assets) holds the art, else
the procedural sprites. Training runs in this process (the real `motioncontent fit` CLI, built with run=False so a
callback can mark epoch ends); a thread samples the RSS of this process and all its children (DataLoader workers)
every --interval seconds: psutil when installed, else VmRSS from /proc/<pid>/status.

The verdict compares memory at the same point of the training cycle, so that a working set that is larger in the
middle of an epoch than after it is not mistaken for growth (ReleaseFreedMemory, in every training config, hands
the freed heap back to the OS at each epoch and validation end, so the two differ by the whole working set): it
passes when (a) the memory retained at the end of every later epoch stays within --tolerance percent (default 5)
of its value at the end of the first, and (b) the peak sampled in the last quarter of the run stays within the same
tolerance of the peak in its first quarter after epoch 1; a leak raises both the floor and the peaks. It is taken on
the anonymous part of the resident memory (RssAnon: heap and tensors) where /proc tells it apart: resident memory
also counts the pages of the memory-mapped dataset cache read so far, which grow until the whole file has been
touched and are the kernel's to drop, not a leak. Both are printed, with the maximum anywhere after epoch 1, and
every sample goes to <log_dir>/soak_rss.csv. A run too short to finish two epochs, or to be sampled 8 times after
the first, has no verdict; `--limit_train_batches N` makes epochs shorter (same code paths, more of them).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

LPC_DEFAULT = Path("/work/shared/lpc_assets")
MIB = 1024 * 1024


def _children(pid: int) -> list[int]:
    """Direct children of pid, from /proc/<pid>/task/*/children (Linux >= 3.5 with CONFIG_PROC_CHILDREN)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _status_kib(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon, RssFile, RssShmem of pid in KiB (Linux /proc; empty when the process is gone)."""
    fields: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem"):
                fields[key] = int(value.split()[0])
    except OSError:  # the process ended between listing and reading
        pass
    return fields


def _tree(pid: int) -> list[int]:
    try:
        import psutil

        root = psutil.Process(pid)
        return [pid] + [child.pid for child in root.children(recursive=True)]
    except ImportError:
        pass
    pids, stack = [], [pid]
    while stack:
        current = stack.pop()
        pids.append(current)
        stack += _children(current)
    return pids


def tree_rss(pid: int | None = None) -> tuple[int, int | None]:
    """(resident bytes, anonymous resident bytes) of pid (default: this process) plus all its descendants.

    Resident memory also counts the pages of memory-mapped files that have been read (the Sprites and talking-head
    caches are memory-mapped): those grow until the whole file has been touched and the kernel can drop them at
    any time, so they are not a leak. The anonymous part (heap, tensors) is what a leak makes grow. Without
    /proc (not Linux) only psutil's total is known."""
    pid = os.getpid() if pid is None else pid
    total = anon = 0
    have_proc = Path("/proc/self/status").is_file()
    for member in _tree(pid):
        if have_proc:
            fields = _status_kib(member)
            total += fields.get("VmRSS", 0) * 1024
            anon += fields.get("RssAnon", 0) * 1024
        else:
            import psutil

            try:
                total += psutil.Process(member).memory_info().rss
            except psutil.Error:
                continue
    return total, (anon if have_proc else None)


@dataclass
class Samples:
    """(seconds since start, resident bytes, anonymous resident bytes or None, epochs finished), appended by the
    sampler thread, and the same at the end of every epoch."""

    points: list[tuple[float, int, int | None, int]] = field(default_factory=list)
    epochs_done: int = 0
    first_epoch_end: float | None = None
    epoch_end: list[tuple[int, int | None]] = field(default_factory=list)
    steps: int = 0
    train_end: float | None = None

    def after_first_epoch(self) -> list[tuple[float, int, int | None, int]]:
        """The points sampled after the first epoch ended and until training did (none if it never ended)."""
        if self.first_epoch_end is None:
            return []
        end = self.train_end if self.train_end is not None else float("inf")
        return [point for point in self.points if self.first_epoch_end < point[0] <= end]


def sampler(samples: Samples, start: float, interval: float, stop: threading.Event) -> None:
    while not stop.is_set():
        samples.points.append((time.monotonic() - start, *tree_rss(), samples.epochs_done))
        stop.wait(interval)


def make_epoch_marker(samples: Samples, start: float):  # noqa: ANN201 - a Callback subclass built lazily
    from lightning.pytorch import Callback

    class EpochMarker(Callback):
        """Records when each training epoch ends and the memory then (the first one is the baseline)."""

        def on_train_epoch_end(self, trainer, pl_module) -> None:  # noqa: ANN001
            samples.epochs_done += 1
            samples.steps = trainer.global_step
            samples.epoch_end.append(tree_rss())
            if samples.first_epoch_end is None:
                samples.first_epoch_end = time.monotonic() - start
                rss, anon = samples.epoch_end[0]
                print(f"[soak] first epoch ended at {samples.first_epoch_end:.0f} s, step {trainer.global_step}, "
                      f"RSS {rss / MIB:.0f} MiB (anonymous {anon / MIB if anon else float('nan'):.0f})", flush=True)

        def on_train_end(self, trainer, pl_module) -> None:  # noqa: ANN001
            samples.steps = trainer.global_step
            samples.train_end = time.monotonic() - start

    return EpochMarker()


@dataclass
class Growth:
    base_mib: float | None
    peak_mib: float | None
    growth_mib: float | None
    growth_pct: float | None


def growth(samples: Samples, column: int) -> Growth:
    """The maximum after the first epoch (until training ended) over the value at its end, which with freed memory
    handed back at epoch ends is the working set, not growth; column 0: resident memory, 1: its anonymous part."""
    if samples.first_epoch_end is None or samples.epoch_end[0][column] is None:
        return Growth(None, None, None, None)
    after = [point[1 + column] for point in samples.after_first_epoch()]
    base = samples.epoch_end[0][column] / MIB
    if not after:
        return Growth(base, None, None, None)
    peak = max(after) / MIB
    pct = 100.0 * (peak - base) / base
    return Growth(base, peak, peak - base, pct)


@dataclass
class Verdict:
    """Phase-matched growth in percent (None: not enough epochs or samples) and whether it is within tolerance."""

    epoch_end_pct: float | None
    peak_pct: float | None
    passed: bool | None


def verdict(samples: Samples, tolerance_pct: float, column: int) -> Verdict:
    """(a) the highest end-of-epoch value after epoch 1 over epoch 1's; (b) the peak sample of the last quarter of
    the run after epoch 1 over the peak of its first quarter; column 0: resident memory, 1: its anonymous part."""
    ends = [point[column] for point in samples.epoch_end]
    epoch_end_pct = None
    if len(ends) >= 2 and ends[0]:
        epoch_end_pct = 100.0 * (max(ends[1:]) - ends[0]) / ends[0]
    peak_pct = None
    after = [point[1 + column] for point in samples.after_first_epoch()]
    if len(after) >= 8 and None not in after:
        first, last = max(after[:len(after) // 4]), max(after[-(len(after) // 4):])
        peak_pct = 100.0 * (last - first) / first
    if epoch_end_pct is None or peak_pct is None:
        return Verdict(epoch_end_pct, peak_pct, None)
    return Verdict(epoch_end_pct, peak_pct, epoch_end_pct < tolerance_pct and peak_pct < tolerance_pct)


def anon_trend(samples: Samples) -> tuple[list[float], float] | None:
    """Medians of the anonymous memory in each quarter of the run after the first epoch, and its least-squares slope
    in MiB/min: a leak shows as a climb of the medians, where the maximum also catches one-off spikes."""
    after = [(t, anon / MIB) for t, _, anon, _ in samples.after_first_epoch() if anon]
    if len(after) < 8:
        return None
    values = [v for _, v in after]
    quarters = [sorted(values[q * len(values) // 4:(q + 1) * len(values) // 4]) for q in range(4)]
    medians = [q[len(q) // 2] for q in quarters]
    times = [t / 60 for t, _ in after]
    mean_t, mean_v = sum(times) / len(times), sum(values) / len(values)
    slope = sum((t - mean_t) * (v - mean_v) for t, v in zip(times, values)) / max(
        sum((t - mean_t) ** 2 for t in times), 1e-9)
    return medians, slope


def table(samples: Samples, minutes: float, tolerance_pct: float, source: str, wall_s: float) -> tuple[str, Verdict]:
    """The markdown table, and the verdict: on anonymous memory where /proc tells it apart, else on RSS."""
    def fmt(value: float | None, spec: str) -> str:
        return "n/a" if value is None else format(value, spec)

    rss, anon = growth(samples, 0), growth(samples, 1)
    on_anon = anon.base_mib is not None
    judged = verdict(samples, tolerance_pct, 1 if on_anon else 0)
    status = {True: "PASS", False: "FAIL", None: "no verdict (fewer than 2 epochs or 8 samples after the first)"}
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    rows = [
        ("machine", f"{platform.machine()}, {os.cpu_count()} CPUs, load avg {load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}"
                    f", nice {os.nice(0)}, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}"),
        ("source", source),
        ("run", f"{wall_s / 60:.1f} min wall for {minutes:g} min of training, {samples.steps} steps, "
                f"{samples.epochs_done} epoch(s), {len(samples.points)} samples"),
        ("first epoch ended", "n/a" if samples.first_epoch_end is None else f"{samples.first_epoch_end:.0f} s"),
    ]
    for name, g in (("RSS", rss), ("anonymous RSS (heap, tensors)", anon)):
        rows += [(f"{name} at the end of the first epoch", f"{fmt(g.base_mib, '.0f')} MiB"),
                 (f"max {name} sampled afterwards, in or between epochs", f"{fmt(g.peak_mib, '.0f')} MiB"
                  f" ({fmt(g.growth_pct, '+.2f')}% over the end of the first epoch)")]
    trend = anon_trend(samples)
    if trend is not None:
        medians, slope = trend
        rows.append(("anonymous RSS after the first epoch: median of each quarter of the run; linear trend",
                     ", ".join(f"{m:.0f}" for m in medians) + f" MiB; {slope:+.2f} MiB/min"))
    memory = "anonymous" if on_anon else "resident"
    rows += [
        ("RSS / anonymous at the end of each epoch",
         ", ".join(f"{r / MIB:.0f}/{(a or 0) / MIB:.0f}" for r, a in samples.epoch_end) + " MiB"),
        (f"(a) {memory} memory at later epoch ends: highest over the first", f"{fmt(judged.epoch_end_pct, '+.2f')}%"),
        (f"(b) {memory} memory peak: last quarter of the run over the first", f"{fmt(judged.peak_pct, '+.2f')}%"),
        (f"no growth after the first epoch (a and b < {tolerance_pct:g}%, {memory} memory)", status[judged.passed]),
    ]
    lines = ["| quantity | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines), judged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="training time (Lightning's max_time)")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--tolerance", type=float, default=5.0, help="allowed growth after the first epoch, percent")
    parser.add_argument("--config", default="configs/sprites.yaml")
    parser.add_argument("--limit_train_batches", type=int, default=None, help="batches per epoch (default: all)")
    parser.add_argument("--log_dir", default=None, help="where checkpoints and logs go (default: a temp folder)")
    parser.add_argument("overrides", nargs="*",
                        help="extra CLI arguments after --, e.g. --trainer.val_check_interval=250")
    args = parser.parse_args(argv)

    # The real benchmark when its art is here; the data module's `auto` source picks it up from $SPRITES_LPC.
    if "SPRITES_LPC" not in os.environ and LPC_DEFAULT.is_dir():
        os.environ["SPRITES_LPC"] = str(LPC_DEFAULT)
    source = f"LPC ({os.environ['SPRITES_LPC']})" if os.environ.get("SPRITES_LPC") else "procedural"

    from lightning.pytorch import LightningDataModule, LightningModule

    from motioncontent.cli.lightning_cli import MotionContentCLI

    log_dir = args.log_dir or tempfile.mkdtemp(prefix="soak_")
    seconds = int(args.minutes * 60)
    cli_args = [
        "--config", args.config,
        # Time, not steps, ends the soak: the config's max_steps would stop a fast machine early.
        "--trainer.max_steps=-1", f"--trainer.max_time=00:00:{seconds // 60:02d}:{seconds % 60:02d}",
        f"--trainer.logger.init_args.save_dir={log_dir}", "--trainer.enable_progress_bar=false",
    ]
    if args.limit_train_batches:
        cli_args.append(f"--trainer.limit_train_batches={args.limit_train_batches}")
    cli_args += args.overrides
    print(f"[soak] {args.minutes:g} min on {args.config}, source {source}, logs in {log_dir}", flush=True)

    sys.argv = sys.argv[:1]  # LightningCLI warns when it is given args and sees command-line ones too
    cli = MotionContentCLI(LightningModule, LightningDataModule, subclass_mode_model=True, subclass_mode_data=True,
                           args=cli_args, run=False, save_config_kwargs={"overwrite": True},
                           auto_configure_optimizers=False)
    samples = Samples()
    start = time.monotonic()
    cli.trainer.callbacks.append(make_epoch_marker(samples, start))
    stop = threading.Event()
    thread = threading.Thread(target=sampler, args=(samples, start, args.interval, stop), daemon=True)
    thread.start()
    try:
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    finally:
        stop.set()
        thread.join()
    wall = time.monotonic() - start
    csv = Path(log_dir) / "soak_rss.csv"  # the whole trajectory: a leak climbs steadily, a warm-up steps once
    csv.write_text("seconds,rss_mib,anon_mib,epochs_done\n" + "".join(
        f"{t:.1f},{rss / MIB:.1f},{(anon or 0) / MIB:.1f},{e}\n" for t, rss, anon, e in samples.points))
    print(f"[soak] memory samples: {csv}", flush=True)
    text, judged = table(samples, args.minutes, args.tolerance, source, wall)
    print(text, flush=True)
    return 0 if judged.passed is not False else 1


if __name__ == "__main__":
    sys.exit(main())
