//! The consortium pool: waiting children and approved households that their authorities
//! share, seen by family finders and decision makers of every authority as shared
//! profiles.
use entity::{child, household};

use super::Service;
use super::children::{ChildCriteria, ChildOrder, with_group_sizes};
use super::households::{HouseholdCriteria, HouseholdOrder};
use super::records::{Decoded, Listed, Reach, search, view_profile};
use crate::error::AppResult;
use crate::store;

/// Waiting children shared with the consortium, each with its sibling group's size
/// (FAMILY_FINDER, DECISION_MAKER). Only the criteria a shared profile shows are given.
pub async fn list_children(
    svc: Service<'_>,
    criteria: ChildCriteria,
    order: ChildOrder,
    page: Decoded<store::Page>,
) -> AppResult<Listed<(child::Model, i64)>> {
    let Listed { rows, page, total } =
        search::<child::Entity>(svc, Reach::Pool, criteria, order, page).await?;
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
    search::<household::Entity>(svc, Reach::Pool, criteria, order, page).await
}

/// The shared profile of a child the actor may see, with its sibling group's size, its
/// view audited; else `NOT_FOUND`.
pub async fn view_child_profile(
    svc: Service<'_>,
    id: Decoded<i64>,
) -> AppResult<(child::Model, i64)> {
    let c = view_profile::<child::Entity>(svc, id).await?;
    Ok(with_group_sizes(svc.db(), vec![c]).await?.remove(0))
}

/// The shared profile of a household the actor may see, its view audited; else
/// `NOT_FOUND`.
pub async fn view_household_profile(
    svc: Service<'_>,
    id: Decoded<i64>,
) -> AppResult<household::Model> {
    view_profile::<household::Entity>(svc, id).await
}
