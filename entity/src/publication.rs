//! A consortium's publication at a quarter end: the cells of every table a protected
//! audience can receive, the decision of which are withheld, as JSON (`body`). Made once;
//! never updated.
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "publication")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub consortium_id: i64,
    /// 30 June, 30 September, 31 December or 31 March.
    pub quarter_end: Date,
    pub made_at: DateTimeUtc,
    pub body: String,
}

impl ActiveModelBehavior for ActiveModel {}
