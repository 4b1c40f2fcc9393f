"""The results store's schema: each migration step, in order (``PRAGMA user_version``)."""

from __future__ import annotations

# Each entry upgrades the schema by one version; never edit a released step.
MIGRATIONS: list[str] = [
    # 1: repositories, commits, runs, per-operation statistics
    """
    CREATE TABLE repositories (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE
    );
    CREATE TABLE commits (
        id INTEGER PRIMARY KEY,
        repo_id INTEGER NOT NULL REFERENCES repositories(id),
        sha TEXT NOT NULL,
        parent TEXT,
        branch TEXT,
        UNIQUE (repo_id, sha)
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        repo_id INTEGER NOT NULL REFERENCES repositories(id),
        commit_sha TEXT NOT NULL,
        base_sha TEXT,
        branch TEXT,
        profile TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'running',
        started_at REAL NOT NULL,
        finished_at REAL,
        config_hash TEXT,
        script_hash TEXT,
        spec_hash TEXT,
        environment TEXT NOT NULL DEFAULT '{}',
        verdict TEXT,
        report_path TEXT
    );
    CREATE INDEX runs_by_commit ON runs (repo_id, commit_sha);
    CREATE TABLE operation_stats (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        operation TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (run_id, operation)
    );
    """,
    # 2: per-second series, histograms, errors by status, A/B blocks, resource
    #    samples, gate outcomes and findings; run kind and baseline link
    """
    ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'single';
    ALTER TABLE runs ADD COLUMN baseline_run_id INTEGER REFERENCES runs(id);
    CREATE TABLE series (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        operation TEXT NOT NULL,
        second INTEGER NOT NULL,
        count INTEGER NOT NULL,
        failures INTEGER NOT NULL,
        p50 REAL, p90 REAL, p95 REAL, p99 REAL, max REAL,
        PRIMARY KEY (run_id, operation, second)
    );
    CREATE TABLE histograms (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        operation TEXT NOT NULL,
        encoding TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (run_id, operation)
    );
    CREATE TABLE errors (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        operation TEXT NOT NULL,
        status TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (run_id, operation, status)
    );
    CREATE TABLE blocks (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        side TEXT NOT NULL,
        block INTEGER NOT NULL,
        operation TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (run_id, side, block, operation)
    );
    CREATE TABLE resources (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        target TEXT NOT NULL,
        ts REAL NOT NULL,
        cpu_percent REAL NOT NULL,
        rss_bytes INTEGER NOT NULL
    );
    CREATE INDEX resources_by_run ON resources (run_id, target, ts);
    CREATE TABLE gate_outcomes (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        gate TEXT NOT NULL,
        operation TEXT NOT NULL,
        level TEXT NOT NULL,
        value REAL,
        passed INTEGER,
        decisive INTEGER NOT NULL DEFAULT 0,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE findings (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        operation TEXT,
        message TEXT NOT NULL,
        data TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX runs_by_branch ON runs (repo_id, branch, status)
    """,
    # 3: each interleaved block's latency histogram, for the pooled-quantile test
    """
    ALTER TABLE blocks ADD COLUMN histogram TEXT
    """,
    # 4: a few failed exchanges per operation (plog_ci.runner.exchanges), redacted
    """
    CREATE TABLE exchanges (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        operation TEXT NOT NULL,
        seq INTEGER NOT NULL,
        data TEXT NOT NULL
    )
    """,
    # 5: the dashboard's live data (plog_ci.store.live): each second of the whole run
    #    (merged histograms) and of each side of a side-by-side run; the stage the run
    #    is in; structured documents of a finished run (comparisons, API changes)
    """
    CREATE TABLE live_points (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        side TEXT NOT NULL,
        operation TEXT NOT NULL,
        second INTEGER NOT NULL,
        count INTEGER NOT NULL,
        failures INTEGER NOT NULL,
        p50 REAL, p90 REAL, p95 REAL, p99 REAL, max REAL,
        PRIMARY KEY (run_id, side, operation, second)
    );
    CREATE TABLE run_progress (
        run_id INTEGER PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
        stage TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT '',
        done REAL,
        total REAL,
        stage_started REAL NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE run_documents (
        run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (run_id, name)
    )
    """,
    # 6: a container's cgroup counters beside each resource sample (NULL for processes):
    #    CFS periods and throttled periods, throttled seconds, OOM kills, running
    """
    ALTER TABLE resources ADD COLUMN periods INTEGER;
    ALTER TABLE resources ADD COLUMN throttled_periods INTEGER;
    ALTER TABLE resources ADD COLUMN throttled_s REAL;
    ALTER TABLE resources ADD COLUMN oom_kills INTEGER;
    ALTER TABLE resources ADD COLUMN running INTEGER
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
