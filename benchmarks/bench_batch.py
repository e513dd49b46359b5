"""Grading a class: `attn-drill grade DIR --jobs 2` against one `attn-drill grade FILE` per
submission, and a large NumPy class that must come back whole.

1. 100 torch submissions, a realistic mix: mostly correct, many wrong (no scaling, a missing
   transpose, softmax over the wrong axis, no causal mask, detached module), and three
   hostile ones (a busy loop, a memory bomb, a fork flood). Target: the batch with
   `--jobs 2` is at least 15x faster than 100 sequential `attn-drill grade FILE` runs, with
   the same verdict for every file. Peak memory is sampled for every warm worker (its zygote
   plus the child of the grade in flight, proportional set size, so shared pages count once)
   and for the batch process itself.
2. 1000 NumPy submissions (softmax, correct and wrong) graded in one batch: every one of them
   has its row in the CSV.

Run: python benchmarks/bench_batch.py [--sequential N] [--numpy N]
(--sequential N times only the first N sequential runs and scales them to 100; default 100.)
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TORCH_COUNT = 100
TARGET_SPEEDUP = 15.0

SDPA = (REPO / "solutions" / "scaled_dot_product_attention_torch.py").read_text()
CAUSAL = (REPO / "solutions" / "causal_attention_torch.py").read_text()
MODULE = (REPO / "solutions" / "self_attention_module_torch.py").read_text()
DETACHED = (REPO / "tests" / "fixtures" / "solutions" / "self_attention_module_detached.py"
            ).read_text()
SOFTMAX = (REPO / "solutions" / "softmax_numpy.py").read_text()
SOFTMAX_NAIVE = (REPO / "tests" / "fixtures" / "solutions" / "softmax_naive.py").read_text()

BUSY_LOOP = """import torch


def scaled_dot_product_attention(Q, K, V, mask=None):
    while True:
        pass
"""
MEMORY_BOMB = """import torch

hoard = []


def scaled_dot_product_attention(Q, K, V, mask=None):
    while True:
        hoard.append(torch.ones(64 << 20))  # 256 MB each, written, until the cap stops it
"""
FORK_FLOOD = """import os

import torch


def scaled_dot_product_attention(Q, K, V, mask=None):
    while True:
        os.fork()
