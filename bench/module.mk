# Benchmarks beside the peers (see docs/BENCHMARKS.md); programs are built
# by `make` (noinst), the scripts run them.
EXTRA_DIST += bench/bench_train.sh bench/peer_cnn_steps.py bench/bench_cuda.sh \
	bench/json_field.sh bench/bench_predict.sh bench/peer_predict.py

# What bounds the AdamW pass (docs/BENCHMARKS.md, the MLP step).
noinst_PROGRAMS += bench/adam_order
bench_adam_order_SOURCES = bench/adam_order.c
bench_adam_order_CFLAGS = $(AM_CFLAGS) -fno-math-errno
bench_adam_order_LDADD = -lm

# A plugin layer against the same built-in layer per training step
# (bench/bench_plugin.sh runs it with the swish plugin; docs/BENCHMARKS.md).
noinst_PROGRAMS += bench/bench_plugin
bench_bench_plugin_SOURCES = bench/bench_plugin.c
bench_bench_plugin_LDADD = libjm_engine.a libjm_util.a $(JM_DEP_LIBS)
EXTRA_DIST += bench/bench_plugin.sh

# CutMix/MixUp per batch beside PyTorch (bench/bench_augment.sh).
noinst_PROGRAMS += bench/bench_augment
bench_bench_augment_SOURCES = bench/bench_augment.c
bench_bench_augment_LDADD = libjm_pipeline.a libjm_engine.a libjm_data.a libjm_util.a $(JM_DEP_LIBS)
EXTRA_DIST += bench/bench_augment.sh bench/peer_augment.py
# The candidates for examples/fmnist-best.flow, run by gpu-pack's `best`.
EXTRA_DIST += bench/best/resnet.flow bench/best/resnet-long.flow bench/best/wide-cnn.flow

# Adam and AdamW state against PyTorch's, bit for bit (bench/optim_parity.sh).
noinst_PROGRAMS += bench/optim_parity
bench_optim_parity_SOURCES = bench/optim_parity.c
bench_optim_parity_LDADD = libjm_engine.a libjm_util.a $(JM_DEP_LIBS)
EXTRA_DIST += bench/optim_parity.sh
