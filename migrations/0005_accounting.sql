-- gempool schema, version 5: one write per successful request.
-- The request log's row of a successful request carries every figure of it, and the triggers
-- below add them to the counters (per key, per client, per pure-proxy key, the client's token
-- window) in the same statement: one INSERT is one implicit transaction, so the request's
-- accounting is written whole or not at all, and concurrent requests never lose an update.
-- ALTER TABLE has no IF NOT EXISTS: the guest's migrator treats "duplicate column name" as
-- already applied. Trigger bodies hold several statements: the guest's splitter keeps a
-- CREATE TRIGGER whole up to its END.

-- The UTC day and hour (0-23) the successful attempt started in.
ALTER TABLE request_log ADD COLUMN day TEXT;
ALTER TABLE request_log ADD COLUMN hour INTEGER;
-- The answer's tokens (Gemini's usageMetadata).
ALTER TABLE request_log ADD COLUMN prompt_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE request_log ADD COLUMN candidate_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE request_log ADD COLUMN thought_tokens INTEGER NOT NULL DEFAULT 0;
-- The successful attempt's latency (its start to the end of the answer). NULL: the row
-- accounts for no successful attempt (a refusal, a failure) and the triggers leave it alone.
ALTER TABLE request_log ADD COLUMN ok_ms INTEGER;
-- Pure-proxy mode: the short hash of the client's own key that answered.
ALTER TABLE request_log ADD COLUMN proxy_key TEXT;

CREATE TRIGGER IF NOT EXISTS request_log_counts_key AFTER INSERT ON request_log
WHEN NEW.ok_ms IS NOT NULL AND NEW.key_id IS NOT NULL AND NEW.model IS NOT NULL AND NEW.day IS NOT NULL
BEGIN
    INSERT INTO key_usage (key_id, model, day, requests, prompt_tokens, candidate_tokens, thought_tokens,
        latency_ms_total, ok_latency_ms, lat_le_1, lat_le_2, lat_le_5, lat_le_10, lat_le_20, lat_le_60, lat_le_120,
        h00, h01, h02, h03, h04, h05, h06, h07, h08, h09, h10, h11, h12, h13, h14, h15, h16, h17, h18, h19, h20, h21, h22, h23)
    VALUES (NEW.key_id, NEW.model, NEW.day, 1, NEW.prompt_tokens, NEW.candidate_tokens, NEW.thought_tokens,
        NEW.ok_ms, NEW.ok_ms,
        NEW.ok_ms <= 1000,
        NEW.ok_ms > 1000 AND NEW.ok_ms <= 2000,
        NEW.ok_ms > 2000 AND NEW.ok_ms <= 5000,
        NEW.ok_ms > 5000 AND NEW.ok_ms <= 10000,
        NEW.ok_ms > 10000 AND NEW.ok_ms <= 20000,
        NEW.ok_ms > 20000 AND NEW.ok_ms <= 60000,
        NEW.ok_ms > 60000 AND NEW.ok_ms <= 120000,
        NEW.hour = 0, NEW.hour = 1, NEW.hour = 2, NEW.hour = 3, NEW.hour = 4, NEW.hour = 5,
        NEW.hour = 6, NEW.hour = 7, NEW.hour = 8, NEW.hour = 9, NEW.hour = 10, NEW.hour = 11,
        NEW.hour = 12, NEW.hour = 13, NEW.hour = 14, NEW.hour = 15, NEW.hour = 16, NEW.hour = 17,
        NEW.hour = 18, NEW.hour = 19, NEW.hour = 20, NEW.hour = 21, NEW.hour = 22, NEW.hour = 23)
    ON CONFLICT (key_id, model, day) DO UPDATE SET requests = requests + 1,
        prompt_tokens = prompt_tokens + excluded.prompt_tokens,
        candidate_tokens = candidate_tokens + excluded.candidate_tokens,
        thought_tokens = thought_tokens + excluded.thought_tokens,
        latency_ms_total = latency_ms_total + excluded.latency_ms_total,
        ok_latency_ms = ok_latency_ms + excluded.ok_latency_ms,
        lat_le_1 = lat_le_1 + excluded.lat_le_1,
        lat_le_2 = lat_le_2 + excluded.lat_le_2,
        lat_le_5 = lat_le_5 + excluded.lat_le_5,
        lat_le_10 = lat_le_10 + excluded.lat_le_10,
        lat_le_20 = lat_le_20 + excluded.lat_le_20,
        lat_le_60 = lat_le_60 + excluded.lat_le_60,
        lat_le_120 = lat_le_120 + excluded.lat_le_120,
        h00 = h00 + excluded.h00, h01 = h01 + excluded.h01, h02 = h02 + excluded.h02, h03 = h03 + excluded.h03,
        h04 = h04 + excluded.h04, h05 = h05 + excluded.h05, h06 = h06 + excluded.h06, h07 = h07 + excluded.h07,
        h08 = h08 + excluded.h08, h09 = h09 + excluded.h09, h10 = h10 + excluded.h10, h11 = h11 + excluded.h11,
        h12 = h12 + excluded.h12, h13 = h13 + excluded.h13, h14 = h14 + excluded.h14, h15 = h15 + excluded.h15,
        h16 = h16 + excluded.h16, h17 = h17 + excluded.h17, h18 = h18 + excluded.h18, h19 = h19 + excluded.h19,
        h20 = h20 + excluded.h20, h21 = h21 + excluded.h21, h22 = h22 + excluded.h22, h23 = h23 + excluded.h23;