"""


Variant = tuple[str, str, str]  # (problem file stem, source, expected verdict)


def _variants() -> tuple[list[Variant], list[Variant]]:
    """Correct submissions (the references and one written differently) and wrong ones."""
    no_scale = SDPA.replace(" / math.sqrt(d_k)", "")
    other_transpose = SDPA.replace("K.transpose(-2, -1)", "K.mT.transpose(-2, -1).mT")
    wrong_axis = SDPA.replace("torch.softmax(scores, dim=-1)", "torch.softmax(scores, dim=-2)")
    no_causal_mask = CAUSAL.replace("scores = scores.masked_fill(~allowed, float(\"-inf\"))",
                                    "pass")
    correct = [("scaled_dot_product_attention", SDPA, "pass"),
               ("causal_attention", CAUSAL, "pass"),
               ("self_attention_module", MODULE, "pass"),
               ("scaled_dot_product_attention", other_transpose, "pass")]
    wrong = [("scaled_dot_product_attention", no_scale, "fail"),
             ("scaled_dot_product_attention", wrong_axis, "fail"),
             ("causal_attention", no_causal_mask, "fail"),
             ("self_attention_module", DETACHED, "fail")]
    return correct, wrong


def make_torch_class(root: Path) -> dict[str, str]:
    """100 students, one torch file each; returns file -> expected verdict."""
    correct, wrong = _variants()
    hostile = [("scaled_dot_product_attention", BUSY_LOOP, "fail"),
               ("scaled_dot_product_attention", MEMORY_BOMB, "fail"),
               ("scaled_dot_product_attention", FORK_FLOOD, "fail")]
    plan: list[Variant] = []
    plan += [wrong[i % len(wrong)] for i in range(32)]
    plan += hostile
    plan += [correct[i % len(correct)] for i in range(TORCH_COUNT - len(plan))]
    # Spread the kinds through the class as a real roster would be (hostile ones included).
    plan = [plan[(i * 37) % TORCH_COUNT] for i in range(TORCH_COUNT)]
    expected = {}
    for index, (stem, source, verdict) in enumerate(plan):
        path = root / f"student{index:03d}" / f"{stem}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
        expected[str(path)] = verdict
    return expected


def make_numpy_class(root: Path, count: int) -> int:
    for index in range(count):
        path = root / f"student{index:04d}" / "softmax.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(SOFTMAX_NAIVE if index % 4 == 0 else SOFTMAX)
    return count


# -- memory sampling ---------------------------------------------------------------------------


def _read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return ""


def _field(text: str, name: str) -> int:
    for line in text.splitlines():
        if line.startswith(name):
            return int(line.split()[1]) * 1024
    return 0


class MemorySampler(threading.Thread):
    """Every 0.1 s: the PSS of each warm worker (zygote + its grade child) of the batch, i.e.
    the processes whose HOME lies under the batch's temporary directory."""

    def __init__(self, scratch: Path, parent_pid: int) -> None:
        super().__init__(daemon=True)
        self.needle = f"HOME={scratch}".encode()
        self.parent_pid = parent_pid
        self.stop = threading.Event()
        self.worker_peak = 0
        self.parent_peak = 0
        self.workers_seen: set[int] = set()

    def run(self) -> None:
        while not self.stop.is_set():
            self.sample()
            self.stop.wait(0.1)

    def sample(self) -> None:
        status = _read(f"/proc/{self.parent_pid}/status")
        self.parent_peak = max(self.parent_peak, _field(status, "VmHWM:"))
        processes: dict[int, tuple[int, int]] = {}  # pid -> (ppid, pss)
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as handle:
                    environ = handle.read()
            except OSError:
                continue
            if not any(item.startswith(self.needle) for item in environ.split(b"\0")):
                continue
            ppid = _field(_read(f"/proc/{entry}/status"), "PPid:") // 1024
            pss = _field(_read(f"/proc/{entry}/smaps_rollup"), "Pss:")
            processes[int(entry)] = (ppid, pss)
        zygotes = [pid for pid, (ppid, _) in processes.items() if ppid == self.parent_pid]
        self.workers_seen.update(zygotes)
        for zygote in zygotes:
            total = processes[zygote][1] + sum(
                pss for pid, (ppid, pss) in processes.items() if ppid == zygote)
            self.worker_peak = max(self.worker_peak, total)


# -- runs ---------------------------------------------------------------------------------------


def attn_drill(*args: str, env: dict[str, str]) -> list[str]:
    return [sys.executable, "-m", "attn_drill", *args]


def sequential(files: list[str], sample: int, env: dict[str, str]) -> tuple[float, dict]:
    verdicts = {}
    started = time.perf_counter()
    for path in files[:sample]:
        done = subprocess.run(attn_drill("grade", path, "--no-record", "--json", env=env),
                              capture_output=True, text=True, env=env, check=False)
        verdicts[path] = "pass" if done.returncode == 0 else "fail"
    elapsed = time.perf_counter() - started
    return elapsed * len(files) / sample, verdicts


