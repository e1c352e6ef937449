//! The consortium pool: waiting children and approved households that their authorities
//! share, seen by family finders and decision makers of every authority as shared profiles.
//! The resolvers decode ids and inputs, call `service::pool` and map the records found.
use async_graphql::{Context, Enum, ID, InputObject, Object};

use super::children::authority_ids;
use super::connection::{Conn, connection, page};
use super::context::ContextExt;
use super::ids::{IdKind, decode};
use super::inputs::NeedsInput;
use super::types::{ChildProfile, HouseholdProfile};
use crate::domain::NeedLevels;
use crate::error::AppResult;
use crate::service::children::{ChildCriteria, ChildOrder};
use crate::service::households::{HouseholdCriteria, HouseholdOrder};
use crate::service::pool as service;

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

pub fn child_profile((model, sibling_group_size): (entity::child::Model, i64)) -> ChildProfile {
    ChildProfile {
        model,
        sibling_group_size,
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
        let f = filter.unwrap_or_default();
        let criteria = ChildCriteria {
            authority_ids: authority_ids(f.authority_ids),
            waiting_longer_than_days: f.waiting_longer_than_days,
            age_min_months: f.age_min_months,
            age_max_months: f.age_max_months,
            needs_at_most: f.needs_at_most.map(NeedLevels::from),
            in_sibling_group: f.in_sibling_group,
            profile_name_contains: f.profile_name_contains,
            ..Default::default()
        };
        let order = match order_by {
            PoolOrder::WaitingLongest => ChildOrder::WaitingLongest,
            PoolOrder::ProfileName => ChildOrder::ProfileName,
        };
        let listed =
            service::list_children(ctx.service(), criteria, order, page(first, after)).await?;
        Ok(connection(
            listed.rows.into_iter().map(child_profile).collect(),
            listed.page,
            listed.total,
        ))
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
        let f = filter.unwrap_or_default();
        let criteria = HouseholdCriteria {
            authority_ids: authority_ids(f.authority_ids),
            min_capacity: f.min_capacity,
            accepts_age_months: f.accepts_age_months,
            accepts_siblings: f.accepts_siblings,
            profile_name_contains: f.profile_name_contains,
            ..Default::default()
        };
        let order = match order_by {
            PoolOrder::WaitingLongest => HouseholdOrder::WaitingLongest,
            PoolOrder::ProfileName => HouseholdOrder::ProfileName,
        };
        let listed =
            service::list_households(ctx.service(), criteria, order, page(first, after)).await?;
        Ok(connection(
            listed.rows.into_iter().map(HouseholdProfile).collect(),
            listed.page,
            listed.total,
        ))
    }

    /// One child's shared profile (from a `ChildProfile` or `Child` id).
    async fn child_profile(&self, ctx: &Context<'_>, id: ID) -> AppResult<ChildProfile> {
        let id = decode(&id, "id", &[IdKind::ChildProfile, IdKind::Child]);
        service::view_child_profile(ctx.service(), id)
            .await
            .map(child_profile)
    }

    /// One household's shared profile (from a `HouseholdProfile` or `Household` id).
    async fn household_profile(&self, ctx: &Context<'_>, id: ID) -> AppResult<HouseholdProfile> {
        let id = decode(&id, "id", &[IdKind::HouseholdProfile, IdKind::Household]);
        service::view_household_profile(ctx.service(), id)
            .await
            .map(HouseholdProfile)
    }
}
