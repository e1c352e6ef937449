//! Batched reads for nested records: many ids in one statement (`WHERE … IN (…)`, in
//! chunks that stay under SQLite's bound-variable limit), always scoped to a consortium.
//! The per-request loaders of [`crate::service::loaders`] collect the ids a page of
//! records asks for and read them here, so a page costs the same number of statements
//! whatever its length.
use std::collections::HashMap;

use entity::{child, household, link_child, recruitment_event, sibling_group};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

/// The most ids bound in one statement (SQLite allows 999 variables in older builds).
pub const CHUNK: usize = 500;

/// The sibling groups with `ids` in `consortium_id`.
pub async fn sibling_groups(
    db: &impl ConnectionTrait,
    consortium_id: i64,
    ids: &[i64],
) -> Result<Vec<sibling_group::Model>, DbErr> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        found.extend(
            sibling_group::Entity::find()
                .filter(sibling_group::Column::ConsortiumId.eq(consortium_id))
                .filter(sibling_group::Column::Id.is_in(chunk.to_vec()))
                .all(db)
                .await?,
        );
    }
    Ok(found)
}

/// The members of each of `group_ids` in `consortium_id`, youngest last (by date of
/// birth, then id), by group.
pub async fn group_members(
    db: &impl ConnectionTrait,
    consortium_id: i64,
    group_ids: &[i64],
) -> Result<HashMap<i64, Vec<child::Model>>, DbErr> {
    let mut by_group: HashMap<i64, Vec<child::Model>> = HashMap::new();
    for chunk in group_ids.chunks(CHUNK) {
        let members = child::Entity::find()
            .filter(child::Column::ConsortiumId.eq(consortium_id))
            .filter(child::Column::SiblingGroupId.is_in(chunk.to_vec()))
            .order_by_asc(child::Column::DateOfBirth)
            .order_by_asc(child::Column::Id)
            .all(db)
            .await?;
        for c in members {
            if let Some(g) = c.sibling_group_id {
                by_group.entry(g).or_default().push(c);
            }
        }
    }
    Ok(by_group)
}

/// The recruitment events of each of `household_ids` in `consortium_id`, in the order
/// they were recorded, by household.
pub async fn household_events(
    db: &impl ConnectionTrait,
    consortium_id: i64,
    household_ids: &[i64],
) -> Result<HashMap<i64, Vec<recruitment_event::Model>>, DbErr> {
    let mut by_household: HashMap<i64, Vec<recruitment_event::Model>> = HashMap::new();
    for chunk in household_ids.chunks(CHUNK) {
        let events = recruitment_event::Entity::find()
            .filter(recruitment_event::Column::ConsortiumId.eq(consortium_id))
            .filter(recruitment_event::Column::HouseholdId.is_in(chunk.to_vec()))
            .order_by_asc(recruitment_event::Column::Id)
            .all(db)
            .await?;
        for e in events {
            by_household.entry(e.household_id).or_default().push(e);
        }
    }
    Ok(by_household)
}

/// The households with `ids` in `consortium_id`.
pub async fn households(
    db: &impl ConnectionTrait,
    consortium_id: i64,
    ids: &[i64],
) -> Result<Vec<household::Model>, DbErr> {
    let mut found = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(CHUNK) {
        found.extend(super::households::find_many(db, consortium_id, chunk).await?);
    }
    Ok(found)
}

/// The children each of `link_ids` covers in `consortium_id`, ascending by id, by link.
pub async fn link_children(
    db: &impl ConnectionTrait,
    consortium_id: i64,
    link_ids: &[i64],
) -> Result<HashMap<i64, Vec<child::Model>>, DbErr> {
    let mut pairs = Vec::new();
    for chunk in link_ids.chunks(CHUNK) {
        pairs.extend(
            link_child::Entity::find()
                .filter(link_child::Column::LinkId.is_in(chunk.to_vec()))
                .all(db)
                .await?
                .into_iter()
                .map(|lc| (lc.link_id, lc.child_id)),
        );
    }
    let mut child_ids: Vec<i64> = pairs.iter().map(|(_, c)| *c).collect();
    child_ids.sort_unstable();
    child_ids.dedup();
    let mut children: HashMap<i64, child::Model> = HashMap::new();
    for chunk in child_ids.chunks(CHUNK) {
        children.extend(
            child::Entity::find()
                .filter(child::Column::ConsortiumId.eq(consortium_id))
                .filter(child::Column::Id.is_in(chunk.to_vec()))
                .all(db)
                .await?
                .into_iter()
                .map(|c| (c.id, c)),
        );
    }
    let mut by_link: HashMap<i64, Vec<child::Model>> = HashMap::new();
    for (link_id, child_id) in pairs {
        if let Some(c) = children.get(&child_id) {
            by_link.entry(link_id).or_default().push(c.clone());
        }
    }
    for covered in by_link.values_mut() {
        covered.sort_by_key(|c| c.id);
    }
    Ok(by_link)
}

/// How many children each of `group_ids` in `consortium_id` has (groups without children
/// are left out).
pub async fn group_sizes(
    db: &impl ConnectionTrait,
    consortium_id: i64,
    group_ids: &[i64],
) -> Result<HashMap<i64, i64>, DbErr> {
    let mut sizes = HashMap::new();
    for chunk in group_ids.chunks(CHUNK) {
        let counted = child::Entity::find()
            .select_only()
            .column(child::Column::SiblingGroupId)
            .column_as(child::Column::Id.count(), "n")
            .filter(child::Column::ConsortiumId.eq(consortium_id))
            .filter(child::Column::SiblingGroupId.is_in(chunk.to_vec()))
            .group_by(child::Column::SiblingGroupId)
            .into_tuple::<(i64, i64)>()
            .all(db)
            .await?;
        sizes.extend(counted);
    }
    Ok(sizes)
}
