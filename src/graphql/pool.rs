//! The consortium pool: waiting children and approved households that their authorities
//! share, seen by family finders and decision makers of every authority as shared profiles.
use async_graphql::{Context, Enum, ID, InputObject, Object};
use serde_json::json;

use super::children::{ChildFilterInput, child_filter};
use super::connection::{Conn, connection, page};
use super::context::ContextExt;
use super::households::{HouseholdFilterInput, household_filter, used_household_filters};
use super::ids::{IdKind, decode};
use super::inputs::NeedsInput;
use super::types::{ChildProfile, HouseholdProfile};
use crate::auth::{Actor, Capability, View};
use crate::domain::AuditAction;
use crate::error::{AppError, AppResult};
use crate::store;
use crate::store::children::{ChildOrder, ChildScope};
use crate::store::households::{HouseholdOrder, HouseholdScope};

/// Filters on pool children: only what a shared profile shows.
#[derive(InputObject, Default)]
pub struct PoolChildFilterInput {
    pub authority_ids: Option<Vec<ID>>,
    pub waiting_longer_than_days: Option<i32>,
    pub age_min_months: Option<i32>,
    pub age_max_months: Option<i32>,
    pub needs_at_most: Option<NeedsInput>,
    pub in_sibling_group: Option<bool>,
    pub profile_name_contains: Option<String>,
}

/// Orderings of pool lists, on shared fields only.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum PoolOrder {
    WaitingLongest,
    ProfileName,
}

/// Filters on pool households: only what a shared profile shows.
#[derive(InputObject, Default)]
pub struct PoolHouseholdFilterInput {
    pub authority_ids: Option<Vec<ID>>,
    pub min_capacity: Option<i32>,
    pub accepts_age_months: Option<i32>,
    pub accepts_siblings: Option<bool>,
    pub profile_name_contains: Option<String>,
}

/// Shared profiles of `rows`, with their sibling group sizes.
pub async fn child_profiles(
    ctx: &Context<'_>,
    rows: Vec<entity::child::Model>,
) -> AppResult<Vec<ChildProfile>> {
    let group_ids: Vec<i64> = rows.iter().filter_map(|c| c.sibling_group_id).collect();
    let sizes = if group_ids.is_empty() {
        Vec::new()
    } else {
        store::children::group_sizes(&ctx.state().db, group_ids).await?
    };
    Ok(rows
        .into_iter()
        .map(|model| {
            let size = model
                .sibling_group_id
                .and_then(|g| sizes.iter().find(|(id, _)| *id == g).map(|(_, n)| *n))
                .unwrap_or(1);
            ChildProfile {
                model,
                sibling_group_size: size,
            }
        })
        .collect())
}

/// Loads the shared profile of a child the actor may see, or answers `NOT_FOUND`.
pub async fn visible_child_profile(
    ctx: &Context<'_>,
    actor: &Actor,
    id: i64,
) -> AppResult<ChildProfile> {
    match store::children::find(&ctx.state().db, actor.consortium_id, id).await? {
        Some(c)
            if actor.child_view(&c) != View::Hidden && actor.can_anywhere(Capability::ReadPool) =>
        {
            ctx.audit(
                AuditAction::View,
                "ChildProfile",
                Some(c.id),
                Some(c.authority_id),
                json!({}),
            );
            Ok(child_profiles(ctx, vec![c]).await?.remove(0))
        }
        Some(c) => Err(AppError::hidden("ChildProfile", c.id, c.authority_id)),
        None => Err(AppError::NotFound),
    }
}

/// Loads the shared profile of a household the actor may see, or answers `NOT_FOUND`.
pub async fn visible_household_profile(
    ctx: &Context<'_>,
    actor: &Actor,
    id: i64,
) -> AppResult<HouseholdProfile> {
    match store::households::find(&ctx.state().db, actor.consortium_id, id).await? {
        Some(h)
            if actor.household_view(&h) != View::Hidden
                && actor.can_anywhere(Capability::ReadPool) =>
        {
            ctx.audit(
                AuditAction::View,
                "HouseholdProfile",
                Some(h.id),
                Some(h.authority_id),
                json!({}),
            );
            Ok(HouseholdProfile(h))
        }
        Some(h) => Err(AppError::hidden("HouseholdProfile", h.id, h.authority_id)),
        None => Err(AppError::NotFound),
    }
}

/// Pool queries.
#[derive(Default)]
pub struct PoolQuery;

