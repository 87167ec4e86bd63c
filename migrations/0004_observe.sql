-- gempool schema, version 4: what operators watch (GET /metrics, the admin page's charts).
-- Only added columns and one new table, so every existing row stays valid. ALTER TABLE has no
-- IF NOT EXISTS: the guest's migrator treats "duplicate column name" as already applied, so
-- two instances migrating at once stay harmless.

-- Attempt outcomes besides `rate_limited` (`errors` still counts every attempt that was not
-- ok): the key was refused (invalid, suspended), the upstream answered 5xx, no answer in time.
ALTER TABLE key_usage ADD COLUMN invalid INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN overloaded INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN timeouts INTEGER NOT NULL DEFAULT 0;

-- Latency of ok attempts (start of the attempt to the end of the answer): the sum, and
-- non-cumulative histogram buckets by upper bound in seconds (above 120 s: the ok count minus
-- the buckets).
ALTER TABLE key_usage ADD COLUMN ok_latency_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN lat_le_1 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN lat_le_2 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN lat_le_5 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN lat_le_10 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN lat_le_20 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN lat_le_60 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN lat_le_120 INTEGER NOT NULL DEFAULT 0;

-- Attempts (hNN) and 429s (qNN) per UTC hour of the row's day: the admin page's 24-hour chart
-- without an hourly table to write and prune.
ALTER TABLE key_usage ADD COLUMN h00 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h01 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h02 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h03 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h04 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h05 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h06 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h07 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h08 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h09 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h10 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h11 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h12 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h13 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h14 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h15 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h16 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h17 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h18 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h19 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h20 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h21 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h22 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN h23 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q00 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q01 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q02 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q03 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q04 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q05 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q06 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q07 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q08 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q09 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q10 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q11 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q12 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q13 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q14 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q15 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q16 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q17 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q18 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q19 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q20 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q21 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q22 INTEGER NOT NULL DEFAULT 0;
ALTER TABLE key_usage ADD COLUMN q23 INTEGER NOT NULL DEFAULT 0;

-- Requests of a client that did not succeed, by final status class (`requests` stays the
-- successful ones).
ALTER TABLE client_usage ADD COLUMN rejected_4xx INTEGER NOT NULL DEFAULT 0;
ALTER TABLE client_usage ADD COLUMN rate_limited INTEGER NOT NULL DEFAULT 0;
ALTER TABLE client_usage ADD COLUMN failed_5xx INTEGER NOT NULL DEFAULT 0;

-- Requests refused before the upstream, per UTC day and reason (unauthenticated, rate_limited, ...).
CREATE TABLE IF NOT EXISTS refusals (
    day      TEXT    NOT NULL,
    reason   TEXT    NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, reason)
);

-- The file records its own version, so a database migrated by `wrangler d1 migrations apply`
-- (which runs each file whole, keeping its own table) is at this version for the component too.
INSERT OR IGNORE INTO schema_migrations (version, name, applied_at) VALUES (4, '0004_observe', strftime('%s', 'now') * 1000);
