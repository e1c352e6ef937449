//! The reads of the ASGLB return (`crate::domain::asglb`): the children and the adopter
//! households it lists, and the links holding a match at the quarter end — all in one
//! read-only transaction, so the two tabs describe the same state of the registers.
//!
//! Which records are listed is decided here, in SQL (the rule is the domain module's
//! documentation); which authorities are covered is the caller's (the policy's) decision.
use std::collections::HashMap;

use chrono::NaiveDate;
use entity::{child, household, household_journey, link, link_child};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::snapshots::read_only;

/// The most rows a tab may have: a tab past it is refused, never cut short.
pub const MAX_TAB_ROWS: u64 = 100_000;

/// What a tab reads.
#[derive(Clone, Debug, Default)]
pub struct TabRows {
    /// The children of the Adoptions tab, each with its sibling group's size and the link
    /// holding its match at the quarter end (if any); `None` when the tab was not asked for.
    pub children: Option<Vec<(child::Model, i64, Option<link::Model>)>>,
    /// The households of the Adopters tab with their journeys; `None` when not asked for.
    pub households: Option<Vec<(household::Model, household_journey::Model)>>,
}

/// The return's rows in `authority_ids` of `consortium_id`, for the quarter ending on
/// `quarter_end` of the financial year from `year_start`. `Ok(None)` when a tab would have
/// more than [`MAX_TAB_ROWS`] rows.
pub async fn rows(
    db: &DatabaseConnection,
    consortium_id: i64,
    authority_ids: &[i64],
    (year_start, quarter_end): (NaiveDate, NaiveDate),
    (adoptions, adopters): (bool, bool),
) -> Result<Option<TabRows>, DbErr> {
    let txn = read_only(db).await?;
    let mut rows = TabRows::default();
    if adoptions {
        let Some(children) =
            children(&txn, consortium_id, authority_ids, year_start, quarter_end).await?
        else {
            return Ok(None);
        };
        rows.children = Some(children);
    }
    if adopters {
        let Some(households) =
            households(&txn, consortium_id, authority_ids, year_start, quarter_end).await?
        else {
            return Ok(None);
        };
        rows.households = Some(households);
    }
    txn.commit().await?;
    Ok(Some(rows))
}

