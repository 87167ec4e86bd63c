//! The model list every listing is served from (native `GET models`, OpenAI's and Anthropic's
//! `GET /v1/models`): fetched through the pool at most once an hour per pool and API version,
//! kept in SQL ([`crate::store::model_lists`]), so listing models costs no upstream quota.
//!
//! - The stored pool shares one list; a pure-proxy caller's own keys are a pool of their own
//!   (their projects may see other models), named by a hash of the keys.
//! - A list older than an hour is fetched again (every page, merged); when that fails, the old
//!   list is served rather than an error.
//! - Native listings page through the cached list themselves: `pageSize` (default 50, at most
//!   1000, as Google's) and `pageToken` (ours: [`super::paging`], the next page's offset) keep
//!   working. A native listing with other parameters (`fields`, `$fields`) goes upstream as it
//!   was sent.

use super::accounting::proxy_key_hash;
use super::body;
use super::paging;
use super::pipeline::{call_upstream, Upstreamed};
use super::reply::{to_json_reply, Reply};
use super::{Call, Caller};
use crate::auth;
use crate::error::GatewayError;
use crate::protocol::gemini::{ErrorBody, ListModelsResponse, API_VERSION};
use crate::protocol::Protocol;
use crate::store::failures::WriteOp;
use crate::store::model_lists::{self, STORED_POOL};
use crate::store::Database;
use crate::upstream::{Upstream, UpstreamRequest};

/// The most pages fetched for one list (of 1000 models each).
const MAX_PAGES: usize = 5;
/// Google's default page size of `GET models`.
const DEFAULT_PAGE_SIZE: usize = 50;
/// Google's largest page size (larger values are coerced to it).
const MAX_PAGE_SIZE: usize = 1000;

/// Every Gemini model of the hub's API version: the source of the OpenAI and Anthropic
/// listings.
pub(super) async fn list_models<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    protocol: Protocol,
) -> Result<ListModelsResponse, GatewayError> {
    all_models(call, protocol, API_VERSION).await
}

/// Native `GET models` from the cached list, when the query asks only for a page; `None`
/// when it asks for more (the caller sends it upstream as it is).
pub(super) async fn native_listing<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    version: &str,
    query: &str,
) -> Option<Result<Reply<U::Body>, GatewayError>> {
    let paging_only = query.split('&').filter(|p| !p.is_empty()).all(|pair| {
        let name = pair.split_once('=').map_or(pair, |(name, _)| name);
        matches!(name, "pageSize" | "pageToken" | "key") || pair == "alt=json"
    });
    if !paging_only {
        return None;
    }
    Some(
        async {
            let size = auth::query_param(query, "pageSize");
            let token = auth::query_param(query, "pageToken");
            let list = all_models(call, Protocol::Gemini, version).await?;
            let page = page(list, size.as_deref(), token.as_deref())?;
            Ok(to_json_reply(200, &page))
        }
        .await,
    )
}

/// One page of `list`, as Google pages it.
fn page(list: ListModelsResponse, size: Option<&str>, token: Option<&str>) -> Result<ListModelsResponse, GatewayError> {
    let size = match size.map(str::trim).filter(|s| !s.is_empty()) {
        None => DEFAULT_PAGE_SIZE,
        Some(s) => match s.parse::<i64>() {
            Ok(0) => DEFAULT_PAGE_SIZE,
            Ok(n) if n > 0 => (n as usize).min(MAX_PAGE_SIZE),
            _ => {
                return Err(GatewayError::invalid_param(
                    "pageSize must be a positive number",
                    "pageSize",
                ))
            }
        },
    };
    let start = match token.filter(|t| !t.is_empty()) {
        None => 0,
        Some(t) => paging::offset_of(t)
            .filter(|start| *start <= list.models.len())
            .ok_or_else(paging::invalid_token)?,
    };
    let end = (start + size).min(list.models.len());
    Ok(ListModelsResponse {
        next_page_token: (end < list.models.len()).then(|| paging::offset_token(end)),
        models: list.models.into_iter().skip(start).take(end - start).collect(),
    })
}

/// The pool a caller's listing belongs to.
fn pool_of(caller: &Caller) -> String {
    match caller {
        Caller::OwnKeys(keys) => {
            let mut sorted = keys.clone();
            crate::sort::sort_by(&mut sorted, String::cmp);
            format!("own:{}", proxy_key_hash(&sorted.join(",")))
        }
        _ => STORED_POOL.to_owned(),
    }
}

