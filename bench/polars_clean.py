"""Peer: polars on ../shared/peers/pandas_clean.py's recipe.

Usage: POLARS_PYTHON bench/polars_clean.py DATA.csv
       (polars from PyPI in a virtualenv: python3 -m venv /tmp/polars-venv &&
        /tmp/polars-venv/bin/pip install polars)

The same stages and summary values as pandas_clean.py, in polars' idiom:
  read:     read_csv with the NA tokens this file uses ("", "NA", "nan") and
            polars' default schema inference (the first 100 rows): polars at
            its fastest.  pandas' full NA list costs polars about 1.6x here,
            and inferring from every row (as pandas and jianmo do) about 7x.
  clean:    f1..f6 nulls -> median; amount clipped to mean +/- 3 std (ddof=1)
  features: z-scores (ddof=0), one-hot category, per-user rolling(7) mean/std
            of amount in file order (min_periods = 7, std ddof=1), f1..f3
            pairwise products
"""
import json
import sys
import time

import polars as pl

path = sys.argv[1]
T = {}
t = time.perf_counter()
df = pl.read_csv(path, null_values=["", "NA", "nan"])
T["read_csv"] = time.perf_counter() - t

t = time.perf_counter()
fcols = ["f1", "f2", "f3", "f4", "f5", "f6"]
missing_before = int(sum(df[c].null_count() for c in fcols))
df = df.with_columns([pl.col(c).fill_null(pl.col(c).median()) for c in fcols])
m, s = df["amount"].mean(), df["amount"].std()
clipped = int(((df["amount"] < m - 3 * s) | (df["amount"] > m + 3 * s)).sum())
df = df.with_columns(pl.col("amount").clip(m - 3 * s, m + 3 * s))
T["clean"] = time.perf_counter() - t
after_clean = {c: float(df[c].mean()) for c in fcols + ["amount"]}

t = time.perf_counter()
df = df.with_columns([((pl.col(c) - pl.col(c).mean()) / pl.col(c).std(ddof=0)).alias(c + "_z")
                      for c in fcols + ["amount"]])
df = pl.concat([df, df.select("category").to_dummies()], how="horizontal")
df = df.with_columns([
    pl.col("amount").rolling_mean(7).over("user_id").alias("amount_roll7_mean"),
    pl.col("amount").rolling_std(7).over("user_id").alias("amount_roll7_std"),
])
df = df.with_columns([(pl.col(a) * pl.col(b)).alias(a + "*" + b)
                      for a, b in [("f1", "f2"), ("f1", "f3"), ("f2", "f3")]])
T["features"] = time.perf_counter() - t

rows = df.height
for k, v in T.items():
    print(json.dumps({"peer": "polars-" + pl.__version__, "stage": k, "seconds": round(v, 4),
                      "rows_per_s": round(rows / v)}))
print(json.dumps({"rows": rows, "missing_filled": missing_before, "amount_clipped": clipped,
                  "means_after_clean": after_clean,
                  "roll7_mean_mean": float(df["amount_roll7_mean"].mean()),
                  "roll7_std_mean": float(df["amount_roll7_std"].mean()),
                  "f1*f2_mean": float(df["f1*f2"].mean()),
                  "onehot_games_sum": float(df["category_games"].sum())}))
