//! The pipeline end to end, natively: in-memory SQLite (or one whose writes fail on demand)
//! and a scripted upstream. Who is calling (and in which order credentials count), what is
//! recorded about each outcome, and the admin API.

use super::*;
use crate::auth::{CredentialSource, Presented};
use crate::store::clients::{self, ClientLimits};
use crate::store::failures::{self, testing::FailingDb};
use crate::store::settings::{ADMIN_KEY_HASH, METRICS_PUBLIC, METRICS_TOKEN_HASH, PURE_PROXY};
use crate::store::usage;
use crate::store::{keys, testing::MemoryDb};
use crate::upstream::testing::{FakeUpstream, NOW};

const KEY: &str = "AIzaSyPoolKeyForHandlerTests0000000001";
const OWN_KEY: &str = "AIzaSyOwnKeyOfTheCaller000000000000001";
const ADMIN: &str = "admin-key-for-handler-tests";
const CLIENT: &str = "gp-client-key-for-handler-tests";
const GEMINI_OK: &str = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"hello"}]},"finishReason":"STOP"}],
    "usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":1,"totalTokenCount":4}}"#;
const CHAT: &str = r#"{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}"#;

fn config(open_access: bool) -> Config {
    Config {
        upstream_url: "http://upstream.invalid".into(),
        admin_key: Some(ADMIN.into()),
        open_access,
        sql_ticket_function: false,
    }
}

/// What a test reads of a reply.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Runs one request through routing and [`handle`], as the component does.
fn run<D: Database>(
    up: &FakeUpstream,
    db: &D,
    config: &Config,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let head = RequestHead {
        method: method.into(),
        path: path.into(),
        query: query.into(),
        headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
    };
    let env = Env {
        upstream: up,
        db,
        config,
        random: [7; 32],
        now_ms: NOW,
        logged: Default::default(),
        access: Default::default(),
        writes: Default::default(),
    };
    let (protocol, route) = prepare(&head);
    let settings = load_settings(db).unwrap();
    let reply = match route {
        Ok(route) => {
            // Upload bytes stream through, as the component passes them.
            let body = if streams_request_body(&route) {
                RequestBody::Unread(body.as_bytes().to_vec())
            } else {
                RequestBody::Read(body.as_bytes().to_vec())
            };
            futures::executor::block_on(handle(&env, &head, route, protocol, body, &settings))
        }
        Err(e) => refuse(&env, &head, protocol, &e),
    };
    match reply {
        Reply::Full { status, headers, body } => Answer {
            status,
            headers,
            body: String::from_utf8(body).unwrap(),
        },
        Reply::Stream { .. } => panic!("a stream"),
    }
}

fn bearer(secret: &str) -> String {
    format!("Bearer {secret}")
}

fn pool_with_key() -> MemoryDb {
    let db = MemoryDb::new();
    keys::add(&db, KEY, None, None, None, NOW).unwrap();
    db
}

fn add_client(db: &dyn Database, limits: &ClientLimits) -> i64 {
    clients::create(db, "test", &crate::auth::sha256_hex(CLIENT), "gp-…", limits, NOW).unwrap()
}

fn last_log(db: &dyn Database) -> usage::LogEntry {
    usage::recent_requests(db, 1).unwrap().remove(0)
}

// ---- who is calling ----

fn who(
    route: Route,
    presented: Option<(&str, CredentialSource)>,
    config: &Config,
    settings: &Settings,
    db: &dyn Database,
) -> Result<Caller, GatewayError> {
    let presented = presented.map(|(secret, source)| Presented {
        secret: secret.into(),
        source,
    });
    authenticate(&route, presented.as_ref(), config, settings, db, NOW)
}

#[test]
fn the_admin_api_takes_the_admin_key_in_the_authorization_header_only() {
    let db = MemoryDb::new();
    let (c, s) = (config(false), Settings::default());
    let admin = || Route::AdminApi { rest: "keys".into() };
    assert_eq!(
        who(admin(), Some((ADMIN, CredentialSource::Bearer)), &c, &s, &db),
        Ok(Caller::Admin)
    );
    for source in [
        CredentialSource::ApiKey,
        CredentialSource::GoogApiKey,
        CredentialSource::Query,
    ] {
        assert!(who(admin(), Some((ADMIN, source)), &c, &s, &db).is_err());
    }
    assert!(who(
        admin(),
        Some(("not-the-admin-key", CredentialSource::Bearer)),
        &c,
        &s,
        &db
    )
    .is_err());
    assert!(who(admin(), None, &c, &s, &db).is_err());
    // Without a configured admin key, the stored hash is the admin key.
    let unset = Config {
        admin_key: None,
        ..config(false)
    };
    let stored = Settings {
        admin_key_hash: Some(crate::auth::sha256_hex("generated-admin-key")),
        ..Settings::default()
    };
    assert_eq!(
        who(
            admin(),
            Some(("generated-admin-key", CredentialSource::Bearer)),
            &unset,
            &stored,
            &db
        ),
        Ok(Caller::Admin)
    );
    assert!(who(admin(), Some((ADMIN, CredentialSource::Bearer)), &unset, &stored, &db).is_err());
}

