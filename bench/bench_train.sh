#!/bin/sh
# bench/bench_train.sh: jianmo beside PyTorch (Debian's python3-torch, on the
# same OpenBLAS) on Fashion-MNIST, same machine, same sitting.
#
#   bench/bench_train.sh [mlp] [cnn] [mlp-acc] [cnn-acc]    (default: mlp cnn)
#
#   mlp      samples/s of the MLP 784-256-128-10 (batch 128, AdamW), 1 epoch,
#            both at 1 and 2 threads (each side's best is used for the ratio);
#            plus jianmo's GEMM-only time for one step at the same shapes
#            against its one-thread step, in three one-epoch runs: the
#            median step's CPU time (the run's step_cpu_median_ms) against
#            the median of as many back-to-back repetitions of the GEMMs as
#            an epoch has steps (like for like: a typical step, typical
#            GEMMs), and the mean step (step_cpu_ms) against the GEMMs'
#            fastest repetition (the strictest pairing); each the median of
#            three runs, the GEMMs timed after each epoch
#   mlp-acc  both at 5 epochs, test accuracy (the peer's full script is
#            stopped once its MLP line is out)
#   cnn      samples/s of the CNN (batch 256, AdamW) over 40 steps
#   cnn-acc  jianmo's CNN example at its 15 epochs, CutMix/MixUp off (long:
#            ~20+ min on 2 cores)
#
# Needs: a built jianmo and bench/bench_ops (JIANMO_BIN, default ./jianmo), /usr/bin/python3 with torch,
# ../shared/peers/torch_fmnist.py, dataset-fashion-mnist.  Prints plain lines
# and a JSON line per comparison.  Leaves OPENBLAS_* as the environment has
# them: the peer and jianmo share that OpenBLAS.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
peers=${JIANMO_PEERS:-$top/../shared/peers}
data=/usr/share/datasets/fashion-mnist
py=/usr/bin/python3
jm=${JIANMO_BIN:-$top/jianmo}
ops=$(dirname "$jm")/bench/bench_ops   # built beside jianmo
# The example trains on CutMix/MixUp batches; the peer's CNN here does
# not, so these comparisons turn it off (bench_augment.sh measures it).
noaug="--set augment.cutmix=0 --set augment.mixup=0"
[ $# -gt 0 ] || set -- mlp cnn
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

. "$top/bench/json_field.sh"

ours() { # ours FLOW ARGS...: run jianmo --json, print its JSON lines
	flow=$1; shift
	"$jm" --home "$tmp/home" --batch "$flow" --json "$@"
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "openblas: $("$jm" doctor | sed -n 's/^blas: *//p'); OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"

for what in "$@"; do
case $what in
mlp)
	best=0
	for t in 1 2; do
		s=$($py "$peers/torch_fmnist.py" "$data" cpu quick "$t" | grep '"model"' | field samples_per_s)
		echo "pytorch mlp, $t thread(s): $s samples/s"
		[ "$s" -gt "$best" ] && best=$s
	done
	ours_best=0
	for t in 1 2; do
		ours "$top/examples/fmnist-mlp.flow" --set train.epochs=1 --set train.threads=$t \
			> "$tmp/mlp.json"
		s=$(field samples_per_s < "$tmp/mlp.json" | cut -d. -f1)
		echo "jianmo  mlp, $t thread(s): $s samples/s ($(field step_cpu_ms < "$tmp/mlp.json") ms CPU per step on the main thread)"
		[ "$s" -gt "$ours_best" ] && ours_best=$s
		[ "$t" = 1 ] && cpus=$(field step_cpu_ms < "$tmp/mlp.json") &&
			meds=$(field step_cpu_median_ms < "$tmp/mlp.json")
		[ "$t" = 2 ] && s2=$s
	done
	s=$ours_best
	ratio=$($py -c "print(round($s / $best, 3))")
	echo "ratio (jianmo best / pytorch best): $ratio"
	# the one-thread step against its GEMMs: two more epochs for a median,
	# each epoch followed by the GEMMs alone, so both sample the same spells
	# of the host's load
	gemm_once() {
		OPENBLAS_NUM_THREADS=1 "$ops" mlp-gemm 2>/dev/null > "$tmp/gemm.json"
		gfast="$gfast $(field step_ms < "$tmp/gemm.json")"
		gmeds="$gmeds $(field median_ms < "$tmp/gemm.json")"
	}
	gfast= gmeds=
	gemm_once
	for k in 2 3; do
		ours "$top/examples/fmnist-mlp.flow" --set train.epochs=1 --set train.threads=1 \
			> "$tmp/mlp.json"
		cpus="$cpus $(field step_cpu_ms < "$tmp/mlp.json")"
		meds="$meds $(field step_cpu_median_ms < "$tmp/mlp.json")"
		gemm_once
	done
	mid() { $py -c "import sys; v = sorted(map(float, sys.argv[1:])); print(round(v[1], 4))" "$@"; }
	cpu=$(mid $cpus)
	med=$(mid $meds)
	gemm=$(mid $gfast)
	gemm_med=$(mid $gmeds)
	sg=$($py -c "print(round($med / $gemm_med, 3))")
	sgf=$($py -c "print(round($cpu / $gemm, 3))")
	echo "jianmo mlp one-thread step: median $med ms CPU (runs: $meds), mean $cpu ms (runs: $cpus)"
	echo "jianmo mlp GEMMs alone: median $gemm_med ms (runs: $gmeds), fastest $gemm ms (runs: $gfast)"
	echo "step / GEMMs: $sg (median step / median GEMMs), $sgf (mean step / fastest GEMMs)"
	# two threads: the wall-clock step against the same GEMMs split the same way
	gemm2=$(JIANMO_WORKERS=2 "$ops" mlp-gemm 2>/dev/null | field median_ms)
	step2=$($py -c "print(round(1000 * 128 / $s2, 4))")
	echo "jianmo mlp at 2 threads: $step2 ms per step (wall), GEMMs alone $gemm2 ms (median); step / GEMMs: $($py -c "print(round($step2 / $gemm2, 3))")"
	echo "{\"bench\":\"train-mlp\",\"jianmo_samples_per_s\":$s,\"pytorch_samples_per_s\":$best,\"ratio\":$ratio,\"step_cpu_ms\":$cpu,\"step_cpu_median_ms\":$med,\"gemm_ms_per_step\":$gemm_med,\"gemm_fastest_ms\":$gemm,\"step_over_gemm\":$sg,\"step_over_gemm_fastest\":$sgf}"
	;;
mlp-acc)
	# the peer's full run: take its first (MLP, 5 epochs) line, then stop it
	$py -u "$peers/torch_fmnist.py" "$data" cpu full 1 > "$tmp/peer.json" &
	pid=$!
	until grep -q '"model": "mlp' "$tmp/peer.json" 2>/dev/null; do sleep 1; done
	kill $pid 2>/dev/null || true
	pacc=$(grep '"model": "mlp' "$tmp/peer.json" | field test_acc)
	ps=$(grep '"model": "mlp' "$tmp/peer.json" | field samples_per_s)
	ours "$top/examples/fmnist-mlp.flow" > "$tmp/mlp5.json"
	acc=$(field test_acc < "$tmp/mlp5.json")
	s=$(field samples_per_s < "$tmp/mlp5.json" | cut -d. -f1)
	echo "mlp 5 epochs: jianmo test_acc $acc ($s samples/s), pytorch test_acc $pacc ($ps samples/s, 1 thread)"
	echo "{\"bench\":\"train-mlp-5ep\",\"jianmo_test_acc\":$acc,\"pytorch_test_acc\":$pacc,\"jianmo_samples_per_s\":$s,\"pytorch_samples_per_s\":$ps}"
	;;
