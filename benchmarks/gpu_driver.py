"""The driver both GPU benchmarks (benchmarks/gpu_kernels.py, benchmarks/gpu.py) run their
sections through: the command line (``--out``, ``--only``, ``--simulate-tiny``), each
section isolated, results.json and results.md rewritten after every section."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path


def section_errors(results) -> list:
    """Markdown lines for failed sections and a section cut off by a time limit."""
    out = []
    if results.get("errors") or results.get("running"):
        out += ["## Section errors", ""]
        out += [f"- **{k}**: `{v.strip().splitlines()[-1]}`" for k, v in results["errors"].items()]
        if results.get("running"):
            out.append(f"- **{results['running']}**: did not finish (time limit?)")
    return out


def command_line(doc, sections, argv):
    """Parse the options both GPU benchmarks take; with --simulate-tiny, switch Numba to its
    CUDA simulator (before anything imports numba.cuda)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", default=os.environ.get("OUT") or "gpu_results")
    parser.add_argument("--only", nargs="+", choices=[s for s in sections if s != "device"])
    parser.add_argument(
        "--simulate-tiny",
        action="store_true",
        help="run every section at toy sizes under Numba's CUDA simulator",
    )
    args = parser.parse_args(argv)
    if args.simulate_tiny:
        os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
        sys.setswitchinterval(1e-4)  # simulated threads barrier constantly
    return args


def _write(path: Path, text: str) -> None:
    """Replace ``path`` atomically: a run killed mid-write leaves the previous version."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def run_sections(sections, call, results, args, markdown) -> dict:
    """Run the selected sections in order, each isolated (a failure is recorded in
    ``results["errors"]`` and the run goes on), and rewrite results.json and results.md in
    ``args.out`` before and after every section: these run on a rented GPU under a hard time
    limit, and a run killed there still returns what it measured (``results["running"]``
    names the section it was in)."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    def save():
        results["seconds"] = time.perf_counter() - t0
        _write(out / "results.json", json.dumps(results, indent=1, default=str))
        _write(out / "results.md", markdown(results))

    for name, fn in sections.items():
        if args.only and name != "device" and name not in args.only:
            continue
        print(f"[{time.perf_counter() - t0:6.1f}s] {name}", flush=True)
        results["running"] = name
        save()
        try:
            results[name] = call(fn)
        except Exception:
            results["errors"][name] = traceback.format_exc()
            print(results["errors"][name], file=sys.stderr, flush=True)
        del results["running"]
        save()
    print(markdown(results))
    print(f"wrote {out}/results.json and results.md in {results['seconds']:.0f}s")
    return results
