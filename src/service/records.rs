//! What the registers of children and households share: decoded inputs that fail where
//! the use case reaches them, the authority a new record goes into, the authorities a
//! filter names, and the audit of a search.
use serde_json::json;

use super::Service;
use crate::auth::{Actor, Capability};
use crate::domain::AuditAction;
use crate::error::{AppError, AppResult};
use crate::store::Page;

/// An input as the caller decoded it (a global id, a cursor). A refusal to decode is
/// raised where the use case reaches the input, so the checks keep their order: who asks
/// first, then each input in turn.
pub type Decoded<T> = AppResult<T>;

/// Which records a search reads: the full records of the authorities where the actor
/// holds `full` (the register), or the consortium pool's shared profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    Register,
    Pool,
}

impl Reach {
    /// The authorities whose records the actor may search, or `FORBIDDEN`: where it holds
    /// `full` (the register), or none in particular (the pool, for a pool reader).
    pub fn allowed(self, actor: &Actor, full: Capability) -> AppResult<Option<Vec<i64>>> {
        match self {
            Reach::Register => actor.require_anywhere(full).map(Some),
            Reach::Pool => actor.require_anywhere(Capability::ReadPool).map(|_| None),
        }
    }

    /// What the audit of a search records: the filters used (never their values), and for
    /// the register the order.
    pub fn summary(
        self,
        filters: Vec<&'static str>,
        order: impl std::fmt::Debug,
    ) -> serde_json::Value {
        match self {
            Reach::Register => json!({ "filters": filters, "orderBy": format!("{order:?}") }),
            Reach::Pool => json!({ "filters": filters }),
        }
    }
}

/// One page of a list, with the page it is and how many match over all pages.
pub struct Listed<T> {
    pub rows: Vec<T>,
    pub page: Page,
    pub total: u64,
}

/// The authority a new record goes into: the one named (which the actor must hold
/// `capability` in), or the only one where the actor holds it.
pub fn target_authority(
    svc: Service<'_>,
    actor: &Actor,
    named: Option<Decoded<i64>>,
    capability: Capability,
) -> AppResult<i64> {
    match named {
        Some(id) => {
            let authority_id = id?;
            let directory = svc.state.directory.current();
            match directory.authority(authority_id) {
                Some(a) if a.consortium_id == actor.consortium_id => {}
                _ => return Err(AppError::NotFound),
            }
            actor.require(capability, authority_id)?;
            Ok(authority_id)
        }
        None => match actor.require_anywhere(capability)?.as_slice() {
            [only] => Ok(*only),
            _ => Err(AppError::bad_input(
                "authorityId",
                "you hold this role in several authorities; name the authority",
            )),
        },
    }
}

/// Authority ids named in a filter, each of which must be in `allowed` (a foreign or
/// unknown one is `NOT_FOUND`, one of the consortium the actor may not read `FORBIDDEN`).
pub fn filter_authorities(
    svc: Service<'_>,
    actor: &Actor,
    named: Option<Vec<Decoded<i64>>>,
    allowed: Option<&[i64]>,
) -> AppResult<Option<Vec<i64>>> {
    let Some(named) = named else { return Ok(None) };
    let directory = svc.state.directory.current();
    let mut ids = Vec::with_capacity(named.len());
    for id in named {
        let authority_id = id?;
        match directory.authority(authority_id) {
            Some(a) if a.consortium_id == actor.consortium_id => {}
            _ => return Err(AppError::NotFound),
        }
        if let Some(allowed) = allowed
            && !allowed.contains(&authority_id)
        {
            return Err(AppError::forbidden(
                "you may not list records of that authority",
            ));
        }
        ids.push(authority_id);
    }
    Ok(Some(ids))
}

/// Checks a latitude/longitude pair.
pub fn area(field: &str, (lat, lon): (f64, f64)) -> AppResult<(f64, f64)> {
    if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
        return Err(AppError::bad_input(
            field,
            "latitude must be within ±90 and longitude within ±180",
        ));
    }
    Ok((lat, lon))
}

/// Audits a search of `entity_type` (`summary`: the filters used, never their values),
/// then a view of each record found (`(id, owning authority)`).
pub fn audit_search(
    svc: Service<'_>,
    entity_type: &str,
    summary: serde_json::Value,
    found: impl IntoIterator<Item = (i64, i64)>,
) {
    svc.audit(AuditAction::Search, entity_type, None, None, summary);
    for (id, owner) in found {
        audit_view(svc, entity_type, id, owner);
    }
}

/// Audits a view of record `id` of `entity_type`, owned by `owner`.
pub fn audit_view(svc: Service<'_>, entity_type: &str, id: i64, owner: i64) {
    svc.audit(
        AuditAction::View,
        entity_type,
        Some(id),
        Some(owner),
        json!({}),
    );
}

/// The names of the filters used, for the audit log (never their values).
pub fn used(filters: &[(bool, &'static str)]) -> Vec<&'static str> {
    filters
        .iter()
        .filter_map(|(used, name)| used.then_some(*name))
        .collect()
}
