//! The consortium pool: waiting children and approved households that their authorities
//! share, seen by family finders and decision makers of every authority as shared
//! profiles.
use entity::{child, household};
use serde_json::json;

use super::Service;
use super::children::{ChildCriteria, ChildOrder, child_filter, find_child_as, with_group_sizes};
use super::households::{HouseholdCriteria, HouseholdOrder, find_household_as, household_filter};
use super::records::{Decoded, Listed, audit_search, audit_view};
use crate::auth::Capability;
use crate::error::AppResult;
use crate::store;
use crate::store::children::ChildScope;
use crate::store::households::HouseholdScope;

/// Waiting children shared with the consortium, each with its sibling group's size
/// (FAMILY_FINDER, DECISION_MAKER). Only the criteria a shared profile shows are given.
pub async fn list_children(
    svc: Service<'_>,
    criteria: ChildCriteria,
    order: ChildOrder,
    page: Decoded<store::Page>,
) -> AppResult<Listed<(child::Model, i64)>> {
    let actor = svc.actor()?;
    actor.require_anywhere(Capability::ReadPool)?;
    let page = page?;
    let summary = json!({ "filters": criteria.used() });
    let filter = child_filter(svc, actor, criteria, None)?;
    let scope = ChildScope::Pool {
        consortium_id: actor.consortium_id,
    };
    let (rows, total) =
        store::children::list(svc.db(), &svc.state.counts, &scope, &filter, order, page).await?;
    audit_search(
        svc,
        "ChildProfile",
        summary,
        rows.iter().map(|c| (c.id, c.authority_id)),
    );
    let rows = with_group_sizes(svc.db(), rows).await?;
    Ok(Listed { rows, page, total })
}

/// Approved, available households shared with the consortium (FAMILY_FINDER,
/// DECISION_MAKER). Only the criteria a shared profile shows are given.
pub async fn list_households(
    svc: Service<'_>,
    criteria: HouseholdCriteria,
    order: HouseholdOrder,
    page: Decoded<store::Page>,
) -> AppResult<Listed<household::Model>> {
    let actor = svc.actor()?;
    actor.require_anywhere(Capability::ReadPool)?;
    let page = page?;
    let summary = json!({ "filters": criteria.used() });
    let filter = household_filter(svc, actor, criteria, None)?;
    let scope = HouseholdScope::Pool {
        consortium_id: actor.consortium_id,
    };
    let (rows, total) =
        store::households::list(svc.db(), &svc.state.counts, &scope, &filter, order, page).await?;
    audit_search(
        svc,
        "HouseholdProfile",
        summary,
        rows.iter().map(|h| (h.id, h.authority_id)),
    );
    Ok(Listed { rows, page, total })
}

/// The shared profile of a child the actor may see, with its sibling group's size, its
/// view audited; else `NOT_FOUND`.
pub async fn view_child_profile(
    svc: Service<'_>,
    id: Decoded<i64>,
) -> AppResult<(child::Model, i64)> {
    let actor = svc.actor()?;
    let c = find_child_as(svc.db(), actor, id?, "ChildProfile", |view| {
        actor.sees_profile(view)
    })
    .await?;
    audit_view(svc, "ChildProfile", c.id, c.authority_id);
    Ok(with_group_sizes(svc.db(), vec![c]).await?.remove(0))
}

/// The shared profile of a household the actor may see, its view audited; else
/// `NOT_FOUND`.
pub async fn view_household_profile(
    svc: Service<'_>,
    id: Decoded<i64>,
) -> AppResult<household::Model> {
    let actor = svc.actor()?;
    let h = find_household_as(svc.db(), actor, id?, "HouseholdProfile", |view| {
        actor.sees_profile(view)
    })
    .await?;
    audit_view(svc, "HouseholdProfile", h.id, h.authority_id);
    Ok(h)
}