/// Every model of API `version`: the cached list while it is fresh, else the upstream's
/// (stored for the next hour), else the stale list when the upstream fails.
async fn all_models<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    protocol: Protocol,
    version: &str,
) -> Result<ListModelsResponse, GatewayError> {
    let env = call.env;
    let pool = pool_of(call.caller);
    let cached = env
        .writes
        .check(WriteOp::ModelList, model_lists::get(env.db, &pool, version))
        .flatten()
        .and_then(|c| {
            Some((
                c.is_fresh(env.now_ms),
                serde_json::from_slice::<ListModelsResponse>(c.body.as_bytes()).ok()?,
            ))
        });
    let stale = match cached {
        Some((true, list)) => return Ok(list),
        Some((false, list)) => Some(list),
        None => None,
    };
    match fetch(call, protocol, version).await {
        Ok(list) => {
            if let Ok(body) = serde_json::to_string(&list) {
                let stored = model_lists::put(env.db, &pool, version, env.upstream.now_ms(), &body);
                env.writes.check(WriteOp::ModelList, stored);
            }
            Ok(list)
        }
        Err(error) => stale.ok_or(error),
    }
}

/// Every page of the upstream's list, merged. A fault is the upstream's (502), not the
/// client's.
async fn fetch<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    protocol: Protocol,
    version: &str,
) -> Result<ListModelsResponse, GatewayError> {
    let mut all = ListModelsResponse::default();
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let request = UpstreamRequest::list_page(version, "models", MAX_PAGE_SIZE, token.as_deref());
        // Listing models is not about one model; its pool bucket is "models".
        let page: ListModelsResponse = match call_upstream(call, protocol, "models", &request, None).await? {
            Upstreamed::Whole { body, .. } => body::decode_upstream(&body)?,
            Upstreamed::Fault { status, body } => {
                let message = ErrorBody::parse(&body).map(|e| e.error.message).unwrap_or_default();
                return Err(GatewayError::Upstream {
                    status: if status >= 500 { status } else { 502 },
                    message,
                });
            }
            Upstreamed::Stream(_) => return Err(GatewayError::Internal("unexpected stream".into())),
        };
        all.models.extend(page.models);
        token = page.next_page_token.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::gemini::Model;

    fn list(n: usize) -> ListModelsResponse {
        ListModelsResponse {
            models: (0..n)
                .map(|i| Model {
                    name: format!("models/m{i}"),
                    ..Model::default()
                })
                .collect(),
            next_page_token: None,
        }
    }

    fn names(page: &ListModelsResponse) -> Vec<&str> {
        page.models.iter().map(|m| m.id()).collect()
    }

    #[test]
    fn pages_follow_googles_sizes_and_our_tokens() {
        let first = page(list(120), None, None).unwrap();
        assert_eq!(first.models.len(), 50);
        assert_eq!(first.next_page_token, Some(paging::offset_token(50)));
        let token = paging::offset_token(100);
        let last = page(list(120), Some("50"), Some(&token)).unwrap();
        assert_eq!(
            names(&last),
            [
                "m100", "m101", "m102", "m103", "m104", "m105", "m106", "m107", "m108", "m109", "m110", "m111", "m112",
                "m113", "m114", "m115", "m116", "m117", "m118", "m119"
            ]
        );
        assert_eq!(last.next_page_token, None);
        assert_eq!(page(list(3), Some("5000"), None).unwrap().models.len(), 3);
        assert_eq!(page(list(60), Some("0"), None).unwrap().models.len(), 50);
        assert_eq!(
            page(list(3), None, Some(&paging::offset_token(3)))
                .unwrap()
                .models
                .len(),
            0
        );
        let past_the_end = paging::offset_token(4);
        for (size, token) in [
            (Some("-1"), None),
            (Some("ten"), None),
            (None, Some(past_the_end.as_str())),
            (None, Some("x")),
            (None, Some("3")),
        ] {
            let err = page(list(3), size, token).unwrap_err();
            assert_eq!(err.status(Protocol::Gemini), 400, "{size:?} {token:?}");
        }
    }

    #[test]
    fn own_keys_are_a_pool_of_their_own_whatever_their_order() {
        let a = pool_of(&Caller::OwnKeys(vec!["k1".into(), "k2".into()]));
        assert_eq!(a, pool_of(&Caller::OwnKeys(vec!["k2".into(), "k1".into()])));
        assert!(a.starts_with("own:") && !a.contains("k1"));
        assert_eq!(pool_of(&Caller::Open), STORED_POOL);
    }
}