def batch(directory: Path, jobs: int, env: dict[str, str], scratch: Path, csv_path: Path
          ) -> tuple[float, dict, MemorySampler]:
    started = time.perf_counter()
    process = subprocess.Popen(
        attn_drill("grade", str(directory), "--jobs", str(jobs), "--json", "--csv",
                   str(csv_path), env=env),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    sampler = MemorySampler(scratch, process.pid)
    sampler.start()
    stdout, stderr = process.communicate()
    elapsed = time.perf_counter() - started
    sampler.stop.set()
    sampler.join()
    if process.returncode not in (0, 1):
        raise SystemExit(f"the batch failed (exit {process.returncode}): {stderr[-2000:]}")
    document = json.loads(stdout)
    return elapsed, document, sampler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=int, default=TORCH_COUNT,
                        help="sequential runs actually timed (scaled to 100)")
    parser.add_argument("--numpy", type=int, default=1000, help="NumPy submissions")
    parser.add_argument("--jobs", type=int, default=2)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="attn-drill-bench-") as work:
        work_dir = Path(work)
        scratch = work_dir / "tmp"
        scratch.mkdir()
        env = {**os.environ, "TMPDIR": str(scratch),
               "ATTN_DRILL_HOME": str(work_dir / "home"), "NO_COLOR": "1"}
        torch_class = work_dir / "torch-class"
        expected = make_torch_class(torch_class)
        files = sorted(expected)

        batch_s, document, sampler = batch(torch_class, options.jobs, env, scratch,
                                           work_dir / "torch.csv")
        results = {r["file"]: r for r in document["results"]}
        batch_verdicts = {f: "pass" if results[f].get("passed") else "fail" for f in files}
        wrong = {f: (expected[f], v) for f, v in batch_verdicts.items() if v != expected[f]}

        sample = max(1, min(options.sequential, TORCH_COUNT))
        sequential_s, sequential_verdicts = sequential(files, sample, env)
        disagree = [f for f, v in sequential_verdicts.items() if batch_verdicts[f] != v]
        # The machine is shared: the batch runs again after the sequential runs, and the
        # slower of its two times is the one compared.
        again_s, _, again_sampler = batch(torch_class, options.jobs, env, scratch,
                                          work_dir / "torch-again.csv")
        batch_times = (batch_s, again_s)
        batch_s = max(batch_times)
        sampler.worker_peak = max(sampler.worker_peak, again_sampler.worker_peak)
        sampler.parent_peak = max(sampler.parent_peak, again_sampler.parent_peak)

        numpy_class = work_dir / "numpy-class"
        count = make_numpy_class(numpy_class, options.numpy)
        numpy_csv = work_dir / "numpy.csv"
        numpy_s, numpy_document, numpy_sampler = batch(numpy_class, options.jobs, env, scratch,
                                                       numpy_csv)
        with open(numpy_csv, newline="") as handle:
            rows = list(csv.DictReader(handle))

    speedup = sequential_s / batch_s
    summary = document["summary"]
    scaled = "" if sample == TORCH_COUNT else f" (first {sample} runs, scaled to 100)"
    print(f"torch class: {TORCH_COUNT} submissions, {summary['passed']} passed, "
          f"{summary['failed']} failed, {summary['errors']} errors")
    print(f"  sequential `attn-drill grade FILE` x100: {sequential_s:8.1f} s{scaled}")
    print(f"  `attn-drill grade DIR --jobs {options.jobs}`:      {batch_s:8.1f} s "
          f"(slower of {batch_times[0]:.1f} s before and {batch_times[1]:.1f} s after)")
    print(f"  speed-up: {speedup:.1f}x (target >= {TARGET_SPEEDUP:.0f}x) "
          f"{'ok' if speedup >= TARGET_SPEEDUP else 'UNDER TARGET'}")
    print(f"  verdicts as expected: {len(files) - len(wrong)}/{len(files)}; "
          f"same as the sequential runs: {len(sequential_verdicts) - len(disagree)}/"
          f"{len(sequential_verdicts)}")
    for path, (want, got) in sorted(wrong.items()):
        print(f"    unexpected: {path}: expected {want}, got {got}")
    print(f"  peak memory per warm worker (zygote + grade child, PSS): "
          f"{sampler.worker_peak / 2**20:.0f} MiB over {len(sampler.workers_seen)} workers; "
          f"batch process peak RSS: {sampler.parent_peak / 2**20:.0f} MiB")
    numpy_summary = numpy_document["summary"]
    print(f"numpy class: {count} submissions in {numpy_s:.1f} s "
          f"({numpy_s / count * 1000:.0f} ms each), {numpy_summary['passed']} passed, "
          f"{numpy_summary['failed']} failed, {numpy_summary['errors']} errors; CSV rows: "
          f"{len(rows)} {'ok' if len(rows) == count else 'MISSING ROWS'}")
    print(f"  peak memory per warm worker: {numpy_sampler.worker_peak / 2**20:.0f} MiB; batch "
          f"process peak RSS: {numpy_sampler.parent_peak / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
