//! Publications: one per consortium and quarter end, the first made kept.
use chrono::{NaiveDate, Utc};
use entity::publication;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

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
