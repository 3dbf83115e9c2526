# Benchmarks beside the peers (see docs/BENCHMARKS.md); programs are built
# by `make` (noinst), the scripts run them.
EXTRA_DIST += bench/bench_train.sh bench/peer_cnn_steps.py

# What bounds the AdamW pass (docs/BENCHMARKS.md, the MLP step).
noinst_PROGRAMS += bench/adam_order
bench_adam_order_SOURCES = bench/adam_order.c
bench_adam_order_CFLAGS = $(AM_CFLAGS) -fno-math-errno
bench_adam_order_LDADD = -lm
