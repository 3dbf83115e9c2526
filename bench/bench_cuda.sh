#!/bin/sh
# bench/bench_cuda.sh: jianmo on the GPU beside PyTorch's strongest
# configuration (../shared/peers/torch_fmnist_strong.py: the whole step in
# one CUDA graph, fp32 and bf16), same machine, same sitting (issue 8).
#
#   bench/bench_cuda.sh [mlp] [cnn]     (default: both)
#
#   mlp   examples/fmnist-mlp.flow (784-256-128-10, batch 128, 5 epochs)
#   cnn   examples/fmnist-cnn.flow with CutMix/MixUp off (the peer's CNN
#         trains without them), 15 epochs
#
# Prints, per model and precision (jianmo's [train] precision = fp32
# beside the peer's fp32 graph, bf16 beside its bf16 autocast graph), each
# side's training samples/s and test accuracy and the ratio, and jianmo's
# fp32 once more with its CUDA graphs off (JIANMO_CUDA_GRAPHS=0) and, for
# the CNN, bf16 once more with im2col convolutions (JIANMO_CUDA_CONV=im2col)
# instead of implicit GEMMs and once with the channels-inner implicit GEMMs
# (JIANMO_CUDA_CONV=ci); then a JSON line.  Needs a GPU,
# python3 with torch, and Fashion-MNIST in /usr/share/datasets/fashion-mnist
# (on the device machine tools/gpu-pack's run.sh puts it there).  Set
# JIANMO_BIN (default ./jianmo) and JIANMO_PEERS (default ../shared/peers,
# or .gpu/peers when packed).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
jm=${JIANMO_BIN:-./jianmo}
peers=${JIANMO_PEERS:-$top/../shared/peers}
data=/usr/share/datasets/fashion-mnist
py=${PYTHON:-python3}
[ $# -gt 0 ] || set -- mlp cnn
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

. "$top/bench/json_field.sh"

if ! $py "$peers/torch_fmnist_strong.py" "$data" > "$tmp/peer.json" 2> "$tmp/peer.err"; then
	echo "bench_cuda.sh: the peer failed:" >&2
	tail -n 3 "$tmp/peer.err" >&2
	exit 1
fi
echo "gpu: $(field gpu < "$tmp/peer.json")"
for what in "$@"; do
	case $what in
	mlp) model=mlp-784-256-128-10 flow=fmnist-mlp extra= ;;
	cnn) model=cnn5-bn flow=fmnist-cnn extra="--set augment.cutmix=0 --set augment.mixup=0" ;;
	*) echo "bench_cuda.sh: unknown benchmark \"$what\" (mlp, cnn)" >&2; exit 2 ;;
	esac
	grep "\"model\": \"$model\"" "$tmp/peer.json" > "$tmp/peer-$what.json"
	p32=$(grep '"bf16": false' "$tmp/peer-$what.json" | field samples_per_s)
	a32=$(grep '"bf16": false' "$tmp/peer-$what.json" | field test_acc)
	p16=$(grep '"bf16": true' "$tmp/peer-$what.json" | field samples_per_s)
	a16=$(grep '"bf16": true' "$tmp/peer-$what.json" | field test_acc)
	variants="fp32 bf16 fp32-nograph"
	[ "$what" = cnn ] && variants="$variants bf16-im2col bf16-ci"
	for prec in $variants; do
		rm -rf "$tmp/home"
		graphs=1 conv=
		case $prec in
		*-nograph) graphs=0 ;;
		*-im2col) conv=im2col ;;
		*-ci) conv=ci ;;
		esac
		# shellcheck disable=SC2086
		JIANMO_CUDA_GRAPHS=$graphs JIANMO_CUDA_CONV=$conv "$jm" --home "$tmp/home" \
			--batch "$top/examples/$flow.flow" --device cuda --json \
			--set train.precision=${prec%-*} $extra \
			> "$tmp/ours-$what-$prec.json" 2> "$tmp/ours-$what-$prec.err"
		grep -h 'CUDA graph' "$tmp/ours-$what-$prec.json" "$tmp/ours-$what-$prec.err" |
			sed "s/^/$what $prec: /" | head -n 2
	done
	s32=$(field samples_per_s < "$tmp/ours-$what-fp32.json")
	b32=$(field test_acc < "$tmp/ours-$what-fp32.json")
	s16=$(field samples_per_s < "$tmp/ours-$what-bf16.json")
	b16=$(field test_acc < "$tmp/ours-$what-bf16.json")
	echo "$what fp32: jianmo $s32 samples/s (test acc $b32); pytorch CUDA graph fp32 $p32 ($a32): ratio $($py -c "print(round($s32 / $p32, 3))")"
	echo "$what bf16: jianmo $s16 samples/s (test acc $b16); pytorch CUDA graph bf16 $p16 ($a16): ratio $($py -c "print(round($s16 / $p16, 3))")"
	sng=$(field samples_per_s < "$tmp/ours-$what-fp32-nograph.json")
	echo "$what fp32 without CUDA graphs: jianmo $sng samples/s (graphs: $($py -c "print(round($s32 / $sng, 3))")x)"
	if [ "$what" = cnn ]; then
		sic=$(field samples_per_s < "$tmp/ours-$what-bf16-im2col.json")
		echo "$what bf16 with im2col convolutions: jianmo $sic samples/s (implicit GEMM: $($py -c "print(round($s16 / $sic, 3))")x)"
		sci=$(field samples_per_s < "$tmp/ours-$what-bf16-ci.json")
		bci=$(field test_acc < "$tmp/ours-$what-bf16-ci.json")
		echo "$what bf16 with channels-inner implicit GEMMs: jianmo $sci samples/s (test acc $bci; $($py -c "print(round($sci / $s16, 3))")x the default)"
	fi
	echo "{\"bench\":\"cuda-$what\",\"jianmo_fp32_samples_per_s\":$s32,\"jianmo_fp32_test_acc\":$b32,\"jianmo_bf16_samples_per_s\":$s16,\"jianmo_bf16_test_acc\":$b16,\"jianmo_fp32_nograph_samples_per_s\":$sng,\"pytorch_fp32_graph_samples_per_s\":$p32,\"pytorch_fp32_graph_test_acc\":$a32,\"pytorch_bf16_graph_samples_per_s\":$p16,\"pytorch_bf16_graph_test_acc\":$a16}"
done
