-- Key ids are never reused: a key added after another was deleted must not inherit the
-- deleted key's usage history. New ids come from this counter, which starts above every id
-- the database has seen (keys, usage rows, the request log).
INSERT OR IGNORE INTO counters (name, value) VALUES ('key_id', (
    SELECT MAX(
        COALESCE((SELECT MAX(id) FROM upstream_keys), 0),
        COALESCE((SELECT MAX(key_id) FROM key_usage), 0),
        COALESCE((SELECT MAX(key_id) FROM request_log), 0),
        COALESCE((SELECT MAX(key_id) FROM cooldowns), 0)
    )
));

-- The file records its own version, so a database migrated by `wrangler d1 migrations apply`
-- (which runs each file whole, keeping its own table) is at this version for the component too.
INSERT OR IGNORE INTO schema_migrations (version, name, applied_at) VALUES (3, '0003_key_ids', strftime('%s', 'now') * 1000);
