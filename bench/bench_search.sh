#!/bin/sh
# bench/bench_search.sh: jianmo's hyperparameter search beside Optuna on the
# black-box functions of ../shared/peers/optuna_bench.py, same machine, same
# sitting.
#
#   bench/bench_search.sh [SEEDS] [BUDGET]          (default: 20 50)
#
# Runs, in order:
#   bench/bench_search   jianmo bayes and random, SEEDS x BUDGET, plus the
#                        time of the proposal made at 100 observations
#   optuna_bench.py      with Debian's /usr/bin/python3 (Optuna 3.1: TPE,
#                        multivariate TPE, random)
#   optuna_bench.py      with $OPTUNA_VENV/bin/python (default
#                        /tmp/optuna-venv) when it has Optuna >= 3.6: its
#                        GPSampler only ("optuna-gp"), skipped otherwise
# and prints every JSON line, then one table per measure with jianmo's
# figure, each peer's, and the ratios.  Set SKIP_GP=1 to leave out the
# GPSampler run (about 10-20 s per search on two cores).
#
# Needs: bench/bench_search built (make bench/bench_search; found in the
# current directory's bench/, beside this script, or as $BENCH_SEARCH),
# python3-optuna.  Run it from the build directory:
#     cd /tmp/build-x && /path/to/jianmo/bench/bench_search.sh
#
# The GPSampler peer needs Optuna >= 3.6 with scipy and torch, from PyPI:
#     bench/bench_search.sh --make-venv
# creates $OPTUNA_VENV (default /tmp/optuna-venv) with Debian's python3 and
# runs, in it,
#     pip install 'optuna>=3.6' scipy torch greenlet
# (greenlet: Optuna's SQLAlchemy wants it; set TORCH_INDEX_URL, e.g.
# https://download.pytorch.org/whl/cpu, to take torch from another index,
# such as the CPU-only wheels, about a tenth of the download).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
peers=${JIANMO_PEERS:-$top/../shared/peers}
py=/usr/bin/python3
venv=${OPTUNA_VENV:-/tmp/optuna-venv}

if [ "${1:-}" = --make-venv ]; then
	echo "== creating $venv with $py"
	$py -m venv "$venv"
	"$venv/bin/pip" install --upgrade pip
	if [ -n "${TORCH_INDEX_URL:-}" ]; then
		"$venv/bin/pip" install --index-url "$TORCH_INDEX_URL" torch
	fi
	"$venv/bin/pip" install 'optuna>=3.6' scipy torch greenlet
	"$venv/bin/python" -c 'import optuna, scipy, torch
print("optuna", optuna.__version__, "scipy", scipy.__version__, "torch", torch.__version__,
      "GPSampler:", hasattr(optuna.samplers, "GPSampler"))'
	exit 0
fi
seeds=${1:-20}
budget=${2:-50}

bin=${BENCH_SEARCH:-}
for cand in ./bench/bench_search "$here/bench_search"; do
	[ -n "$bin" ] && break
	[ -x "$cand" ] && bin=$cand
done
if [ -z "$bin" ]; then
	echo "bench_search.sh: build bench/bench_search first (make bench/bench_search)" >&2
	exit 2
fi
if [ ! -f "$peers/optuna_bench.py" ]; then
	echo "bench_search.sh: $peers/optuna_bench.py not found (set JIANMO_PEERS)" >&2
	exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: bench_search.sh $seeds $budget"

echo "== jianmo: $bin --seeds $seeds --budget $budget"
"$bin" --seeds "$seeds" --budget "$budget" | tee "$tmp/jianmo.jsonl"

echo "== optuna (Debian): $py optuna_bench.py $seeds $budget"
$py "$peers/optuna_bench.py" "$seeds" "$budget" | tee "$tmp/optuna.jsonl"

if [ "${SKIP_GP:-0}" != 1 ] && [ -x "$venv/bin/python" ] &&
   "$venv/bin/python" -c 'import optuna, sys; sys.exit(not hasattr(optuna.samplers, "GPSampler"))' 2>/dev/null; then
	# the peer script runs every sampler it knows; keep only GPSampler
	sed 's/^for sname, make in SAMPLERS.items():/for sname, make in [kv for kv in SAMPLERS.items() if kv[0] == "optuna-gp"]:/' \
		"$peers/optuna_bench.py" > "$tmp/optuna_gp.py"
	echo "== optuna GPSampler ($venv): optuna_bench.py $seeds $budget, optuna-gp only"
	"$venv/bin/python" "$tmp/optuna_gp.py" "$seeds" "$budget" 2>"$tmp/gp.err" | tee "$tmp/optuna_gp.jsonl" ||
		{ cat "$tmp/gp.err" >&2; exit 1; }
else
	echo "== optuna GPSampler: skipped (no Optuna >= 3.6 in $venv, or SKIP_GP=1)"
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

cat "$tmp"/*.jsonl | $py -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.startswith("{")]
res = {(r["peer"], r["function"]): r for r in rows if "median_regret" in r}
at100 = {r["function"]: r["ms_at_100"] for r in rows if "ms_at_100" in r}
funcs = ["branin", "hartmann6", "rosen4", "ackley5", "mixed"]
ours = "jianmo-bayes"
peers = [p for p in ["jianmo-random", "optuna-random", "optuna-tpe", "optuna-tpe-multivariate", "optuna-gp"]
         if any((p, f) in res for f in funcs)]
def g(v):
    return "%.3g" % v
print()
for k, label in ((0, "after 10"), (1, "after 20"), (2, "after 30"), (-1, "at the budget")):
    print("median simple regret %s (ratio: jianmo-bayes / peer; below 1 is better)" % label)
    print("%-10s %12s" % ("function", ours) + "".join(" %24s" % p for p in peers))
    for f in funcs:
        if (ours, f) not in res:
            continue
        o = res[(ours, f)]["median_regret"]
        if k >= len(o):
            continue
        line = "%-10s %12s" % (f, g(o[k]))
        for p in peers:
            r = res.get((p, f))
            if not r:
                line += " %24s" % "-"
                continue
            v = r["median_regret"][k]
            ratio = "inf" if v == 0 and o[k] > 0 else ("1" if v == 0 else g(o[k] / v))
            line += " %24s" % ("%s (%s)" % (g(v), ratio))
        print(line)
    print()
print("milliseconds per trial, median over seeds (ratio: jianmo-bayes / peer)")
print("%-10s %12s" % ("function", ours) + "".join(" %24s" % p for p in peers))
for f in funcs:
    if (ours, f) not in res:
        continue
    o = res[(ours, f)]["ms_per_trial"]
    line = "%-10s %12s" % (f, o)
    for p in peers:
        r = res.get((p, f))
        line += " %24s" % ("%s (%s)" % (r["ms_per_trial"], g(o / r["ms_per_trial"]) if r["ms_per_trial"] else "-") if r else "-")
    print(line)
print()
if at100:
    print("jianmo-bayes, milliseconds for the proposal made at 100 observations (median of searches)")
    for f in funcs + ["all"]:
        if f in at100:
            print("%-10s %8.2f" % (f, at100[f]))
'
