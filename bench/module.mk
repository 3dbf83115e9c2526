# Benchmarks beside the peers (see docs/BENCHMARKS.md); programs are built
# by `make` (noinst), the scripts run them.
EXTRA_DIST += bench/bench_train.sh bench/peer_cnn_steps.py
