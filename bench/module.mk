# Benchmarks beside the peers (see docs/BENCHMARKS.md); programs are built
# by `make` (noinst), the scripts run them.
EXTRA_DIST += bench/bench_train.sh bench/peer_cnn_steps.py

# CutMix/MixUp per batch beside PyTorch (bench/bench_augment.sh).
noinst_PROGRAMS += bench/bench_augment
bench_bench_augment_SOURCES = bench/bench_augment.c
bench_bench_augment_LDADD = libjm_pipeline.a libjm_engine.a libjm_data.a libjm_util.a $(JM_DEP_LIBS)
EXTRA_DIST += bench/bench_augment.sh bench/peer_augment.py
