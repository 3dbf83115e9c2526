#!/bin/sh
# bench/bench_predict.sh: `jianmo predict` beside PyTorch doing the same job
# (bench/peer_predict.py, Debian's python3-torch on the same OpenBLAS),
# same machine, same sitting, one thread each.
#
#   bench/bench_predict.sh [images] [csv]        (default: images csv)
#
#   images  a run of examples/fmnist-mlp.flow trained for 1 epoch (only
#           inference matters), then `jianmo predict RUN
#           t10k-images-idx3-ubyte.gz --proba --out FILE` on the 10,000
#           Fashion-MNIST test images
#   csv     a generated CSV (ROWS rows, default 200,000: 20 numeric
#           columns and a 3-class label), a run on it (mlp 64,32,
#           [features] standardize = *, 1 epoch), then `jianmo predict RUN
#           DATA.csv --proba --out FILE` on the same CSV (it has the
#           target, so both sides also score accuracy and log loss)
#
# Each job is timed as whole processes, wall clock, launched the same way
# from this shell: REPS (default 5) rounds, jianmo then the peer in each
# round, after one warm-up of each that is not counted (page cache); the
# median of each side and the ratio jianmo / peer (below 1: jianmo is
# faster).  Start-up costs count for both (the peer's imports of torch and,
# for the CSV, pandas).  The peer's own in-process time after its imports
# is printed too, for reference.  Then the peer runs once more with --check
# on jianmo's output: same class on >= 99.9% of rows and probabilities
# within 1e-4, or the benchmark fails (a comparison of different work is
# worthless).
#
# One thread: OPENBLAS_NUM_THREADS=1, the runs train with train.threads=1
# (predict takes the run's threads), torch.set_num_threads(1).
# OPENBLAS_CORETYPE is left as the environment has it.
#
# Needs: a built jianmo (JIANMO_BIN, default ./jianmo), /usr/bin/python3
# with torch, numpy and pandas, dataset-fashion-mnist.  Prints plain lines
# and a JSON line per job.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
data=/usr/share/datasets/fashion-mnist
py=${PYTHON:-/usr/bin/python3}
jm=${JIANMO_BIN:-$top/jianmo}
peer=$top/bench/peer_predict.py
reps=${REPS:-5}
rows=${ROWS:-200000}
[ $# -gt 0 ] || set -- images csv
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
home=$tmp/home

OPENBLAS_NUM_THREADS=1
export OPENBLAS_NUM_THREADS

. "$top/bench/json_field.sh"

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "openblas: $("$jm" doctor | sed -n 's/^blas: *//p'); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; OPENBLAS_NUM_THREADS=1"
echo "peer: $($py -c 'import torch, numpy, pandas; print("torch", torch.__version__, "numpy", numpy.__version__, "pandas", pandas.__version__)')"

now() { date +%s%N; }
# the CPU time (user + system) of each timed process, where GNU time is
# there (both sides pay its fork and exec); the wall time is taken outside
if [ -x /usr/bin/time ]; then
	cpu_time() { out=$1; shift; /usr/bin/time -a -o "$out" -f '%U %S' "$@"; }
else
	cpu_time() { shift; "$@"; }
fi

# bench JOB RUN DATA: time jianmo and the peer on one job, check, report
bench() {
	job=$1 run=$2 src=$3
	rundir=$home/runs/$run
	# the two commands, each whole process timed (cpu_time: its CPU time)
	ours() { cpu_time "$1" "$jm" --home "$home" predict "$run" "$src" --proba --out "$tmp/ours.csv"; }
	theirs() { cpu_time "$1" "$py" "$peer" "$job" "$rundir" "$src" "$tmp/peer.csv" 1; }
	ours /dev/null 2> "$tmp/ours.err"          # warm-ups, not counted
	theirs /dev/null > /dev/null
	: > "$tmp/peer.json"
	: > "$tmp/ours.cpu"
	: > "$tmp/peer.cpu"
	ow="" pw=""
	for _ in $(seq "$reps"); do
		t0=$(now)
		ours "$tmp/ours.cpu" 2> "$tmp/ours.err"
		t1=$(now)
		theirs "$tmp/peer.cpu" >> "$tmp/peer.json"
		t2=$(now)
		ow="$ow $(((t1 - t0) / 1000))"
		pw="$pw $(((t2 - t1) / 1000))"
	done
	echo "jianmo: $(cat "$tmp/ours.err")"
	"$py" "$peer" "$job" "$rundir" "$src" "$tmp/peer-check.csv" 1 --check "$tmp/ours.csv" \
		> "$tmp/check.json"
	$py - "$job" "$tmp/peer.json" "$tmp/check.json" "$ow" "$pw" "$tmp/ours.cpu" "$tmp/peer.cpu" <<'PY'
import json, statistics, sys
job, peer_json, check_json, ow, pw, ours_cpu, peer_cpu = sys.argv[1:]
def cpu(path):  # user + system seconds per run, from GNU time (none: [])
    return [sum(map(float, l.split())) for l in open(path) if l.strip()]
oc, pc = cpu(ours_cpu), cpu(peer_cpu)
ours = [int(v) / 1e6 for v in ow.split()]
wall = [int(v) / 1e6 for v in pw.split()]
runs = [json.loads(l) for l in open(peer_json) if l.startswith("{")]
inproc = [r["in_process_s"] for r in runs]
imp = [r["import_s"] for r in runs]
chk = json.loads(open(check_json).read())
m_ours, m_peer, m_in = statistics.median(ours), statistics.median(wall), statistics.median(inproc)
fmt = lambda v: ", ".join(f"{x:.3f}" for x in v)
phases = {k: statistics.median(r[k] for r in runs)
          for k in ("model_s", "read_s", "prep_s", "forward_s", "write_s")}
print(f"{job}: {chk['rows']} rows, --proba")
print(f"  jianmo predict          {m_ours:.3f} s wall (median of {len(ours)}: {fmt(ours)})")
print(f"  pytorch peer            {m_peer:.3f} s wall (median of {len(wall)}: {fmt(wall)})")
print(f"  peer in-process         {m_in:.3f} s after its imports ({statistics.median(imp):.3f} s of imports); "
      + ", ".join(f"{k[:-2]} {v:.3f}" for k, v in phases.items()))
if oc and pc:
    print(f"  CPU time (user+sys)     jianmo {statistics.median(oc):.3f} s, peer {statistics.median(pc):.3f} s "
          f"(medians); ratio {statistics.median(oc) / statistics.median(pc):.3f}")
print(f"  ratio jianmo / peer     {m_ours / m_peer:.3f} (wall, both processes whole); "
      f"{m_ours / m_in:.3f} against the peer's in-process time")
c = chk["check"]
print(f"  agreement               same class on {100 * c['same_class']:.3f}% of rows, "
      f"largest probability difference {c['max_proba_diff']:.2e}"
      + (f"; accuracy {chk['accuracy']}, log loss {chk['log_loss']}" if "accuracy" in chk else ""))
print(json.dumps({"bench": f"predict-{job}", "rows": chk["rows"], "jianmo_s": round(m_ours, 4),
                  "peer_s": round(m_peer, 4), "peer_in_process_s": round(m_in, 4),
                  "peer_import_s": round(statistics.median(imp), 4),
                  "ratio": round(m_ours / m_peer, 4), "ratio_in_process": round(m_ours / m_in, 4),
                  "jianmo_cpu_s": round(statistics.median(oc), 3) if oc else None,
                  "peer_cpu_s": round(statistics.median(pc), 3) if pc else None,
                  "same_class": c["same_class"], "max_proba_diff": c["max_proba_diff"],
                  "threads": 1}))
PY
}

train() { # train FLOW ARGS...: the run's id
	"$jm" --home "$home" --batch "$@" --set train.threads=1 --set train.epochs=1 --json |
		grep '"event":"end"' | field run
}

for what in "$@"; do
case $what in
images)
	run=$(train "$top/examples/fmnist-mlp.flow")
	bench images "$run" "$data/t10k-images-idx3-ubyte.gz"
	;;
