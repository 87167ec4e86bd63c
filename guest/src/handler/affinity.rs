//! Key affinity: a request that names a resource gempool created (a file, a cached content, a
//! batch, an operation) goes to the pool key whose project holds it, and to no other.
//!
//! The names come from the hub ([`crate::protocol::gemini::resources`]); which key holds each
//! is in the store ([`crate::store::resources`]). A client sees only what it created: naming
//! another client's resource is refused like a resource the key cannot see.

use crate::error::GatewayError;
use crate::protocol::gemini::resources::referenced_names;
use crate::store::resources::{self, Held};
use crate::store::Database;
use crate::upstream::{Pinned, Upstream};

use super::{Call, Caller};

/// Google's words for a resource a project cannot see, used for one a client may not see.
fn not_yours(name: &str) -> GatewayError {
    GatewayError::PermissionDenied(format!(
        "You do not have permission to access {name} or it may not exist."
    ))
}

/// Whether the caller's requests go through the stored pool (not its own Gemini keys).
fn uses_stored_pool(caller: &Caller) -> bool {
    !matches!(caller, Caller::OwnKeys(_))
}

/// The holder of `name` if the caller may use it: `Ok(None)` for a name gempool does not hold.
pub(super) fn holder<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    name: &str,
) -> Result<Option<Held>, GatewayError> {
    let held = resources::holder(call.env.db, name, call.env.now_ms)?;
    match held {
        Some(held) if !held.visible_to(call.caller.client_id()) => Err(not_yours(name)),
        held => Ok(held),
    }
}

/// The key a request must go to, from the resources its body refers to. Names gempool does not
/// hold (a file uploaded elsewhere, a public URI) pin nothing; resources held by two different
/// keys cannot be used together.
pub(super) fn pin_for_body<U: Upstream, D: Database>(
    call: &Call<'_, U, D>,
    body: Option<&[u8]>,
) -> Result<Option<Pinned>, GatewayError> {
    if !uses_stored_pool(call.caller) {
        return Ok(None);
    }
    let names = body.map(referenced_names).unwrap_or_default();
    let mut pinned: Option<Pinned> = None;
    for name in names {
        let Some(held) = holder(call, &name)? else {
            continue;
        };
        match &pinned {
            Some(first) if first.key_id != held.key_id => {
                return Err(GatewayError::invalid(format!(
                    "{} and {name} were created with different pool keys, whose projects cannot see each other's resources; use them in separate requests",
                    first.resource
                )))
            }
            Some(_) => {}
            None => {
                pinned = Some(Pinned {
                    key_id: held.key_id,
                    resource: name,
                })
            }
        }
    }
    Ok(pinned)
}
