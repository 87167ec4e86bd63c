-- gempool schema, version 7: model fallback chains in the request log, and the cached model list.
-- ALTER TABLE has no IF NOT EXISTS: the runner treats "duplicate column name" as already applied.

-- The model the client asked for, when a model of its fallback chain (settings rows
-- `fallback:<model>`) served the request; `model` is the one that served it.
ALTER TABLE request_log ADD COLUMN fallback_from TEXT;

-- The upstream's model list per pool and API version, refreshed at most hourly, so listing
-- models (native, OpenAI and Anthropic) costs no upstream quota. `pool` is `stored` for the
-- stored pool, `own:<hash>` for a pure-proxy caller's own keys; `body` is the whole list as
-- Gemini's ListModelsResponse JSON (every page merged).
CREATE TABLE IF NOT EXISTS model_lists (
    pool       TEXT    NOT NULL,
    version    TEXT    NOT NULL,
    fetched_at INTEGER NOT NULL,
    body       TEXT    NOT NULL,
    PRIMARY KEY (pool, version)
);

-- The file records its own version, so a database migrated by `wrangler d1 migrations apply`
-- (which runs each file whole, keeping its own table) is at this version for the component too.
INSERT OR IGNORE INTO schema_migrations (version, name, applied_at) VALUES (7, '0007_fallbacks', strftime('%s', 'now') * 1000);