#[test]
fn metrics_take_the_admin_key_or_the_token_unless_public() {
    let db = MemoryDb::new();
    let c = config(false);
    let token = Settings {
        metrics_token_hash: Some(crate::auth::sha256_hex("a-metrics-token-000")),
        ..Settings::default()
    };
    let bearer = CredentialSource::Bearer;
    assert_eq!(
        who(Route::Metrics, Some((ADMIN, bearer)), &c, &token, &db),
        Ok(Caller::Open)
    );
    assert_eq!(
        who(Route::Metrics, Some(("a-metrics-token-000", bearer)), &c, &token, &db),
        Ok(Caller::Open)
    );
    assert!(who(
        Route::Metrics,
        Some(("a-metrics-token-000", CredentialSource::Query)),
        &c,
        &token,
        &db
    )
    .is_err());
    assert!(who(Route::Metrics, Some(("wrong", bearer)), &c, &token, &db).is_err());
    assert!(who(Route::Metrics, None, &c, &token, &db).is_err());
    let public = Settings {
        metrics_public: true,
        ..Settings::default()
    };
    assert_eq!(who(Route::Metrics, None, &c, &public, &db), Ok(Caller::Open));
}

#[test]
fn proxied_routes_take_a_client_key_then_own_keys_then_open_access() {
    let db = MemoryDb::new();
    let id = add_client(&db, &ClientLimits::default());
    let bearer = CredentialSource::Bearer;
    let plain = Settings::default();
    let pure = Settings {
        pure_proxy: true,
        ..Settings::default()
    };
    let (closed, open) = (config(false), config(true));
    let route = || Route::OpenAiChat;
    // A stored client key wins, whatever else is on.
    let client = who(route(), Some((CLIENT, bearer)), &open, &pure, &db).unwrap();
    assert_eq!(client.client_id(), Some(id));
    // Pure-proxy mode: Gemini-looking keys are the caller's own pool; other text is not.
    let both = format!("{OWN_KEY}, {OWN_KEY}x");
    assert_eq!(
        who(route(), Some((&both, bearer)), &closed, &pure, &db),
        Ok(Caller::OwnKeys(vec![OWN_KEY.into(), format!("{OWN_KEY}x")]))
    );
    assert!(who(route(), Some((OWN_KEY, bearer)), &closed, &plain, &db).is_err());
    assert!(who(route(), Some(("gp-unknown", bearer)), &closed, &pure, &db).is_err());
    // The admin key is refused on proxied routes (403), unless access is open.
    let admin = who(route(), Some((ADMIN, bearer)), &closed, &plain, &db).unwrap_err();
    assert_eq!(admin.status(Protocol::OpenAi), 403);
    assert_eq!(
        who(route(), Some((ADMIN, bearer)), &open, &plain, &db),
        Ok(Caller::Open)
    );
    // Open access lets anyone in; else 401.
    assert_eq!(who(route(), None, &open, &plain, &db), Ok(Caller::Open));
    assert_eq!(
        who(route(), Some(("gp-unknown", bearer)), &open, &plain, &db),
        Ok(Caller::Open)
    );
    let missing = who(route(), None, &closed, &plain, &db).unwrap_err();
    assert_eq!(missing.status(Protocol::OpenAi), 401);
    // Routes that are not proxied need nothing.
    assert_eq!(who(Route::Health, None, &closed, &plain, &db), Ok(Caller::Open));
}

#[test]
fn an_expired_client_key_is_refused_even_with_open_access() {
    let db = MemoryDb::new();
    add_client(
        &db,
        &ClientLimits {
            expires_at: Some(NOW),
            ..ClientLimits::default()
        },
    );
    let error = who(
        Route::OpenAiChat,
        Some((CLIENT, CredentialSource::ApiKey)),
        &config(true),
        &Settings::default(),
        &db,
    )
    .unwrap_err();
    assert!(error.to_string().contains("expired"), "{error}");
}