END;

CREATE TRIGGER IF NOT EXISTS request_log_counts_client AFTER INSERT ON request_log
WHEN NEW.ok_ms IS NOT NULL AND NEW.client_id IS NOT NULL AND NEW.model IS NOT NULL AND NEW.day IS NOT NULL
BEGIN
    INSERT INTO client_usage (client_id, model, day, requests, prompt_tokens, output_tokens)
    VALUES (NEW.client_id, NEW.model, NEW.day, 1, NEW.prompt_tokens, NEW.candidate_tokens + NEW.thought_tokens)
    ON CONFLICT (client_id, model, day) DO UPDATE SET requests = requests + 1,
        prompt_tokens = prompt_tokens + excluded.prompt_tokens,
        output_tokens = output_tokens + excluded.output_tokens;
    -- Tokens count against the minute the answer ended in, for clients with a TPM limit.
    INSERT INTO client_windows (client_id, window, tokens, expires)
    SELECT NEW.client_id, 'm' || ((NEW.at + NEW.latency_ms) / 60000),
        NEW.prompt_tokens + NEW.candidate_tokens + NEW.thought_tokens,
        ((NEW.at + NEW.latency_ms) / 60000 + 1) * 60000
    WHERE NEW.prompt_tokens + NEW.candidate_tokens + NEW.thought_tokens > 0
        AND EXISTS (SELECT 1 FROM client_keys WHERE id = NEW.client_id AND tpm IS NOT NULL)
    ON CONFLICT (client_id, window) DO UPDATE SET tokens = tokens + excluded.tokens;
END;

CREATE TRIGGER IF NOT EXISTS request_log_counts_proxy_key AFTER INSERT ON request_log
WHEN NEW.ok_ms IS NOT NULL AND NEW.proxy_key IS NOT NULL AND NEW.model IS NOT NULL AND NEW.day IS NOT NULL
BEGIN
    INSERT INTO proxy_key_usage (key_hash, model, day, requests, errors, prompt_tokens, output_tokens)
    VALUES (NEW.proxy_key, NEW.model, NEW.day, 1, NEW.error IS NOT NULL, NEW.prompt_tokens,
        NEW.candidate_tokens + NEW.thought_tokens)
    ON CONFLICT (key_hash, model, day) DO UPDATE SET requests = requests + 1,
        errors = errors + excluded.errors,
        prompt_tokens = prompt_tokens + excluded.prompt_tokens,
        output_tokens = output_tokens + excluded.output_tokens;
END;

-- The log keeps about its last 1,000 rows (LOG_CAPACITY in the guest), trimmed every 100.
CREATE TRIGGER IF NOT EXISTS request_log_trim AFTER INSERT ON request_log
WHEN NEW.id % 100 = 0
BEGIN
    DELETE FROM request_log WHERE id <= NEW.id - 1000;
END;

-- The file records its own version, so a database migrated by `wrangler d1 migrations apply`
-- (which runs each file whole, keeping its own table) is at this version for the component too.
INSERT OR IGNORE INTO schema_migrations (version, name, applied_at) VALUES (5, '0005_accounting', strftime('%s', 'now') * 1000);
