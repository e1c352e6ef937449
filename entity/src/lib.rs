//! sea-orm entities of Permanence, one module per table.
//!
//! The tables are created by the `migration` crate; these models mirror them column for
//! column. Enumerations (stages, roles, need levels) are stored as short text codes and
//! parsed into domain types by the service, so that a new value never needs a schema change.

pub mod audit_event;
pub mod authority;
pub mod child;
pub mod consortium;
pub mod household;
pub mod household_journey;
pub mod link;
pub mod link_child;
pub mod publication;
pub mod recruitment_event;
pub mod session_revocation;
pub mod sibling_group;