#[test]
fn a_client_key_limited_to_some_models_is_refused_others_before_the_upstream() {
    let db = pool_with_key();
    add_client(
        &db,
        &ClientLimits {
            allowed_models: vec!["gpt-4o".into()],
            ..ClientLimits::default()
        },
    );
    let up = FakeUpstream::default();
    let auth = bearer(CLIENT);
    let refused = run(
        &up,
        &db,
        &config(false),
        "POST",
        "/v1/chat/completions",
        &[("authorization", &auth)],
        CHAT,
    );
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(up.used.borrow().is_empty());
    // The alias the key may use resolves, and goes upstream.
    let allowed = CHAT.replace("gemini-2.5-flash", "gpt-4o");
    let ok = run(
        &up,
        &db,
        &config(false),
        "POST",
        "/v1/chat/completions",
        &[("authorization", &auth)],
        &allowed,
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(
        up.paths.borrow().as_slice(),
        ["/v1beta/models/gemini-2.5-pro:generateContent"]
    );
}

// ---- what is recorded ----

#[test]
fn a_whole_success_is_one_log_row_that_carries_the_attempt() {
    let db = pool_with_key();
    let client = add_client(&db, &ClientLimits::default());
    let up = FakeUpstream::default().answer(KEY, vec![Ok((200, GEMINI_OK))]);
    let auth = bearer(CLIENT);
    let answer = run(
        &up,
        &db,
        &config(false),
        "POST",
        "/v1/chat/completions",
        &[("authorization", &auth)],
        CHAT,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    let log = last_log(&db);
    assert_eq!(
        (
            log.status,
            log.attempts,
            log.client_id,
            log.model.as_deref(),
            log.protocol.as_deref()
        ),
        (200, 1, Some(client), Some("gemini-2.5-flash"), Some("openai"))
    );
    assert!(log.key_id.is_some() && log.error.is_none());
    // The triggers counted it for the client, with its tokens.
    let usage = usage::client_usage(&db, None).unwrap();
    assert_eq!((usage[0].requests, usage[0].prompt_tokens), (1, 3));
    assert_eq!(usage::key_usage(&db, None).unwrap()[0].requests, 1);
}

#[test]
fn an_upstream_fault_is_logged_with_its_message_and_rendered_in_the_callers_shape() {
    let db = pool_with_key();
    let client = add_client(&db, &ClientLimits::default());
    let fault =
        r#"{"error":{"code":400,"message":"Request contains an invalid argument.","status":"INVALID_ARGUMENT"}}"#;
    let up = FakeUpstream::default().answer(KEY, vec![Ok((400, fault))]);
    let body = r#"{"model":"gemini-2.5-flash","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#;
    let answer = run(
        &up,
        &db,
        &config(false),
        "POST",
        "/v1/messages",
        &[("x-api-key", CLIENT)],
        body,
    );
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(answer.json()["type"], "error", "{}", answer.body);
    let log = last_log(&db);
    assert_eq!((log.status, log.attempts), (400, 1));
    assert_eq!(log.error.as_deref(), Some("Request contains an invalid argument."));
    assert_eq!(log.protocol.as_deref(), Some("anthropic"));
    let usage = usage::client_usage(&db, None).unwrap();
    assert_eq!((usage[0].client_id, usage[0].rejected_4xx), (client, 1));
}

#[test]
fn an_exhausted_pool_counts_a_refusal_and_logs_the_attempts() {
    let db = pool_with_key();
    let quota = r#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}"#;
    let up = FakeUpstream::default().answer(KEY, vec![Ok((429, quota))]);
    let answer = run(&up, &db, &config(true), "POST", "/v1/chat/completions", &[], CHAT);
    assert_eq!(answer.status, 429, "{}", answer.body);
    assert!(answer.header("retry-after").is_some(), "{:?}", answer.headers);
    let log = last_log(&db);
    assert_eq!((log.status, log.attempts), (429, 1));
    let metrics = crate::store::metrics::snapshot(&db, NOW).unwrap();
    assert_eq!(metrics.refusals, vec![(crate::metrics::KEYS_COOLING.to_owned(), 1)]);
}

#[test]
fn a_request_refused_before_the_upstream_is_logged_without_secrets() {
    let db = pool_with_key();
    let up = FakeUpstream::default();
    let auth = bearer("gp-not-a-client-key-0001");
    let answer = run(
        &up,
        &db,
        &config(false),
        "POST",
        "/v1/chat/completions",
        &[("authorization", &auth)],
        CHAT,
    );
    assert_eq!(answer.status, 401);
    assert!(up.used.borrow().is_empty());
    let log = last_log(&db);
    assert_eq!(
        (log.status, log.attempts, log.model.as_deref()),
        (401, 0, Some("gemini-2.5-flash"))
    );
    assert!(!log.error.unwrap_or_default().contains("gp-not-a-client-key-0001"));
    assert!(!answer.body.contains("gp-not-a-client-key-0001"), "{}", answer.body);
    let metrics = crate::store::metrics::snapshot(&db, NOW).unwrap();
    assert_eq!(metrics.refusals, vec![("unauthenticated".to_owned(), 1)]);
}

#[test]
fn own_keys_are_counted_by_hash_only() {
    let db = MemoryDb::new();
    crate::store::settings::put(&db, PURE_PROXY, "true").unwrap();
    let fault = r#"{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}"#;
    let up = FakeUpstream::default().answer(OWN_KEY, vec![Ok((200, GEMINI_OK)), Ok((400, fault))]);
    let auth = bearer(OWN_KEY);
    for status in [200, 400] {
        let answer = run(
            &up,
            &db,
            &config(false),
            "POST",
            "/v1/chat/completions",
            &[("authorization", &auth)],
            CHAT,
        );
        assert_eq!(answer.status, status, "{}", answer.body);
        assert_eq!(last_log(&db).key_id, None);
    }
    let proxy = usage::proxy_usage(&db, None).unwrap();
    assert_eq!((proxy.len(), proxy[0].requests, proxy[0].errors), (1, 2, 1));
    assert_eq!(proxy[0].key_hash, crate::auth::sha256_hex(OWN_KEY)[..16]);
}

#[test]
fn a_failed_bookkeeping_write_is_counted_and_shown_in_metrics() {
    let db = FailingDb::new(&["INSERT INTO request_log"]);
    keys::add(&db, KEY, None, None, None, NOW).unwrap();
    let up = FakeUpstream::default().answer(KEY, vec![Ok((200, GEMINI_OK))]);
    let answer = run(&up, &db, &config(true), "POST", "/v1/chat/completions", &[], CHAT);
    // The client's answer does not depend on the bookkeeping.
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.json()["choices"][0]["message"]["content"], "hello");
    assert!(answer.header("request-id").is_some_and(|v| v.starts_with("req_")));
    assert_eq!(failures::totals(&db).unwrap(), vec![("request_log".to_owned(), 1)]);
    // A refusal's log row fails the same way.
    let refused = run(&up, &db, &config(false), "POST", "/v1/chat/completions", &[], CHAT);
    assert_eq!(refused.status, 401);
    assert_eq!(failures::totals(&db).unwrap(), vec![("request_log".to_owned(), 2)]);
    let metrics = crate::metrics::render(&crate::store::metrics::snapshot(&db, NOW).unwrap(), NOW);
    assert!(
        metrics.contains("gempool_store_write_failures_total{op=\"request_log\"} 2"),
        "{metrics}"
    );
}

#[test]
fn a_finished_stream_is_logged_and_its_failed_write_counted() {
    let db = FailingDb::new(&[]);
    let accounting = Accounting {
        key_id: Some(1),
        proxy_key_hash: None,
        client_id: None,
        model: "m".into(),
        fallback_from: Some("big".into()),
        protocol: Protocol::Anthropic,
        started_ms: NOW,
        attempts: 2,
        health: Default::default(),
    };
    finish_stream(&db, &accounting, None, Some("client disconnected".into()), NOW + 50);
    let log = last_log(&db);
    assert_eq!(
        (log.model.as_deref(), log.fallback_from.as_deref()),
        (Some("m"), Some("big"))
    );
    assert_eq!((log.status, log.attempts, log.latency_ms), (200, 2, 50));
    assert_eq!(log.error.as_deref(), Some("client disconnected"));
    db.failing.borrow_mut().push("INSERT INTO request_log");
    finish_stream(&db, &accounting, None, None, NOW + 50);
    assert_eq!(failures::totals(&db).unwrap(), vec![("stream_log".to_owned(), 1)]);
}

#[test]
fn nothing_is_counted_when_every_write_succeeds() {
    let db = pool_with_key();
    let up = FakeUpstream::default().answer(KEY, vec![Ok((200, GEMINI_OK))]);
    let answer = run(&up, &db, &config(true), "POST", "/v1/chat/completions", &[], CHAT);
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(failures::totals(&db).unwrap().is_empty());
}

// ---- the admin API ----

#[test]
fn the_admin_api_manages_keys_clients_and_settings() {
    let db = MemoryDb::new();
    let up = FakeUpstream::default().answer(KEY, vec![Ok((200, GEMINI_OK))]);
    let c = config(false);
    let auth = bearer(ADMIN);
    let admin =
        |method: &str, path: &str, body: &str| run(&up, &db, &c, method, path, &[("authorization", &auth)], body);
    let added = admin("POST", "/admin/api/keys", &format!(r#"{{"key":"{KEY}"}}"#));
    assert_eq!(
        (added.status, added.json()["added"].as_i64()),
        (201, Some(1)),
        "{}",
        added.body
    );
    // The admin surface is same-origin only, never cached, and never shows a key.
    assert_eq!(added.header("cache-control"), Some("no-store"));
    assert!(added.header("access-control-allow-origin").is_none());
    let listed = admin("GET", "/admin/api/keys", "");
    assert_eq!(listed.status, 200);
    assert!(!listed.body.contains(KEY), "{}", listed.body);
    // A client key is shown once, and works.
    let created = admin("POST", "/admin/api/client-keys", r#"{"name":"ci"}"#);
    assert_eq!(created.status, 201, "{}", created.body);
    let secret = created.json()["key"].as_str().unwrap().to_owned();
    let client_auth = bearer(&secret);
    let chat = run(
        &up,
        &db,
        &c,
        "POST",
        "/v1/chat/completions",
        &[("authorization", &client_auth)],
        CHAT,
    );
    assert_eq!(chat.status, 200, "{}", chat.body);
    // Settings: pool values and switches, typed once.
    let changed = admin(
        "PATCH",
        "/admin/api/settings",
        r#"{"pure_proxy":true,"strategy":"random"}"#,
    );
    assert_eq!(changed.status, 200, "{}", changed.body);
    let settings = admin("GET", "/admin/api/settings", "").json();
    assert_eq!(settings["settings"]["pure_proxy"], true);
    assert_eq!(settings["settings"]["strategy"], "random");
    assert!(load_settings(&db).unwrap().pure_proxy);
    let bad = admin("PATCH", "/admin/api/settings", r#"{"max_attempts":0}"#);
    assert_eq!(bad.status, 400, "{}", bad.body);
    // Aliases apply to the next request.
    let aliased = admin("PUT", "/admin/api/aliases", r#"{"my-model":"gemini-2.5-flash-lite"}"#);
    assert_eq!(aliased.status, 200, "{}", aliased.body);
    let chat = run(
        &up,
        &db,
        &c,
        "POST",
        "/v1/chat/completions",
        &[("authorization", &client_auth)],
        &CHAT.replace("gemini-2.5-flash", "my-model"),
    );
    assert_eq!(chat.status, 200, "{}", chat.body);
    assert_eq!(
        up.paths.borrow().last().map(String::as_str),
        Some("/v1beta/models/gemini-2.5-flash-lite:generateContent")
    );
    // The admin key is not a client key, and a client key is not the admin key.
    let as_client = run(
        &up,
        &db,
        &c,
        "POST",
        "/v1/chat/completions",
        &[("authorization", &auth)],
        CHAT,
    );
    assert_eq!(as_client.status, 403);
    let as_admin = run(
        &up,
        &db,
        &c,
        "GET",
        "/admin/api/keys",
        &[("authorization", &client_auth)],
        "",
    );
    assert_eq!(as_admin.status, 401);
    assert!(!as_admin.body.contains(&secret));
}

#[test]
fn metrics_switches_are_read_from_the_settings() {
    let db = MemoryDb::new();
    let up = FakeUpstream::default();
    let c = Config {
        admin_key: None,
        ..config(false)
    };
    crate::store::settings::put(&db, ADMIN_KEY_HASH, &crate::auth::sha256_hex("generated")).unwrap();
    assert_eq!(run(&up, &db, &c, "GET", "/metrics", &[], "").status, 401);
    let auth = bearer("generated");
    let scraped = run(&up, &db, &c, "GET", "/metrics", &[("authorization", &auth)], "");
    assert_eq!(scraped.status, 200);
    assert!(scraped.body.contains("gempool_store_write_failures_total"));
    crate::store::settings::put(&db, METRICS_TOKEN_HASH, &crate::auth::sha256_hex("token-token-token")).unwrap();
    let token = bearer("token-token-token");
    assert_eq!(
        run(&up, &db, &c, "GET", "/metrics", &[("authorization", &token)], "").status,
        200
    );
    crate::store::settings::put(&db, METRICS_PUBLIC, "1").unwrap();
    assert_eq!(run(&up, &db, &c, "GET", "/metrics", &[], "").status, 200);
}

mod fallbacks;
mod model_lists;