/// The children of the Adoptions tab: a SHOBPA decision on or before the quarter end, and
/// no adoption order, change of plan or revoked placement order before the year's first day.
async fn children(
    db: &impl ConnectionTrait,
    consortium_id: i64,
    authority_ids: &[i64],
    year_start: NaiveDate,
    quarter_end: NaiveDate,
) -> Result<Option<Vec<(child::Model, i64, Option<link::Model>)>>, DbErr> {
    let open_on = |column: child::Column| {
        Condition::any()
            .add(column.is_null())
            .add(column.gte(year_start))
    };
    let children = child::Entity::find()
        .filter(child::Column::ConsortiumId.eq(consortium_id))
        .filter(child::Column::AuthorityId.is_in(authority_ids.iter().copied()))
        .filter(child::Column::ShobpaDecisionOn.lte(quarter_end))
        .filter(open_on(child::Column::AdoptionOrderOn))
        .filter(open_on(child::Column::PlanChangedOn))
        .filter(open_on(child::Column::PlacementOrderRevokedOn))
        .order_by_asc(child::Column::AuthorityId)
        .order_by_asc(child::Column::Id)
        .limit(MAX_TAB_ROWS + 1)
        .all(db)
        .await?;
    if children.len() as u64 > MAX_TAB_ROWS {
        return Ok(None);
    }
    // Sibling group sizes, counted over the groups of the authorities covered (a group
    // belongs to one authority).
    let sizes: HashMap<i64, i64> = child::Entity::find()
        .select_only()
        .column(child::Column::SiblingGroupId)
        .column_as(child::Column::Id.count(), "n")
        .filter(child::Column::ConsortiumId.eq(consortium_id))
        .filter(child::Column::AuthorityId.is_in(authority_ids.iter().copied()))
        .filter(child::Column::SiblingGroupId.is_not_null())
        .group_by(child::Column::SiblingGroupId)
        .into_tuple::<(i64, i64)>()
        .all(db)
        .await?
        .into_iter()
        .collect();
    // The links holding a match at the quarter end: matched by then, not ended by then. A
    // child is in at most one at a time; should two qualify, the later match stands.
    let links: HashMap<i64, link::Model> = link::Entity::find()
        .filter(link::Column::ConsortiumId.eq(consortium_id))
        .filter(link::Column::ChildAuthorityId.is_in(authority_ids.iter().copied()))
        .filter(link::Column::MatchedOn.lte(quarter_end))
        .filter(
            Condition::any()
                .add(link::Column::EndedOn.is_null())
                .add(link::Column::EndedOn.gt(quarter_end)),
        )
        .all(db)
        .await?
        .into_iter()
        .map(|l| (l.id, l))
        .collect();
    let link_ids: Vec<i64> = links.keys().copied().collect();
    let mut held = Vec::new();
    for chunk in link_ids.chunks(1000) {
        held.extend(
            link_child::Entity::find()
                .select_only()
                .column(link_child::Column::ChildId)
                .column(link_child::Column::LinkId)
                .filter(link_child::Column::LinkId.is_in(chunk.iter().copied()))
                .into_tuple::<(i64, i64)>()
                .all(db)
                .await?,
        );
    }
    let mut by_child: HashMap<i64, link::Model> = HashMap::new();
    for (child_id, link_id) in held {
        let Some(l) = links.get(&link_id) else {
            continue;
        };
        let later = by_child
            .get(&child_id)
            .is_none_or(|held| (held.matched_on, held.id) < (l.matched_on, l.id));
        if later {
            by_child.insert(child_id, l.clone());
        }
    }
    Ok(Some(
        children
            .into_iter()
            .map(|c| {
                let size = c
                    .sibling_group_id
                    .and_then(|g| sizes.get(&g).copied())
                    .unwrap_or(1);
                let held = by_child.remove(&c.id);
                (c, size, held)
            })
            .collect(),
    ))
}

/// The households of the Adopters tab: in assessment (stage one, or stage two for a fast
/// track) on or before the quarter end, and not gone (left, or adopted) before the year's
/// first day.
async fn households(
    db: &impl ConnectionTrait,
    consortium_id: i64,
    authority_ids: &[i64],
    year_start: NaiveDate,
    quarter_end: NaiveDate,
) -> Result<Option<Vec<(household::Model, household_journey::Model)>>, DbErr> {
    let journeys = household_journey::Entity::find()
        .filter(household_journey::Column::ConsortiumId.eq(consortium_id))
        .filter(household_journey::Column::AuthorityId.is_in(authority_ids.iter().copied()))
        .filter(
            Condition::any()
                .add(household_journey::Column::StageOneStartedOn.lte(quarter_end))
                .add(household_journey::Column::StageTwoStartedOn.lte(quarter_end)),
        )
        .filter(
            Condition::any()
                .add(household_journey::Column::ExitOn.is_null())
                .add(household_journey::Column::ExitOn.gte(year_start)),
        )
        .filter(
            Condition::any()
                .add(household_journey::Column::AdoptionOrderOn.is_null())
                .add(household_journey::Column::AdoptionOrderOn.gte(year_start)),
        )
        .order_by_asc(household_journey::Column::AuthorityId)
        .order_by_asc(household_journey::Column::HouseholdId)
        .limit(MAX_TAB_ROWS + 1)
        .all(db)
        .await?;
    if journeys.len() as u64 > MAX_TAB_ROWS {
        return Ok(None);
    }
    let mut households: HashMap<i64, household::Model> = HashMap::new();
    let ids: Vec<i64> = journeys.iter().map(|j| j.household_id).collect();
    for chunk in ids.chunks(1000) {
        for h in household::Entity::find()
            .filter(household::Column::ConsortiumId.eq(consortium_id))
            .filter(household::Column::Id.is_in(chunk.iter().copied()))
            .all(db)
            .await?
        {
            households.insert(h.id, h);
        }
    }
    Ok(Some(
        journeys
            .into_iter()
            .filter_map(|j| households.remove(&j.household_id).map(|h| (h, j)))
            .collect(),
    ))
}
