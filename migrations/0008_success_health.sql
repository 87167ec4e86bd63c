-- gempool schema, version 8: what a success teaches the pool about its key rides in the
-- request-log row too, so a successful request stays one write under every strategy; a client's
-- ended limit windows are dropped by the statement that opens a new one.
-- ALTER TABLE has no IF NOT EXISTS: the runner treats "duplicate column name" as already applied.

-- The adaptive strategy's weight for this outcome (2 / (window + 1)); NULL: another strategy,
-- nothing to learn.
ALTER TABLE request_log ADD COLUMN adaptive_alpha REAL;
-- The latency the adaptive strategy learns from: the successful attempt's time to its answer
-- (a whole reply read, a stream's headers), not the stream's length.
ALTER TABLE request_log ADD COLUMN adaptive_ms INTEGER;
-- 1: the key had strikes or a cooldown for this model, which the success forgets: the
-- cooldown it had (ended before the attempt started), never one another request set since.
ALTER TABLE request_log ADD COLUMN clears_cooldown INTEGER NOT NULL DEFAULT 0;

CREATE TRIGGER IF NOT EXISTS request_log_key_health AFTER INSERT ON request_log
WHEN NEW.ok_ms IS NOT NULL AND NEW.key_id IS NOT NULL AND (NEW.adaptive_alpha IS NOT NULL OR NEW.clears_cooldown)
BEGIN
    UPDATE upstream_keys SET ewma_success = ewma_success + NEW.adaptive_alpha * (1.0 - ewma_success),
        ewma_latency_ms = CASE WHEN ewma_samples = 0 THEN NEW.adaptive_ms
            ELSE ewma_latency_ms + NEW.adaptive_alpha * (NEW.adaptive_ms - ewma_latency_ms) END,
        ewma_samples = ewma_samples + 1
    WHERE id = NEW.key_id AND NEW.adaptive_alpha IS NOT NULL AND NEW.adaptive_ms IS NOT NULL;
    -- `at + latency_ms - ok_ms` is when the successful attempt started (`at` is the request's
    -- start, `latency_ms` the request's length, `ok_ms` the attempt's).
    DELETE FROM cooldowns WHERE key_id = NEW.key_id AND model = NEW.model AND NEW.clears_cooldown
        AND until <= NEW.at + NEW.latency_ms - NEW.ok_ms;
END;

-- A client's first request (or tokens) of a new minute drops every client's ended windows, in
-- the statement that counts it, rather than in a statement of its own: a window ended once its
-- `expires` is at or before the new minute's start (its own `expires` less a minute).
CREATE TRIGGER IF NOT EXISTS client_windows_expire AFTER INSERT ON client_windows
WHEN NEW.window LIKE 'm%'
BEGIN
    DELETE FROM client_windows WHERE expires <= NEW.expires - 60000;
END;

-- The file records its own version, so a database migrated by `wrangler d1 migrations apply`
-- (which runs each file whole, keeping its own table) is at this version for the component too.
INSERT OR IGNORE INTO schema_migrations (version, name, applied_at) VALUES (8, '0008_success_health', strftime('%s', 'now') * 1000);
