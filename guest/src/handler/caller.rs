//! Who is calling, and what they may do now.
//!
//! [`authenticate`] decides, from the credential a request presents ([`auth::presented_credential`]),
//! in this order:
//! 1. the admin API takes the admin key, in `Authorization: Bearer` only;
//! 2. `/metrics` is public when `metrics_public` is on, else takes the admin key or the metrics
//!    token, in `Authorization: Bearer` only;
//! 3. other routes that are not proxied (health, preflight, the admin page) need nothing;
//! 4. a proxied route: a stored client key (unless expired) wins; then, in pure-proxy mode, a
//!    credential made of Gemini-looking keys is the caller's own pool; then the admin key is
//!    refused (403: it is for `/admin/` only) unless access is open; then open access lets
//!    anyone in; else 401.
//!
//! A client key then passes its limits ([`admit`]) and may be restricted to some models
//! ([`Caller::may_use`]).

use crate::auth::{self, CredentialSource, Presented};
use crate::error::GatewayError;
use crate::route::Route;
use crate::store::clients::ClientKey;
use crate::store::settings::Settings;
use crate::store::{self, Database};

use super::Config;

/// Who is calling.
#[derive(Debug, Clone, PartialEq)]
pub enum Caller {
    /// The admin key: every route.
    Admin,
    /// A client key: its limits and allowed models.
    Client(ClientKey),
    /// Open access: no key required (`open_access`).
    Open,
    /// Pure-proxy mode: the client brought its own Gemini keys.
    OwnKeys(Vec<String>),
}

impl Caller {
    /// The client key's id, when a client key is calling.
    pub fn client_id(&self) -> Option<i64> {
        match self {
            Caller::Client(c) => Some(c.id),
            _ => None,
        }
    }

    /// Refuses a model a client key is not allowed to use (by its requested or resolved name).
    pub fn may_use(&self, requested: &str, resolved: &str) -> Result<(), GatewayError> {
        if let Caller::Client(client) = self {
            let allowed = &client.limits.allowed_models;
            if !allowed.is_empty() && !allowed.iter().any(|m| m == requested || m == resolved) {
                return Err(GatewayError::PermissionDenied(format!(
                    "this client key may not use the model {requested}"
                )));
            }
        }
        Ok(())
    }
}

/// Decides who the caller is for `route` (see the module doc for the order).
pub fn authenticate(
    route: &Route,
    presented: Option<&Presented>,
    config: &Config,
    settings: &Settings,
    db: &dyn Database,
    now_ms: i64,
) -> Result<Caller, GatewayError> {
    let is_admin = |secret: &str| {
        let hash = auth::sha256_hex(secret);
        match &config.admin_key {
            Some(admin) => auth::constant_time_eq(&hash, &auth::sha256_hex(admin)),
            None => settings
                .admin_key_hash
                .as_deref()
                .is_some_and(|stored| auth::constant_time_eq(&hash, stored)),
        }
    };
    if let Route::AdminApi { .. } = route {
        return match presented {
            // Only in a header: a key in the URL ends up in proxy logs and browser history.
            Some(p) if is_admin(&p.secret) && p.source != CredentialSource::Bearer => {
                Err(GatewayError::Unauthenticated(
                    "the admin key is accepted only in the Authorization header (Bearer)".into(),
                ))
            }
            Some(p) if is_admin(&p.secret) => Ok(Caller::Admin),
            Some(_) => Err(GatewayError::Unauthenticated("the admin key is not valid".into())),
            None => Err(GatewayError::Unauthenticated(
                "the admin API needs the admin key (Authorization: Bearer ...)".into(),
            )),
        };
    }
    if let Route::Metrics = route {
        return authenticate_metrics(presented, settings, is_admin);
    }
    if !route.is_proxied() {
        return Ok(Caller::Open);
    }
    if let Some(p) = presented {
        let hash = auth::sha256_hex(&p.secret);
        if let Some(client) = store::clients::find_by_hash(db, &hash)? {
            if client.limits.expires_at.is_some_and(|at| at <= now_ms) {
                return Err(GatewayError::Unauthenticated("this client key has expired".into()));
            }
            return Ok(Caller::Client(client));
        }
        if settings.pure_proxy {
            let keys: Vec<String> = p
                .secret
                .split(',')
                .map(str::trim)
                .filter(|k| auth::looks_like_google_key(k))
                .map(str::to_owned)
                .collect();
            if !keys.is_empty() {
                return Ok(Caller::OwnKeys(keys));
            }
        }
        if is_admin(&p.secret) && !config.open_access {
            return Err(GatewayError::PermissionDenied(
                "the admin key is for /admin/ only; create a client key for API calls".into(),
            ));
        }
    }
    if config.open_access {
        return Ok(Caller::Open);
    }
    match presented {
        None => Err(GatewayError::Unauthenticated(
            "missing API key: send a gempool client key (Authorization: Bearer, x-api-key, x-goog-api-key or ?key=)"
                .into(),
        )),
        Some(p) => Err(GatewayError::Unauthenticated(format!(
            "invalid API key {}",
            auth::redact(&p.secret)
        ))),
    }
}

/// `GET /metrics` takes the admin key or the metrics token, in `Authorization: Bearer` only,
/// unless the operator made it public (`metrics_public`, for loopback-only set-ups).
fn authenticate_metrics(
    presented: Option<&Presented>,
    settings: &Settings,
    is_admin: impl Fn(&str) -> bool,
) -> Result<Caller, GatewayError> {
    if settings.metrics_public {
        return Ok(Caller::Open);
    }
    let is_token = |secret: &str| {
        settings
            .metrics_token_hash
            .as_deref()
            .is_some_and(|stored| auth::constant_time_eq(&auth::sha256_hex(secret), stored))
    };
    match presented {
        Some(p) if is_admin(&p.secret) || is_token(&p.secret) => {
            if p.source == CredentialSource::Bearer {
                Ok(Caller::Open)
            } else {
                Err(GatewayError::Unauthenticated(
                    "/metrics takes its key only in the Authorization header (Bearer)".into(),
                ))
            }
        }
        Some(_) => Err(GatewayError::Unauthenticated(
            "the key is neither the admin key nor the metrics token".into(),
        )),
        None => Err(GatewayError::Unauthenticated(
            "/metrics needs the admin key or the metrics token (Authorization: Bearer ...)".into(),
        )),
    }
}

/// A client key's request and token limits, checked (and this request counted) before the
/// upstream is called; other callers have no limits.
pub fn admit(db: &dyn Database, caller: &Caller, now_ms: i64) -> Result<(), GatewayError> {
    let Caller::Client(client) = caller else {
        return Ok(());
    };
    match store::windows::admit(db, client.id, &client.limits, now_ms)? {
        Ok(()) => Ok(()),
        Err(exceeded) => Err(GatewayError::RateLimited {
            message: format!(
                "this client key exceeded its limit of {} {}; retry in {}s",
                exceeded.value, exceeded.limit, exceeded.retry_after_secs
            ),
            retry_after_secs: exceeded.retry_after_secs,
        }),
    }
}
