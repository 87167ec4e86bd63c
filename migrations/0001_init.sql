-- gempool schema, version 1. SQLite dialect; also valid on libSQL and Cloudflare D1.
-- Applied by the guest on first use and by the bundled host at start; every statement is
-- idempotent so concurrent first requests cannot trip over each other.
-- Times are unix milliseconds. Time-based state is an expiry timestamp, never reset by a job.

CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL,
    applied_at INTEGER NOT NULL
);

-- Name/value settings: pool strategy and thresholds, model aliases, the admin key's hash.
CREATE TABLE IF NOT EXISTS settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row per Gemini API key in the pool.
CREATE TABLE IF NOT EXISTS upstream_keys (
    id                   INTEGER PRIMARY KEY,
    secret               TEXT    NOT NULL UNIQUE,
    label                TEXT,
    project              TEXT,
    weight               INTEGER NOT NULL DEFAULT 1,
    enabled              INTEGER NOT NULL DEFAULT 1,
    disabled_reason      TEXT,
    disabled_at          INTEGER,
    created_at           INTEGER NOT NULL,
    last_used_at         INTEGER,
    last_status          INTEGER,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    breaker_open_until   INTEGER,
    validated_at         INTEGER,
    validation           TEXT,
    -- Recent outcomes for the adaptive strategy: exponentially weighted over about
    -- `adaptive_window` attempts (success 1/0, latency to the response head).
    ewma_success         REAL    NOT NULL DEFAULT 1.0,
    ewma_latency_ms      REAL    NOT NULL DEFAULT 0,
    ewma_samples         INTEGER NOT NULL DEFAULT 0
);

-- Per-(key, model) cooldowns with the upstream's reason; `strikes` counts consecutive 429s.
CREATE TABLE IF NOT EXISTS cooldowns (
    key_id  INTEGER NOT NULL REFERENCES upstream_keys(id) ON DELETE CASCADE,
    model   TEXT    NOT NULL,
    until   INTEGER NOT NULL,
    reason  TEXT    NOT NULL,
    strikes INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (key_id, model)
);

-- Usage per (key, model, UTC day).
CREATE TABLE IF NOT EXISTS key_usage (
    key_id           INTEGER NOT NULL,
    model            TEXT    NOT NULL,
    day              TEXT    NOT NULL,
    requests         INTEGER NOT NULL DEFAULT 0,
    errors           INTEGER NOT NULL DEFAULT 0,
    rate_limited     INTEGER NOT NULL DEFAULT 0,
    prompt_tokens    INTEGER NOT NULL DEFAULT 0,
    candidate_tokens INTEGER NOT NULL DEFAULT 0,
    thought_tokens   INTEGER NOT NULL DEFAULT 0,
    latency_ms_total INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, model, day)
);

-- Access keys handed to clients, stored as SHA-256 hashes.
CREATE TABLE IF NOT EXISTS client_keys (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL,
    key_hash       TEXT    NOT NULL UNIQUE,
    key_hint       TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    revoked_at     INTEGER,
    expires_at     INTEGER,
    allowed_models TEXT,
    rpm            INTEGER,
    rpd            INTEGER,
    tpm            INTEGER
);

-- Usage per (client key, model, UTC day). client_id 0 is open access.
CREATE TABLE IF NOT EXISTS client_usage (
    client_id     INTEGER NOT NULL,
    model         TEXT    NOT NULL,
    day           TEXT    NOT NULL,
    requests      INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, model, day)
);

-- Pool-wide counters (the round-robin ticket).
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO counters (name, value) VALUES ('round_robin', 0);

-- A bounded log of recent requests for the admin page.
CREATE TABLE IF NOT EXISTS request_log (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    client_id  INTEGER,
    key_id     INTEGER,
    model      TEXT,
    protocol   TEXT,
    status     INTEGER NOT NULL,
    attempts   INTEGER NOT NULL,
    latency_ms INTEGER NOT NULL,
    error      TEXT
);
CREATE INDEX IF NOT EXISTS request_log_at ON request_log (at);

-- The file records its own version, so a database migrated by `wrangler d1 migrations apply`
-- (which runs each file whole, keeping its own table) is at this version for the component too.
INSERT OR IGNORE INTO schema_migrations (version, name, applied_at) VALUES (1, '0001_init', strftime('%s', 'now') * 1000);
