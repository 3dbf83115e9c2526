#!/bin/sh
# bench/bench_augment.sh: CutMix/MixUp beside PyTorch, and what augmentation
# costs a training epoch; same machine, same sitting.
#
#   bench/bench_augment.sh [ops] [gpu] [overhead [REPS]]     (default: ops)
#
#   ops       ms per batch of CutMix/MixUp (256x1x28x28 and 64x3x224x224;
#             the peer's mix, CutMix only, MixUp only): bench/bench_augment
#             at 1 and 2 worker threads beside bench/peer_augment.py (the
#             cutmix_mixup of ../shared/peers/torch_fmnist.py) at 1 and 2
#             torch threads; the best of each, and the ratio
#   gpu       the same on a GPU, jianmo's CUDA backend beside the peer's
#             function on CUDA tensors (eager), each round timed to the
#             device's end (issue 8's goal: 3x the peer's 0.166 ms per
#             256x1x28x28 batch)
#   overhead  the CNN example (examples/fmnist-cnn.flow) for 1 epoch on
#             [data] limit = 10000, with its CutMix/MixUp and without,
#             REPS times each (default 3), alternating: seconds per epoch
#             (training steps only) and CPU ms per step, medians
#
# Needs: a built jianmo and bench/bench_augment (JIANMO_BIN, default
# ./jianmo), /usr/bin/python3 with torch, ../shared/peers/torch_fmnist.py,
# and for `overhead` dataset-fashion-mnist.  Prints plain lines and one
# JSON line per comparison.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
peers=${JIANMO_PEERS:-$top/../shared/peers}
py=${PYTHON:-/usr/bin/python3}
jm=${JIANMO_BIN:-$top/jianmo}
bench=$(dirname "$jm")/bench/bench_augment   # built beside jianmo
[ $# -gt 0 ] || set -- ops
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"

while [ $# -gt 0 ]; do
case $1 in
ops|gpu)
	if [ "$1" = gpu ]; then
		"$bench" 1 cuda > "$tmp/ours.json"
		$py "$top/bench/peer_augment.py" "$peers" 1 cuda > "$tmp/peer.json"
	else
		for t in 1 2; do "$bench" $t; done > "$tmp/ours.json"
		for t in 1 2; do $py "$top/bench/peer_augment.py" "$peers" $t; done > "$tmp/peer.json"
	fi
	$py - "$tmp/ours.json" "$tmp/peer.json" <<'PY'
import json, sys
def best(path):
    b = {}
    for l in open(path):
        if l.startswith("{"):
            d = json.loads(l)
            k = (d["mix"], "x".join(map(str, d["shape"])))
            if k not in b or d["ms_per_batch"] < b[k]["ms_per_batch"]:
                b[k] = d
    return b
ours, peer = best(sys.argv[1]), best(sys.argv[2])
for k in ours:
    o, p = ours[k], peer[k]
    r = p["ms_per_batch"] / o["ms_per_batch"]
    dev = o.get("device", "cpu")
    print(f"{k[1]:>14} {k[0]:>12}: jianmo {o['ms_per_batch']:.4f} ms ({dev}, {o['threads']} thread), "
          f"pytorch {p['ms_per_batch']:.4f} ms ({p.get('device', 'cpu')}, {p['threads']} thread): "
          f"{r:.1f}x faster")
    print(json.dumps({"bench": "augment", "device": dev, "shape": k[1], "mix": k[0],
                      "jianmo_ms": o["ms_per_batch"],
                      "jianmo_threads": o["threads"], "pytorch_ms": p["ms_per_batch"],
                      "pytorch_threads": p["threads"], "pytorch": p["impl"], "speedup": round(r, 2)}))
PY
	shift
	;;
overhead)
	reps=3
	case ${2:-} in [0-9]*) reps=$2; shift ;; esac
	for i in $(seq "$reps"); do
		for arm in on off; do
			extra=""
			[ $arm = off ] && extra="--set augment.cutmix=0 --set augment.mixup=0"
			"$jm" --home "$tmp/home" --batch "$top/examples/fmnist-cnn.flow" --json \
				--set train.epochs=1 --set data.limit=10000 $extra | grep '"event":"epoch"' >> "$tmp/$arm.json"
		done
	done
	$py - "$tmp/on.json" "$tmp/off.json" <<'PY'
import json, statistics, sys
def stats(path):
    s, c = [], []
    for l in open(path):
        d = json.loads(l)
        s.append(d["step"] * 256 / d["samples_per_s"])   # seconds of training steps
        c.append(d["step_cpu_ms"])
    return s, c
on, off = stats(sys.argv[1]), stats(sys.argv[2])
for name, (s, c) in (("with CutMix/MixUp", on), ("without", off)):
    print(f"{name:>18}: {statistics.median(s):.2f} s per epoch (runs: {', '.join(f'{v:.2f}' for v in s)}), "
          f"{statistics.median(c):.1f} ms CPU per step")
ws = statistics.median(on[0]) / statistics.median(off[0]) - 1
wc = statistics.median(on[1]) / statistics.median(off[1]) - 1
print(f"overhead: {100 * ws:+.2f}% wall per epoch, {100 * wc:+.2f}% CPU per step")
print(json.dumps({"bench": "augment-overhead", "runs": len(on[0]), "on_s": statistics.median(on[0]),
                  "off_s": statistics.median(off[0]), "on_cpu_ms": statistics.median(on[1]),
                  "off_cpu_ms": statistics.median(off[1]), "wall_overhead": round(ws, 4),
                  "cpu_overhead": round(wc, 4)}))
PY
	shift
	;;
*) echo "bench_augment.sh: unknown benchmark \"$1\"" >&2; exit 2 ;;
esac
done