cnn)
	best=0
	for t in 1 2; do
		s=$($py "$top/bench/peer_cnn_steps.py" "$data" 40 "$t" | field samples_per_s)
		echo "pytorch cnn, $t thread(s): $s samples/s"
		[ "$s" -gt "$best" ] && best=$s
	done
	ours_best=0
	for t in 1 2; do
		# 40 steps of 256: 11520 images, less the 10% validation part
		ours "$top/examples/fmnist-cnn.flow" --set train.epochs=1 --set data.limit=11378 \
			--set train.threads=$t $noaug > "$tmp/cnn.json"
		s=$(field samples_per_s < "$tmp/cnn.json" | cut -d. -f1)
		echo "jianmo  cnn, $t thread(s): $s samples/s ($(field step_cpu_ms < "$tmp/cnn.json") ms CPU per step)"
		[ "$s" -gt "$ours_best" ] && ours_best=$s
	done
	ratio=$($py -c "print(round($ours_best / $best, 3))")
	echo "ratio (jianmo best / pytorch best): $ratio"
	echo "{\"bench\":\"train-cnn\",\"jianmo_samples_per_s\":$ours_best,\"pytorch_samples_per_s\":$best,\"ratio\":$ratio}"
	;;
cnn-acc)
	ours "$top/examples/fmnist-cnn.flow" $noaug > "$tmp/cnn15.json"
	acc=$(field test_acc < "$tmp/cnn15.json")
	s=$(field samples_per_s < "$tmp/cnn15.json" | cut -d. -f1)
	echo "cnn 15 epochs: jianmo test_acc $acc ($s samples/s)"
	echo "{\"bench\":\"train-cnn-15ep\",\"jianmo_test_acc\":$acc,\"jianmo_samples_per_s\":$s}"
	;;
*) echo "bench_train.sh: unknown benchmark \"$what\"" >&2; exit 2 ;;
esac
done
