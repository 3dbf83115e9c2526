-- jianmo store, schema version 1.  Embedded into the binary (store/schema.h
-- is generated from this file); applied by store.c's migration list.
-- Times are Unix seconds as REAL (sub-second precision).

CREATE TABLE flows (
  id      INTEGER PRIMARY KEY,
  name    TEXT NOT NULL,            -- file name or user-given name
  text    TEXT NOT NULL,            -- the flow as run (after --set overrides)
  sha256  TEXT NOT NULL UNIQUE,     -- of text; identical flows are stored once
  created REAL NOT NULL
);

CREATE TABLE runs (
  id        INTEGER PRIMARY KEY,
  kind      TEXT NOT NULL CHECK (kind IN ('run','search','trial')),
  parent    INTEGER REFERENCES runs(id) ON DELETE CASCADE,
  flow_id   INTEGER REFERENCES flows(id),
  name      TEXT,
  status    TEXT NOT NULL CHECK (status IN
              ('queued','running','done','failed','stopped','pruned','crashed')),
  pid       INTEGER,
  host      TEXT,
  started   REAL,                  -- process start time (crash check)
  ended     REAL,
  seed      INTEGER,
  device    TEXT,
  error     TEXT,
  created   REAL NOT NULL
);
CREATE INDEX runs_parent ON runs(parent);
CREATE INDEX runs_status ON runs(status);

CREATE TABLE params (
  run   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key   TEXT NOT NULL,              -- "section.key", e.g. "train.lr"
  value TEXT NOT NULL,              -- as written; numbers compare numerically
  PRIMARY KEY (run, key)
) WITHOUT ROWID;

CREATE TABLE metrics (
  run   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key   TEXT NOT NULL,
  step  INTEGER NOT NULL,
  value REAL NOT NULL,
  wall  REAL NOT NULL
);
CREATE INDEX metrics_run_key ON metrics(run, key, step);

-- One row per (run, key), kept current by the metric writer on every flush,
-- so listing and comparing never scans metrics.
CREATE TABLE metric_summary (
  run        INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key        TEXT NOT NULL,
  last       REAL NOT NULL,
  last_step  INTEGER NOT NULL,
  min        REAL NOT NULL,
  max        REAL NOT NULL,
  count      INTEGER NOT NULL,
  PRIMARY KEY (run, key)
) WITHOUT ROWID;

CREATE TABLE artifacts (
  run     INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  name    TEXT NOT NULL,             -- e.g. "model.safetensors"
  path    TEXT NOT NULL,             -- relative to the store home
  bytes   INTEGER NOT NULL,
  sha256  TEXT NOT NULL,
  created REAL NOT NULL,
  PRIMARY KEY (run, name)
) WITHOUT ROWID;

CREATE TABLE tags (
  run INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  tag TEXT NOT NULL,
  PRIMARY KEY (run, tag)
) WITHOUT ROWID;
