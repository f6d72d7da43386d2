"""What a user waits for: each command as a fresh process, its wall time and peak memory.

Run from the repository root:  python bench/cli_timings.py --label after [--src PATH] [--repeats N]

Each command is started with ``python -m roofscope ...`` in a new process (imports included, as
``time roofscope ...`` measures it), stdout and stderr discarded; the wall time is the median over
``--repeats`` runs and the memory the largest resident set size of the child (``ru_maxrss``).
``--src`` runs another checkout's ``src/`` (for example the main branch's, extracted with
``git archive main src | tar -x -C /tmp/before``) with this environment's packages, so that a
before/after pair differs only in roofscope's code. The table goes to stdout and to
``bench/results/cli-timings-<label>.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

#: The commands a new user runs first (README, --help), and the slow ones reported by users.
COMMANDS = (
    "resnet50 --batch 64 --device h100",
    "resnet50 --batch 128",
    "resnet50 --batch 1024",
    "vit_l_16 --batch 16",
    "resnet50 --batch 32 --backward --device h100 --dtype bf16",
    "sweep resnet50 --batch 1,2,4,...,256 --device h100 --dtype bf16",
    "compare resnet18 resnet50 mobilenet_v3_large --device h100 --dtype bf16",
    "seed-conv",
    "--version",
)


def run_once(argv: list[str], src: str | None, timeout: float) -> tuple[float, float, int, int]:
    """(wall seconds, CPU seconds (user + system), peak RSS of the child in bytes, exit status) of
    one fresh process."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", "roofscope", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        _, status, usage = os.wait4(child.pid, 0)
    except BaseException:
        child.kill()
        raise
    elapsed = time.perf_counter() - start
    if elapsed > timeout:
        print(f"  {' '.join(argv)}: {elapsed:.0f} s, past the {timeout:.0f} s budget", file=sys.stderr)
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, os.waitstatus_to_exitcode(status)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="names the results file: bench/results/cli-timings-LABEL.md")
    parser.add_argument("--src", help="the src/ folder of the checkout to time (default: the installed roofscope)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per command; the median wall time is kept (default 1)")
    parser.add_argument("--timeout", type=float, default=600, help="warn about a command slower than this (seconds)")
    parser.add_argument("--only", help="comma-separated indices into the command list (default: all)")
    options = parser.parse_args(argv)
    chosen = [COMMANDS[int(i)] for i in options.only.split(",")] if options.only else list(COMMANDS)
    rows = []
    for command in chosen:
        runs = [run_once(command.split(), options.src, options.timeout) for _ in range(options.repeats)]
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        memory = max(r[2] for r in runs)
        status = max(r[3] for r in runs)
        rows.append((command, wall, cpu, memory, status))
        print(f"roofscope {command}: {wall:.1f} s wall, {cpu:.1f} s CPU, {memory / 1e9:.2f} GB, exit {status}", flush=True)
    load = os.getloadavg()
    lines = [
        f"# roofscope commands as a user runs them: {options.label}",
        "",
        f"- command: `python bench/cli_timings.py {' '.join(sys.argv[1:]) if argv is None else ' '.join(argv)}`",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
        f"- python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; load average at the end "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (the CPUs are shared: other processes slow every figure)",
        f"- each command a fresh process (`python -m roofscope ...`), median of {options.repeats} run(s); CPU = user + system "
        "seconds of the child (what the command costs, whatever else runs); memory = the child's peak RSS",
        "",
        "| command | wall s | CPU s | peak memory | exit |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| `roofscope {command}` | {wall:.1f} | {cpu:.1f} | {memory / 1e9:.2f} GB | {status} |"
            for command, wall, cpu, memory, status in rows
        ),
        "",
    ]
    path = Path(__file__).resolve().parent / "results" / f"cli-timings-{options.label}.md"
    path.write_text("\n".join(lines))
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    raise SystemExit(main())
