//! A child covered by a link (one row for a single child, one per member of a sibling
//! group). `holding` is true exactly while the link is `MATCHED` or `PLACED`; a partial
//! unique index on it keeps every child in at most one such link.
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "link_child")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub link_id: i64,
    pub child_id: i64,
    pub holding: bool,
}

impl ActiveModelBehavior for ActiveModel {}
