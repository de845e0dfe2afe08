"""CPU time of the one slow step of the README's install: compiling llama-cpp-python, per CMAKE_ARGS variant.

The first `pip install` compiles llama.cpp from the sdist (PyPI has no Linux wheel). CPU seconds
(user + system of the build and its children) do not depend on what else the machine runs, so two
variants compare fairly even on a shared machine; wall time on an idle machine is about CPU / cores.

  python benchmarks/bench_install.py --sdist llama_cpp_python-0.3.36.tar.gz \\
      --variant readme= --variant no-llava=-DLLAVA_BUILD=OFF

`pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36` fetches the sdist. Each variant
builds with pip's cache off (a cold install). Results: benchmarks/results/install.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from bench_engines import machine_info

RESULTS = Path(__file__).parent / "results" / "install.json"
README_CMAKE_ARGS = "-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON"


def build(sdist: Path, extra_cmake_args: str) -> dict[str, Any]:
    """Build the wheel cold with the README's CMAKE_ARGS plus `extra_cmake_args`; CPU and wall seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    env = {**os.environ, "CMAKE_ARGS": f"{README_CMAKE_ARGS} {extra_cmake_args}".strip()}
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir", str(sdist), "-w", out]
        subprocess.run(command, env=env, check=True, capture_output=True)
        wall = time.perf_counter() - start
        wheel = next(Path(out).glob("*.whl"))
        size_mb = wheel.stat().st_size / 1e6
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"cmake_args": env["CMAKE_ARGS"], "cpu_s": round(cpu, 1), "wall_s": round(wall, 1), "wheel_mb": round(size_mb, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sdist", type=Path, required=True, help="the llama-cpp-python sdist (.tar.gz)")
    parser.add_argument("--variant", action="append", required=True, help="NAME=EXTRA_CMAKE_ARGS (empty: the README's own)")
    args = parser.parse_args()
    rows = {}
    for variant in args.variant:
        name, _, extra = variant.partition("=")
        rows[name] = build(args.sdist, extra)
        print(f"{name:12} cpu {rows[name]['cpu_s']:>8} s  wall {rows[name]['wall_s']:>8} s  wheel {rows[name]['wheel_mb']} MB")
    result = {"command": "python " + " ".join(sys.argv), "machine": machine_info(), "load_avg_at_end": os.getloadavg(), "variants": rows}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {RESULTS}")


if __name__ == "__main__":
    main()
