//! A link between a child (or a must-stay-together sibling group, as one unit) and an
//! approved household: `PROPOSED → EXPLORING → MATCHED → PLACED → ADOPTED`, or ended as
//! `DECLINED`, `WITHDRAWN` or `DISRUPTED`. The children it covers are in `link_child`.
use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "link")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub consortium_id: i64,
    /// The child of a single-child link; `None` for a sibling group link.
    pub child_id: Option<i64>,
    /// The must-stay-together group of a group link; `None` for a single-child link.
    pub sibling_group_id: Option<i64>,
    pub household_id: i64,
    pub child_authority_id: i64,
    pub household_authority_id: i64,
    /// The side that proposed the link; the other side accepts or declines.
    pub proposed_by_authority_id: i64,
    /// `PROPOSED`, `EXPLORING`, `MATCHED`, `PLACED`, `ADOPTED`, `DECLINED`, `WITHDRAWN` or
    /// `DISRUPTED`.
    pub state: String,
    /// The child's and the household's authorities differ.
    pub cross_boundary: bool,
    /// The inter-agency fee agreed, in pence, if any.
    pub inter_agency_fee_pence: Option<i64>,
    /// Why the link was declined, withdrawn or disrupted.
    pub end_reason: Option<String>,
    pub proposed_on: Date,
    pub accepted_on: Option<Date>,
    pub matched_on: Option<Date>,
    pub placed_on: Option<Date>,
    pub adoption_order_on: Option<Date>,
    /// When the link was declined, withdrawn or disrupted.
    pub ended_on: Option<Date>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl ActiveModelBehavior for ActiveModel {}
