//! What the registers of children and households share: the trait each register's records
//! implement ([`Record`]) and the use cases written once over it (find a record as the
//! actor may see it, view it, load it for a change, search the register or the pool);
//! decoded inputs that fail where the use case reaches them, the authority a new record
//! goes into, the authorities a filter names, and the audit of a search.
use sea_orm::DatabaseConnection;
use serde_json::json;

use super::Service;
use crate::auth::{Actor, Capability, View};
use crate::domain::AuditAction;
use crate::error::{AppError, AppResult, DeniedRecord};
use crate::store::Page;
use crate::store::records::{self, Register, Scope};

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

/// A register's records as the use cases see them: what the audit calls a full record and
/// a shared profile, what reading full records needs, how much of one the actor sees, and
/// the criteria a search is asked with. What the store knows of the register (its table,
/// the pool's rule in SQL, its filters and orders) is [`Register`]; who may see what is
/// decided here, never there. Implemented by `child::Entity` (in `service::children`) and
/// `household::Entity` (in `service::households`).
pub trait Record: Register {
    /// A full record, as audit events and refusals name it (`Child`).
    const RECORD: &'static str;
    /// A shared profile, as audit events and refusals name it (`ChildProfile`).
    const PROFILE: &'static str;
    /// What reading the register's full records needs.
    const READ: Capability;
    /// Filters on a list, as asked.
    type Criteria: Send;
    /// The record's id.
    fn id(record: &Self::Model) -> i64;
    /// The authority the record belongs to.
    fn owner(record: &Self::Model) -> i64;
    /// The version a change must name (`expectedVersion`).
    fn version(record: &Self::Model) -> i32;
    /// How much of `record` the actor may see.
    fn view(actor: &Actor, record: &Self::Model) -> View;
    /// Names of the filters used, for the audit log (never their values).
    fn used(criteria: &Self::Criteria) -> Vec<&'static str>;
    /// Turns criteria into the store's filter; named authorities must be in `allowed` when
    /// given.
    fn filter(
        svc: Service<'_>,
        actor: &Actor,
        criteria: Self::Criteria,
        allowed: Option<&[i64]>,
    ) -> AppResult<Self::Filter>;
}

/// `record` of register `R`, as a refusal names it to the audit.
pub fn denied<R: Record>(record: &R::Model) -> DeniedRecord {
    DeniedRecord {
        entity_type: R::RECORD,
        id: R::id(record),
        owner: R::owner(record),
    }
}

/// Loads record `id` of register `R` if the actor's view of it is admitted by `admits`; a
/// record seen otherwise is refused as hidden (`entity_type` names it to the audit), a
/// missing one is `NOT_FOUND`: both answer alike.
pub async fn find_as<R: Record>(
    db: &DatabaseConnection,
    actor: &Actor,
    id: i64,
    entity_type: &'static str,
    admits: impl FnOnce(View) -> bool,
) -> AppResult<R::Model> {
    match records::find::<R>(db, actor.consortium_id, id).await? {
        Some(r) if admits(R::view(actor, &r)) => Ok(r),
        Some(r) => Err(AppError::hidden(entity_type, R::id(&r), R::owner(&r))),
        None => Err(AppError::NotFound),
    }
}

/// Loads a record of register `R` the actor can see in full, or answers `NOT_FOUND`: the
/// rule of the `child` and `household` queries, of `node`, and of tracking alerts.
pub async fn find_visible<R: Record>(
    db: &DatabaseConnection,
    actor: &Actor,
    id: i64,
) -> AppResult<R::Model> {
    find_as::<R>(db, actor, id, R::RECORD, |view| view == View::Full).await
}

/// Loads a record of register `R` the actor can see at all, in full or as a shared
/// profile, or answers `NOT_FOUND`: the rule for naming a record in a change or a match.
pub async fn find_seen<R: Record>(
    db: &DatabaseConnection,
    actor: &Actor,
    id: i64,
) -> AppResult<R::Model> {
    find_as::<R>(db, actor, id, R::RECORD, |view| view != View::Hidden).await
}

/// One full record of register `R`, its view audited.
pub async fn view<R: Record>(svc: Service<'_>, id: Decoded<i64>) -> AppResult<R::Model> {
    view_noted::<R>(svc, id, json!({})).await
}

/// Like [`view`], with `detail` in the `VIEW` event (`{"via": "node"}` when the record was
/// named to `node`).
pub async fn view_noted<R: Record>(
    svc: Service<'_>,
    id: Decoded<i64>,
    detail: serde_json::Value,
) -> AppResult<R::Model> {
    let actor = svc.actor()?;
    let r = find_visible::<R>(svc.db(), actor, id?).await?;
    svc.audit(
        AuditAction::View,
        R::RECORD,
        Some(R::id(&r)),
        Some(R::owner(&r)),
        detail,
    );
    Ok(r)
}

/// The shared profile of a record of register `R` the actor may see, its view audited;
/// else `NOT_FOUND`.
pub async fn view_profile<R: Record>(svc: Service<'_>, id: Decoded<i64>) -> AppResult<R::Model> {
    let actor = svc.actor()?;
    let r = find_as::<R>(svc.db(), actor, id?, R::PROFILE, |view| {
        actor.sees_profile(view)
    })
    .await?;
    audit_view(svc, R::PROFILE, R::id(&r), R::owner(&r));
    Ok(r)
}

/// Loads a record of register `R` for a change needing `capability` at
/// `expected_version`: a record the actor cannot see is `NOT_FOUND`, one it may not
/// change `FORBIDDEN`, a stale version a `CONFLICT`.
pub async fn for_change<R: Record>(
    svc: Service<'_>,
    actor: &Actor,
    id: Decoded<i64>,
    expected_version: i32,
    capability: Capability,
) -> AppResult<R::Model> {
    let r = find_seen::<R>(svc.db(), actor, id?).await?;
    actor
        .require(capability, R::owner(&r))
        .map_err(|e| e.about(denied::<R>(&r)))?;
    if R::version(&r) != expected_version {
        return Err(AppError::Conflict(crate::store::stale(R::NAME)));
    }
    Ok(r)
}

/// Records of register `R` in the register or the pool (`reach`) matching `criteria`; the
/// search and each record shown are audited (as [`Record::RECORD`], or
/// [`Record::PROFILE`] for the pool).
pub async fn search<R: Record>(
    svc: Service<'_>,
    reach: Reach,
    criteria: R::Criteria,
    order: R::Order,
    page: Decoded<Page>,
) -> AppResult<Listed<R::Model>> {
    let actor = svc.actor()?;
    let allowed = reach.allowed(actor, R::READ)?;
    let page = page?;
    let summary = reach.summary(R::used(&criteria), order);
    let filter = R::filter(svc, actor, criteria, allowed.as_deref())?;
    let consortium_id = actor.consortium_id;
    let (scope, entity_type) = match allowed {
        Some(authority_ids) => (
            Scope::Authorities {
                consortium_id,
                authority_ids,
            },
            R::RECORD,
        ),
        None => (Scope::Pool { consortium_id }, R::PROFILE),
    };
    let (rows, total) =
        records::list::<R>(svc.db(), &svc.state.counts, &scope, &filter, order, page).await?;
    audit_search(
        svc,
        entity_type,
        summary,
        rows.iter().map(|r| (R::id(r), R::owner(r))),
    );
    Ok(Listed { rows, page, total })
}
