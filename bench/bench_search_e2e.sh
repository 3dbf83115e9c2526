#!/bin/sh
# bench/bench_search_e2e.sh: the issue's end-to-end check of the search:
# with the same trial budget and three seeds each, is bayes's median best
# validation accuracy above random's?  Searches examples/fmnist-search.flow
# (the MLP over train.lr = loguniform(1e-5, 1e-2), train.batch =
# choice(32, 64, 128), model.dropout = uniform(0.1, 0.5)) with
# [search] method = bayes and = random, [search] seed = each of SEEDS, and
# prints one row per search and the medians.
#
#   bench/bench_search_e2e.sh                 (the affordable protocol)
#   FULL=1 bench/bench_search_e2e.sh          (the flow as written)
#
# The affordable protocol (the default) keeps the flow but trains each
# trial on the first LIMIT training images (default 12000: 10800 train,
# 1200 validation) for EPOCHS epochs (default 3), so that 6 searches of
# TRIALS trials (default 20) fit in minutes on two cores.  FULL=1 uses the
# whole training set and the flow's 5 epochs (hours on two cores).
#
# Every search runs with workers = 1 and prune = none, so each is
# deterministic (the same seed gives the same trials), and JOBS searches
# (default 2) run at once, each in its own store under a temporary
# directory (KEEP=DIR keeps them there instead).
#
# Needs: jianmo built (found as ./jianmo in the current directory, beside
# this script's parent, or as $JIANMO), sqlite3, the Debian package
# dataset-fashion-mnist.  Run it from the build directory:
#     cd /tmp/build-x && /path/to/jianmo/bench/bench_search_e2e.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
flow=$top/examples/fmnist-search.flow
seeds=${SEEDS:-1 2 3}
trials=${TRIALS:-20}
jobs=${JOBS:-2}
limit=${LIMIT:-12000}
epochs=${EPOCHS:-3}

bin=${JIANMO:-}
for cand in ./jianmo "$top/jianmo"; do
	[ -n "$bin" ] && break
	[ -x "$cand" ] && bin=$(cd "$(dirname "$cand")" && pwd)/jianmo
done
if [ -z "$bin" ]; then
	echo "bench_search_e2e.sh: build jianmo first (run me from the build directory)" >&2
	exit 2
fi
command -v sqlite3 >/dev/null || { echo "bench_search_e2e.sh: needs sqlite3" >&2; exit 2; }

if [ -n "${KEEP:-}" ]; then
	tmp=$KEEP
	mkdir -p "$tmp"
else
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
fi

sets="--set search.trials=$trials --set search.workers=1 --set search.prune=none"
if [ "${FULL:-0}" = 1 ]; then
	protocol="the flow as written (all 54000 training images, 5 epochs)"
else
	sets="$sets --set data.limit=$limit --set train.epochs=$epochs"
	protocol="SHORTENED: [data] limit = $limit (90% train, 10% validation), $epochs epochs per trial"
fi

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "flow: $flow"
echo "protocol: $trials trials per search, seeds: $seeds; $protocol"
echo "each: $bin --batch fmnist-search.flow --set search.method=M --set search.seed=S $sets"

# one search: method seed -> $tmp/M-S/ (store) and $tmp/M-S.out (its output)
one() {
	start=$(date +%s)
	"$bin" --home "$tmp/$1-$2" --batch "$flow" --set "search.method=$1" \
		--set "search.seed=$2" $sets >"$tmp/$1-$2.out" 2>&1 || {
		echo "search $1 seed $2 failed; its output:" >&2
		tail -5 "$tmp/$1-$2.out" >&2
		return 1
	}
	echo $(($(date +%s) - start)) >"$tmp/$1-$2.secs"
}

pids=""
n=0
for s in $seeds; do
	for m in bayes random; do
		one "$m" "$s" &
		pids="$pids $!"
		n=$((n + 1))
		if [ "$n" -ge "$jobs" ]; then
			for p in $pids; do wait "$p"; done
			pids=""
			n=0
		fi
	done
done
for p in $pids; do wait "$p"; done

q() { sqlite3 "$tmp/$1/jianmo.db" "$2"; }
echo
printf '%-7s %4s  %14s  %9s  %-40s %7s\n' method seed best_val_acc best_run "best params" seconds
for m in bayes random; do
	for s in $seeds; do
		d=$m-$s
		best=$(q "$d" "SELECT printf('%.4f', last) FROM metric_summary WHERE run = 1 AND key = 'val_acc'")
		run=$(q "$d" "SELECT r.id FROM runs r JOIN metric_summary m ON m.run = r.id AND m.key = 'val_acc' WHERE r.parent = 1 AND r.status = 'done' ORDER BY m.max DESC, r.id LIMIT 1")
		params=$(q "$d" "SELECT group_concat(key || '=' || printf('%.3g', value), ' ') FROM (SELECT key, value FROM params WHERE run = $run AND key IN ('train.lr', 'train.batch', 'model.dropout') ORDER BY key)")
		printf '%-7s %4s  %14s  %9s  %-40s %7s\n' "$m" "$s" "$best" "$run" "$params" "$(cat "$tmp/$d.secs")"
		echo "$best" >>"$tmp/$m.best"
	done
done

median() { sort -n "$1" | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
mb=$(median "$tmp/bayes.best")
mr=$(median "$tmp/random.best")
echo
echo "median best val_acc over seeds ($seeds): bayes $mb, random $mr"
echo "bayes above random: $(awk -v a="$mb" -v b="$mr" 'BEGIN {print (a > b) ? "yes" : "no"}') (difference $(awk -v a="$mb" -v b="$mr" 'BEGIN {printf "%+.4f", a - b}'))"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
