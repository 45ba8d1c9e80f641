"""Reads what scripts/bench/cpu-class.sh kept in its folder and prints each speed target of the
performance work beside what this machine measured, met or not. Usage: cpu_class_summary.py DIR"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ALGOS = ("sac", "td3", "ddpg")
W = 58  # the widest label


def per_algo(text: str, pattern: str) -> dict[str, float]:
    """The first number `pattern` (with the algorithm's name in {algo}) captures, per algorithm."""
    found = {}
    for algo in ALGOS:
        m = re.search(pattern.format(algo=algo), text)
        if m:
            found[algo] = float(m.group(1))
    return found


def read(folder: Path, name: str) -> str:
    path = folder / name
    return path.read_text() if path.exists() else ""


def row(label: str, cells: list[str], target: str, met: bool) -> None:
    cells = cells + [""] * (len(ALGOS) - len(cells))
    print(
        f"| {label:<{W}} | "
        + " | ".join(f"{c:>8}" for c in cells)
        + f" | {target:<7} | {'yes' if met else 'NO':<3} |"
    )


def main() -> None:
    folder = Path(sys.argv[1])
    cpu, bench, threads = read(folder, "cpu.txt"), read(folder, "bench.txt"), read(folder, "threads.txt")
    sweep, sb3, same, beside = (
        read(folder, "sweep-jobs.txt"),
        read(folder, "vs-sb3.txt"),
        read(folder, "determinism.txt"),
        read(folder, "env-beside.txt"),
    )
    avx512 = " avx512f " in f" {cpu} "
    # The kernels `polyak bench` ran: a run held to AVX2 (SIMD=avx2) stands in for an AVX2-only
    # CPU, and is held to what the performance work asks of one.
    held = avx512 and "AVX2 kernels" in bench
    avx512_kernels = avx512 and not held
    # (what, per algorithm, at least, unit): "x" for ratios, "%" for shares.
    rows: list[tuple[str, dict[str, float], float, str]] = [
        (
            "end to end / Stable-Baselines3, 2 threads each",
            per_algo(sb3, r"\n  {algo}\s+polyak .*? ratio ([\d.]+)x"),
            3.0 if avx512_kernels else 3.5,
            "x",
        ),
        (
            "training / update-only rate, separate runs (vs-sb3)",
            per_algo(sb3, r"\n  {algo}\s+polyak .*?training at (\d+)% of it"),
            95.0,
            "%",
        ),
        (
            "training / update-only rate, in one process",
            {
                a: 100 * v
                for a, v in per_algo(beside, r"(?:^|\n){algo} on .*?beside / updates alone ([\d.]+)").items()
            },
            95.0,
            "%",
        ),
        (
            "end to end, 2 threads / 1, separate runs (threads.sh)",
            per_algo(threads, r"\n  {algo}\s+1 thread .*?\s([\d.]+)x\s"),
            1.8,
            "x",
        ),
        (
            "training steps, 2 threads / 1, in one process",
            per_algo(beside, r"(?:^|\n){algo} on .*?2 threads / 1, median ratio of a round ([\d.]+)"),
            1.8,
            "x",
        ),
        (
            "updates, 2 threads / 1 (polyak bench)",
            per_algo(bench, r"HalfCheetah sizes \(obs 17, act 6\)\s+{algo}\s+1 thread .*?\(([\d.]+)\u00d7"),
            1.8,
            "x",
        ),
        (
            "useful GFLOP/s, 1 thread, share of the FMA peak",
            per_algo(bench, r"\n  {algo}\s+[\d.]+ GFLOP/update\s+1 thread\s+[\d.]+ \(\s*(\d+)% of peak"),
            60.0,
            "%",
        ),
        (
            "useful GFLOP/s, 2 threads, share of two cores' peak",
            per_algo(bench, r"\n  {algo}\s+[\d.]+ GFLOP/update.*?2 threads\s+[\d.]+ \(\s*(\d+)% of 2 cores"),
            60.0,
            "%",
        ),
    ]
    model = re.search(r"model name\s*:\s*(.*)", cpu)
    family = re.search(r"cpu family\s*:\s*(\d+)", cpu)
    number = re.search(r"\nmodel\s*:\s*(\d+)", cpu)
    name = model.group(1) if model else "unknown CPU"
    if family and number:
        name += f" (family {family.group(1)}, model {number.group(1)})"
    level = "AVX-512, held to AVX2 (SIMD=avx2)" if held else "AVX-512" if avx512 else "no AVX-512"
    print(f"\n{name}, {level}: targets and measurements\n")
    print(f"| {'':<{W}} | {'SAC':>8} | {'TD3':>8} | {'DDPG':>8} | target  | met |")
    print(f"|{'-' * (W + 2)}|{'-' * 10}|{'-' * 10}|{'-' * 10}|---------|-----|")
    missing = False
    for label, values, target, unit in rows:
        found = len(values) == len(ALGOS)
        missing |= not found
        cells = (
            [f"{values[a]:.2f}x" if unit == "x" else f"{values[a]:.0f}%" for a in ALGOS]
            if found
            else ["?"] * 3
        )
        row(label, cells, f">= {target:g}{unit}", found and all(v >= target for v in values.values()))
    # The steady-state rate (two runs at once against one), not the 2-seed sweep's wall time.
    m = re.search(r"steady state .*?two jobs do ([\d.]+)x", sweep)
    missing |= m is None
    jobs = float(m.group(1)) if m else 0.0
    row("two 1-thread sweep jobs / one (SAC)", [f"{jobs:.2f}x" if m else "?"], ">= 1.9x", jobs >= 1.9)
    same_bits = re.search(r"test result: ok\. [1-9]", same) is not None
    row("same bits at every SIMD level here (tests/determinism.rs)", [], "", same_bits)
    if missing:
        print("\n(?: a part did not run, or its output was not found; see its file in this folder.)")


if __name__ == "__main__":
    main()
