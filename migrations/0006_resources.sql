-- gempool schema, version 6: which pool key holds each upstream resource.
-- Files, cached contents, batches and long-running operations live in the Google project of
-- the key that created them; another key's project cannot see them. Every resource created
-- through gempool is remembered here with its key, so every later request naming it (and a
-- generateContent that references it) goes to that key whatever the strategy.
CREATE TABLE IF NOT EXISTS resources (
    -- The upstream name: `files/abc`, `cachedContents/x`, `batches/y`,
    -- `models/{m}/operations/z`, or `uploads/<gempool id>` for a resumable upload in progress.
    name TEXT PRIMARY KEY,
    -- `files`, `cachedContents`, `batches`, `operations`, `uploads`.
    kind TEXT NOT NULL,
    -- The pool key holding it. A deleted key takes its resources with it.
    key_id INTEGER NOT NULL REFERENCES upstream_keys(id) ON DELETE CASCADE,
    -- The client key that created it; NULL for an open or admin caller. A client sees only
    -- its own resources.
    client_id INTEGER,
    -- For an upload in progress: the upstream's path and query of the upload session.
    upstream TEXT,
    created_ms INTEGER NOT NULL,
    -- When Google drops it (files: 48 h; caches: their TTL; uploads: a week); NULL: never.
    expires_ms INTEGER
);
CREATE INDEX IF NOT EXISTS resources_by_kind ON resources (kind, client_id, created_ms);

-- The file records its own version, so a database migrated by `wrangler d1 migrations apply`
-- (which runs each file whole, keeping its own table) is at this version for the component too.
INSERT OR IGNORE INTO schema_migrations (version, name, applied_at) VALUES (6, '0006_resources', strftime('%s', 'now') * 1000);
