-- gempool schema, version 2: client rate windows and pure-proxy statistics.

-- Fixed-window counters for client key limits: `window` is 'm<unix minute>' (RPM, TPM) or
-- 'd<YYYY-MM-DD>' (RPD). Rows past `expires` are deleted now and then.
CREATE TABLE IF NOT EXISTS client_windows (
    client_id INTEGER NOT NULL,
    window    TEXT    NOT NULL,
    requests  INTEGER NOT NULL DEFAULT 0,
    tokens    INTEGER NOT NULL DEFAULT 0,
    expires   INTEGER NOT NULL,
    PRIMARY KEY (client_id, window)
);
CREATE INDEX IF NOT EXISTS client_windows_expires ON client_windows (expires);

-- Pure-proxy mode: usage of keys that clients bring themselves, known only by a hash.
CREATE TABLE IF NOT EXISTS proxy_key_usage (
    key_hash      TEXT    NOT NULL,
    model         TEXT    NOT NULL,
    day           TEXT    NOT NULL,
    requests      INTEGER NOT NULL DEFAULT 0,
    errors        INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_hash, model, day)
);

-- The file records its own version, so a database migrated by `wrangler d1 migrations apply`
-- (which runs each file whole, keeping its own table) is at this version for the component too.
INSERT OR IGNORE INTO schema_migrations (version, name, applied_at) VALUES (2, '0002_client_limits', strftime('%s', 'now') * 1000);
