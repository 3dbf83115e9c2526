-- jianmo store, schema version 1.  Embedded into the binary (the build
-- generates store/schema.h from this file); applied by store.c's migration
-- list as the step from version 0 (an empty file) to 1.  Later versions are
-- new migration steps, never edits to this file once released (version 2,
-- store.c store_schema_v2: runs.number, runs.resumed, runs.prior and the
-- trigger that numbers trials).
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
  pid       INTEGER,               -- owning process while running
  host      TEXT,                  -- its host name
  proc_start INTEGER,              -- its start time, clock ticks since boot
                                   -- (/proc/PID/stat field 22), so a reused
                                   -- pid is told apart (crash check)
  boot_id   TEXT,                  -- /proc/sys/kernel/random/boot_id then
  started   REAL,                  -- when the run (last) started; from v2
                                   -- its first start (see resumed, prior)
  ended     REAL,                  -- set by terminal states
  seed      INTEGER,               -- uint64 stored as its int64 bit pattern
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

-- Metric points.  A point is one row of metric_points (no run, no key, no
-- index: appending is all a flush does) inside a span: metric_spans says
-- that ids first..last of metric_points all belong to (run, key).  The
-- metric writer commits each (run, key)'s buffered points as one contiguous
-- range and one span, so a history is read span by span with id range
-- scans.  (A per-point (run, key, step) index made every insert 3x slower;
-- bench/bench_store.c measures both.)
--
-- Read points through the `metrics` view (run, key, step, value, wall; add
-- ORDER BY step, or join the two tables ordering by metric_points.id for
-- the exact logging order).  Inserting into the view also works (a
-- trigger extends or opens spans: bundle import) but does not touch
-- metric_summary.  Points go when their span goes, spans when their run
-- goes.
CREATE TABLE metric_points (
  id    INTEGER PRIMARY KEY,        -- the rowid, kept stable by VACUUM
  step  INTEGER NOT NULL,
  value REAL,                       -- NULL when the value was NaN
  wall  REAL NOT NULL               -- when it was logged
);

CREATE TABLE metric_spans (
  run   INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key   TEXT NOT NULL,
  first INTEGER NOT NULL,           -- metric_points ids first..last
  last  INTEGER NOT NULL,
  PRIMARY KEY (run, key, first)
) WITHOUT ROWID;
CREATE INDEX metric_spans_last ON metric_spans(run, key, last);

CREATE TRIGGER metric_spans_delete AFTER DELETE ON metric_spans BEGIN
  DELETE FROM metric_points WHERE id BETWEEN OLD.first AND OLD.last;
END;

CREATE VIEW metrics(run, key, step, value, wall) AS
  SELECT s.run, s.key, p.step, p.value, p.wall
  FROM metric_spans AS s JOIN metric_points AS p
    ON p.id BETWEEN s.first AND s.last;

CREATE TRIGGER metrics_insert INSTEAD OF INSERT ON metrics BEGIN
  INSERT INTO metric_points(step, value, wall)
    VALUES (NEW.step, NEW.value, NEW.wall);
  UPDATE metric_spans SET last = last_insert_rowid()
    WHERE run = NEW.run AND key = NEW.key AND last = last_insert_rowid() - 1;
  INSERT INTO metric_spans(run, key, first, last)
    SELECT NEW.run, NEW.key, last_insert_rowid(), last_insert_rowid()
    WHERE changes() = 0;
END;

-- One row per (run, key), kept current by the metric writer on every flush,
-- so listing and comparing never scans metrics.  last/last_step: the point
-- logged last; min/max over the points that are numbers (NULL while there
-- are none); count: all points, NaN included.
CREATE TABLE metric_summary (
  run        INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  key        TEXT NOT NULL,
  last       REAL,                  -- NULL when the last value was NaN
  last_step  INTEGER NOT NULL,
  min        REAL,
  max        REAL,
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
