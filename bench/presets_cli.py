"""Every built-in preset through the command line, each in a fresh process.

Run from the repository root:  python bench/presets_cli.py [--src PATH] [--timeout S] [--only NAME,...]

For each preset ``roofscope presets`` lists, it runs ``python -m roofscope PRESET --seq 128
--device h100 --dtype bf16`` and records the exit status, the wall time, whether the serving
summary was printed and the first line of stderr. Every preset must exit 0 (a causal LM with its
serving summary, any other model with its report) or exit 2 with one clear line, never a
traceback. ``--src`` runs another checkout's ``src/`` with this environment's packages. The table
goes to stdout and to ``bench/results/presets-cli.md``; the exit status is 1 when a preset broke
that rule.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ARGS = ("--seq", "128", "--device", "h100", "--dtype", "bf16")
RESULTS = Path(__file__).parent / "results" / "presets-cli.md"


def preset_names(env: dict[str, str]) -> list[str]:
    """The presets, as the installed roofscope lists them (its Python API, in a child process)."""
    code = "from roofscope.models.presets import preset_names; print('\\n'.join(preset_names()))"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return found.stdout.split()


def run_one(name: str, env: dict[str, str], timeout: float) -> dict[str, object]:
    """Exit status, wall seconds, whether a serving summary was printed, stderr's first line and
    whether stderr holds a traceback, for one preset."""
    start = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "roofscope", name, *ARGS], capture_output=True, text=True, env=env, timeout=timeout, check=False
        )
        status, out, err = done.returncode, done.stdout, done.stderr
    except subprocess.TimeoutExpired as expired:
        status, out, err = None, str(expired.stdout or ""), f"timed out after {timeout:.0f} s"
    lines = [line.strip() for line in err.splitlines() if line.strip()]
    return {
        "name": name,
        "status": status,
        "seconds": time.perf_counter() - start,
        "serving": "LLM serving:" in out,
        "stderr": lines[0] if lines else "",
        "traceback": "Traceback (most recent call last)" in err,
        "stderr_lines": len(lines),
    }


def ok(row: dict[str, object]) -> bool:
    if row["traceback"]:
        return False
    if row["status"] == 0:
        return True
    return row["status"] == 2 and row["stderr_lines"] == 1


def table(rows: list[dict[str, object]]) -> str:
    lines = [
        "| preset | exit | seconds | serving summary | first line of stderr | as required |",
        "| --- | ---: | ---: | --- | --- | --- |",
    ]
    for row in rows:
        first = str(row["stderr"]).replace("|", "\\|")
        status = "timeout" if row["status"] is None else row["status"]
        seconds = float(str(row["seconds"]))
        serving = "yes" if row["serving"] else "no"
        lines.append(f"| {row['name']} | {status} | {seconds:.1f} | {serving} | {first} | {'yes' if ok(row) else 'NO'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--src", help="a checkout's src/ to run instead of the installed roofscope")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one preset may take (default 900)")
    parser.add_argument("--only", help="comma-separated presets to run instead of all of them")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"the Markdown file to write (default {RESULTS.name})")
    args = parser.parse_args(argv)
    env = dict(os.environ)
    if args.src:
        env["PYTHONPATH"] = args.src + os.pathsep + env.get("PYTHONPATH", "")
    names = args.only.split(",") if args.only else preset_names(env)
    rows = []
    for name in names:
        row = run_one(name, env, args.timeout)
        rows.append(row)
        print(f"{name}: exit {row['status']}, {float(str(row['seconds'])):.1f} s {row['stderr']}", file=sys.stderr, flush=True)
    passed = sum(ok(row) for row in rows)
    header = (
        f"# Every preset through the command line\n\n`roofscope PRESET {' '.join(ARGS)}`, one fresh process each; "
        f"{datetime.date.today().isoformat()}, Python {platform.python_version()} on {platform.machine()}, "
        f"{os.cpu_count()} CPUs (shared). {passed} of {len(rows)} as required (exit 0, or exit 2 with one line; never a traceback).\n"
    )
    text = f"{header}\n{table(rows)}\n"
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    return 0 if passed == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