#[Object]
impl PoolQuery {
    /// Waiting children shared with the consortium, as shared profiles
    /// (FAMILY_FINDER, DECISION_MAKER).
    #[graphql(complexity = "crate::graphql::limits::connection_cost(first, child_complexity)")]
    async fn pool_children(
        &self,
        ctx: &Context<'_>,
        filter: Option<PoolChildFilterInput>,
        #[graphql(default_with = "PoolOrder::WaitingLongest")] order_by: PoolOrder,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<Conn<ChildProfile>> {
        let actor = ctx.actor()?;
        actor.require_anywhere(Capability::ReadPool)?;
        let page = page(first, after)?;
        let f = filter.unwrap_or_default();
        let used: Vec<&str> = [
            (f.authority_ids.is_some(), "authorityIds"),
            (
                f.waiting_longer_than_days.is_some(),
                "waitingLongerThanDays",
            ),
            (f.age_min_months.is_some(), "ageMinMonths"),
            (f.age_max_months.is_some(), "ageMaxMonths"),
            (f.needs_at_most.is_some(), "needsAtMost"),
            (f.in_sibling_group.is_some(), "inSiblingGroup"),
            (f.profile_name_contains.is_some(), "profileNameContains"),
        ]
        .into_iter()
        .filter_map(|(u, n)| u.then_some(n))
        .collect();
        let filter = child_filter(
            ctx,
            actor,
            ChildFilterInput {
                authority_ids: f.authority_ids,
                waiting_longer_than_days: f.waiting_longer_than_days,
                age_min_months: f.age_min_months,
                age_max_months: f.age_max_months,
                needs_at_most: f.needs_at_most,
                in_sibling_group: f.in_sibling_group,
                profile_name_contains: f.profile_name_contains,
                ..Default::default()
            },
            None,
        )?;
        let order = match order_by {
            PoolOrder::WaitingLongest => ChildOrder::WaitingLongest,
            PoolOrder::ProfileName => ChildOrder::ProfileName,
        };
        let scope = ChildScope::Pool {
            consortium_id: actor.consortium_id,
        };
        let (rows, total) = store::children::list(
            &ctx.state().db,
            &ctx.state().counts,
            &scope,
            &filter,
            order,
            page,
        )
        .await?;
        ctx.audit(
            AuditAction::Search,
            "ChildProfile",
            None,
            None,
            json!({ "filters": used }),
        );
        for c in &rows {
            ctx.audit(
                AuditAction::View,
                "ChildProfile",
                Some(c.id),
                Some(c.authority_id),
                json!({}),
            );
        }
        Ok(connection(child_profiles(ctx, rows).await?, page, total))
    }

    /// Approved, available households shared with the consortium, as shared profiles
    /// (FAMILY_FINDER, DECISION_MAKER).
    #[graphql(complexity = "crate::graphql::limits::connection_cost(first, child_complexity)")]
    async fn pool_households(
        &self,
        ctx: &Context<'_>,
        filter: Option<PoolHouseholdFilterInput>,
        #[graphql(default_with = "PoolOrder::WaitingLongest")] order_by: PoolOrder,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<Conn<HouseholdProfile>> {
        let actor = ctx.actor()?;
        actor.require_anywhere(Capability::ReadPool)?;
        let page = page(first, after)?;
        let f = filter.unwrap_or_default();
        let input = HouseholdFilterInput {
            authority_ids: f.authority_ids,
            min_capacity: f.min_capacity,
            accepts_age_months: f.accepts_age_months,
            accepts_siblings: f.accepts_siblings,
            profile_name_contains: f.profile_name_contains,
            ..Default::default()
        };
        let filter = household_filter(ctx, actor, &input, None)?;
        let order = match order_by {
            PoolOrder::WaitingLongest => HouseholdOrder::WaitingLongest,
            PoolOrder::ProfileName => HouseholdOrder::ProfileName,
        };
        let scope = HouseholdScope::Pool {
            consortium_id: actor.consortium_id,
        };
        let (rows, total) = store::households::list(
            &ctx.state().db,
            &ctx.state().counts,
            &scope,
            &filter,
            order,
            page,
        )
        .await?;
        ctx.audit(
            AuditAction::Search,
            "HouseholdProfile",
            None,
            None,
            json!({ "filters": used_household_filters(&input) }),
        );
        for h in &rows {
            ctx.audit(
                AuditAction::View,
                "HouseholdProfile",
                Some(h.id),
                Some(h.authority_id),
                json!({}),
            );
        }
        Ok(connection(
            rows.into_iter().map(HouseholdProfile).collect(),
            page,
            total,
        ))
    }

    /// One child's shared profile (from a `ChildProfile` or `Child` id).
    async fn child_profile(&self, ctx: &Context<'_>, id: ID) -> AppResult<ChildProfile> {
        let actor = ctx.actor()?;
        let id = decode(&id, "id", &[IdKind::ChildProfile, IdKind::Child])?;
        visible_child_profile(ctx, actor, id).await
    }

    /// One household's shared profile (from a `HouseholdProfile` or `Household` id).
    async fn household_profile(&self, ctx: &Context<'_>, id: ID) -> AppResult<HouseholdProfile> {
        let actor = ctx.actor()?;
        let id = decode(&id, "id", &[IdKind::HouseholdProfile, IdKind::Household])?;
        visible_household_profile(ctx, actor, id).await
    }
}
