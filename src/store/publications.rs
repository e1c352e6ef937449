//! Publications: one per consortium and quarter end, the first made kept.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{NaiveDate, Utc};
use entity::publication;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::domain::published::Published;

/// Publications read from the database, held in memory by consortium and quarter end (a
/// kept publication never changes, so every replica may hold its own copy).
#[derive(Default)]
pub struct PublicationCache(Mutex<HashMap<(i64, NaiveDate), Arc<Published>>>);

/// How many publications a replica holds in memory at most.
const CACHED_PUBLICATIONS: usize = 32;

impl PublicationCache {
    /// The publication held, if any.
    pub fn get(&self, consortium_id: i64, quarter_end: NaiveDate) -> Option<Arc<Published>> {
        let held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        held.get(&(consortium_id, quarter_end)).cloned()
    }

    /// Holds `published` (making room when full); the one held.
    pub fn insert(
        &self,
        consortium_id: i64,
        quarter_end: NaiveDate,
        published: Published,
    ) -> Arc<Published> {
        let mut held = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if held.len() >= CACHED_PUBLICATIONS {
            held.clear();
        }
        held.entry((consortium_id, quarter_end))
            .or_insert_with(|| Arc::new(published))
            .clone()
    }
}

/// Keeps `body` as the consortium's publication at `quarter_end` unless one is kept
/// already; the one kept either way, and whether it is this one.
pub async fn keep_first(
    db: &DatabaseConnection,
    consortium_id: i64,
    quarter_end: NaiveDate,
    body: String,
) -> Result<(publication::Model, bool), DbErr> {
    use publication::Column as C;
    let inserted = publication::Entity::insert(publication::ActiveModel {
        consortium_id: Set(consortium_id),
        quarter_end: Set(quarter_end),
        made_at: Set(Utc::now()),
        body: Set(body),
        ..Default::default()
    })
    .on_conflict(
        OnConflict::columns([C::ConsortiumId, C::QuarterEnd])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    let kept = find(db, consortium_id, quarter_end)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("publication".into()))?;
    Ok((kept, inserted > 0))
}

/// The consortium's publication at `quarter_end`, if made.
pub async fn find(
    db: &DatabaseConnection,
    consortium_id: i64,
    quarter_end: NaiveDate,
) -> Result<Option<publication::Model>, DbErr> {
    use publication::Column as C;
    publication::Entity::find()
        .filter(C::ConsortiumId.eq(consortium_id))
        .filter(C::QuarterEnd.eq(quarter_end))
        .one(db)
        .await
}

/// The quarter ends the consortium has publications at, the latest first.
pub async fn quarter_ends(
    db: &DatabaseConnection,
    consortium_id: i64,
) -> Result<Vec<NaiveDate>, DbErr> {
    use publication::Column as C;
    publication::Entity::find()
        .select_only()
        .column(C::QuarterEnd)
        .filter(C::ConsortiumId.eq(consortium_id))
        .order_by_desc(C::QuarterEnd)
        .into_tuple()
        .all(db)
        .await
}
