#!/bin/sh
# bench/bench_tui.sh [BUILD_DIR]: the workbench's drawing speed (bench_tui.c):
# first Compare frame on 10,000 runs x 20 metrics, and a live monitor frame at
# 200x50.  No other terminal tool draws the same screens from the same store,
# so the figures are set beside the goals instead of a peer.
set -eu
build=${1:-.}
"$build/bench/bench_tui" 10000 20 | tee /tmp/bench_tui.$$.out
awk '/first Compare frame \(10000 runs, 200x50\)/ {
		for (i = 1; i < NF; i++) if ($i == "median") printf "first Compare frame / 200 ms goal: %.2f\n", $(i+1) / 200 }
     /live monitor/ {
		for (i = 2; i < NF; i++) if ($i == "ms" && $(i+1) == "per" && $(i+2) == "frame") printf "monitor frame / 2 ms goal: %.3f\n", $(i-1) / 2 }' \
	/tmp/bench_tui.$$.out
rm -f /tmp/bench_tui.$$.out
