"""Each built-in scenario simulated cold, in its own process, as `gigafactory simulate NAME` does
[target: under 5 s each on the 2-core machine].

Prints wall and CPU seconds (user + system) per scenario, imports included; on a shared, busy
machine the wall time swings with the load, the CPU time much less.

Run: .venv/bin/python benchmarks/scenario_speed.py [NAME ...]
"""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import resource, sys, time
t0 = time.perf_counter()
from gigafactory.resolve import load_scenario
from gigafactory.twin import simulate
res = simulate(load_scenario(sys.argv[1]))
ru = resource.getrusage(resource.RUSAGE_SELF)
h = res.headline()
print(f"{time.perf_counter() - t0:.2f} {ru.ru_utime + ru.ru_stime:.2f} {h['days_to_model_p50']:.1f}")
"""


def main() -> None:
    from gigafactory.resolve import builtin_scenarios

    names = sys.argv[1:] or builtin_scenarios()
    print(f"{'scenario':<16} {'wall s':>7} {'CPU s':>6} {'days p50':>9}")
    for name in names:
        out = subprocess.run([sys.executable, "-c", CHILD, name], capture_output=True, text=True, check=True)
        wall, cpu, days = out.stdout.split()
        print(f"{name:<16} {float(wall):>7.2f} {float(cpu):>6.2f} {float(days):>9.1f}")


if __name__ == "__main__":
    main()