csv)
	$py - "$tmp/data.csv" "$rows" <<'PY'
import sys, numpy as np
out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(7)
X = rng.normal(size=(n, 20)) * rng.uniform(0.5, 50, 20) + rng.uniform(-100, 100, 20)
w = rng.normal(size=(20, 3)) / X.std(0)[:, None]
z = (X - X.mean(0)) @ w + rng.normal(scale=0.8, size=(n, 3))
y = np.array(["alpha", "beta", "gamma"])[z.argmax(1)]
with open(out, "w") as f:
    f.write(",".join([f"x{i}" for i in range(20)] + ["label"]) + "\n")
    f.writelines(",".join(f"{v:.6g}" for v in X[r]) + "," + y[r] + "\n" for r in range(n))
PY
	cat > "$tmp/tab.flow" <<EOF
[data]
source = $tmp/data.csv
target = label
[features]
standardize = *
[split]
val = 0.1
test = 0.1
[model]
type = mlp
hidden = 64,32
act = relu
[train]
batch = 256
optimizer = adamw
lr = 0.003
seed = 1
EOF
	run=$(train "$tmp/tab.flow")
	echo "csv: $rows rows x 20 columns + label, $(($(wc -c < "$tmp/data.csv") / 1000)) kB"
	bench csv "$run" "$tmp/data.csv"
	;;
*) echo "bench_predict.sh: unknown benchmark \"$what\"" >&2; exit 2 ;;
esac
done
