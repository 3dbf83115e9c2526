#!/bin/sh
# bench_tabular.sh: read + clean + features on the 1,000,000-row CSV, jianmo
# beside pandas (../shared/peers/pandas_clean.py, Debian's python3-pandas)
# and polars (bench/polars_clean.py, from PyPI in a virtualenv).
#
#   bench/bench_tabular.sh [BUILD_DIR]
#
# BUILD_DIR holds bench/bench_tabular (default: the current directory).
# Environment:
#   TABULAR_CSV    the CSV (default /tmp/jianmo-tabular-1m.csv; made once
#                  with make_tabular.py when missing)
#   PEERS          ../shared/peers (default: next to the source tree)
#   POLARS_PYTHON  a python with polars (default /tmp/polars-venv/bin/python;
#                  skipped when absent)
#   REPEAT         runs of each program (default 3), in turns
#   THREADS        jianmo's CSV reader threads (default 0: automatic)
#
# Prints each run's seconds per stage, then the medians, the ratios
# (pandas / jianmo, polars / jianmo), the CSV reading speed, and every
# summary value of each peer beside jianmo's with the relative difference;
# exits 1 if any differs by more than 1e-9 relative.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-.}
bin="$build/bench/bench_tabular"
csv=${TABULAR_CSV:-/tmp/jianmo-tabular-1m.csv}
peers=${PEERS:-$here/../shared/peers}
polars_py=${POLARS_PYTHON:-/tmp/polars-venv/bin/python}
repeat=${REPEAT:-3}
threads=${THREADS:-0}
py=/usr/bin/python3

[ -x "$bin" ] || { echo "bench_tabular.sh: no $bin (make bench/bench_tabular first)" >&2; exit 2; }
[ -f "$peers/pandas_clean.py" ] || { echo "bench_tabular.sh: no $peers/pandas_clean.py" >&2; exit 2; }
if [ ! -f "$csv" ]; then
	echo "making $csv ..." >&2
	"$py" "$peers/make_tabular.py" "$csv" 1000000
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
i=1
while [ "$i" -le "$repeat" ]; do
	"$bin" "$csv" "$threads" > "$out/jianmo.$i"
	"$py" "$peers/pandas_clean.py" "$csv" > "$out/pandas.$i"
	if [ -x "$polars_py" ]; then
		"$polars_py" "$here/bench/polars_clean.py" "$csv" > "$out/polars.$i"
	fi
	i=$((i + 1))
done

echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "file: $csv ($(stat -c %s "$csv") bytes)"
"$py" - "$out" "$repeat" "$(stat -c %s "$csv")" <<'EOF'
import json, os, statistics, sys

out, repeat, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
peers = [p for p in ("jianmo", "pandas", "polars") if os.path.exists(os.path.join(out, p + ".1"))]
runs, cpus, summary = {}, [], {}
for p in peers:
    runs[p] = []
    for i in range(1, repeat + 1):
        stages = {}
        for line in open(os.path.join(out, "%s.%d" % (p, i))):
            d = json.loads(line)
            if "stage" in d:
                stages[d["stage"]] = d["seconds"]
                if "cpu_seconds" in d:
                    cpus.append((i, d["stage"], d["cpu_seconds"]))
            else:
                summary[p] = d
        stages["total"] = sum(stages[s] for s in ("read_csv", "clean", "features"))
        runs[p].append(stages)

stages = ("read_csv", "clean", "features", "total")
print("\nseconds per run (%s)" % ", ".join(peers))
for p in peers:
    for i, r in enumerate(runs[p], 1):
        print("  %-7s run %d: " % (p, i) + "  ".join("%s %.3f" % (s, r[s]) for s in stages))
med = {p: {s: statistics.median(r[s] for r in runs[p]) for s in stages} for p in peers}
print("\nmedian of %d runs" % repeat)
print("  %-9s" % "stage" + "".join("%12s" % p for p in peers) +
      "".join("%16s" % (p + "/jianmo") for p in peers if p != "jianmo"))
for s in stages:
    print("  %-9s" % s + "".join("%12.3f" % med[p][s] for p in peers) +
          "".join("%15.1fx" % (med[p][s] / med["jianmo"][s]) for p in peers if p != "jianmo"))
for p in peers:
    print("  CSV read, %-7s %7.0f MB/s" % (p + ":", size / 1e6 / med[p]["read_csv"]))
print("\njianmo CPU seconds (all threads, user + system) per run")
for i in range(1, repeat + 1):
    print("  run %d: " % i + "  ".join("%s %.3f" % (s, c) for (k, s, c) in cpus if k == i))

def flat(d, prefix=""):
    for k, v in d.items():
        if isinstance(v, dict):
            yield from flat(v, prefix + k + ".")
        else:
            yield prefix + k, float(v)

print("\nsummary values (relative difference to jianmo; must be <= 1e-9)")
bad = 0
mine = dict(flat(summary["jianmo"]))
for p in peers:
    if p == "jianmo":
        continue
    for k, v in flat(summary[p]):
        j = mine[k]
        rel = abs(j - v) / max(abs(v), 1e-300) if v != j else 0.0
        ok = rel <= 1e-9
        bad += not ok
        print("  %-7s %-24s %24.17g  jianmo %24.17g  rel %.1e %s" % (p, k, v, j, rel, "ok" if ok else "MISMATCH"))
sys.exit(1 if bad else 0)
EOF
