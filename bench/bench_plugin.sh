#!/bin/sh
# bench/bench_plugin.sh: the cost of a plugin layer against the same
# built-in layer per training step (bench/bench_plugin.c): the swish
# plugin at beta = 1 against the built-in SiLU, in the same CNN.
#
#   bench/bench_plugin.sh [ROUNDS [STEPS]]
#
# Run from a build tree (or set JIANMO_BUILD): builds bench/bench_plugin
# and the swish plugin there, then prints both step times and the ratio.
set -eu
build=${JIANMO_BUILD:-$(pwd)}
make -C "$build" -s bench/bench_plugin tests/plugins/examples/swish.so
JIANMO_PLUGIN_PATH="$build/tests/plugins/examples" XDG_DATA_HOME=/nonexistent \
	OPENBLAS_NUM_THREADS=1 "$build/bench/bench_plugin" "$@"
