"""`make bench`: run every bench/bench_*.py module; each writes bench/results/<area>.{json,md}."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    """Run the named benchmarks (default: all) one after another in fresh interpreters."""
    names = argv if argv else sorted(p.stem for p in HERE.glob('bench_*.py'))
    failed = []
    for name in names:
        if importlib.util.find_spec(f"bench.{name}") is None:
            raise SystemExit(f"no benchmark bench/{name}.py")
        print(f'=== {name}', flush=True)
        start = time.monotonic()
        # a fresh interpreter each: benchmarks must not share warm caches or leftover threads
        code = subprocess.call([sys.executable, '-m', f'bench.{name}'], cwd=HERE.parent)
        print(f'=== {name}: exit {code} after {time.monotonic() - start:.0f} s', flush=True)
        if code:
            failed.append(name)
    print(f'results in {HERE / "results"}' + (f'; FAILED: {", ".join(failed)}' if failed else ''))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
