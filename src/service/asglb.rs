//! The ASGLB return of a quarter (`crate::domain::asglb`): its rows, for the authorities
//! whose records the actor may read — child-level data, so only the roles that read those
//! records get it: the Adoptions tab needs full child records (`SOCIAL_WORKER`,
//! `FAMILY_FINDER`, `DECISION_MAKER`, `MANAGER`), the Adopters tab full household records
//! (`FAMILY_FINDER`, `RECRUITMENT_OFFICER`, `DECISION_MAKER`, `MANAGER`), both tabs both.
//! Board analysts and consortium administrators get neither.
//!
//! Each authority covered is audited as an `EXPORT` of the return (entity `AsglbReturn`,
//! owned by the authority), with the quarter, the tabs and the row counts.
use chrono::NaiveDate;
use entity::{child, household, household_journey, link};
use serde_json::json;

use super::Service;
use crate::auth::Capability;
use crate::domain::AuditAction;
use crate::domain::asglb::ReturnQuarter;
use crate::error::{AppError, AppResult};
use crate::store;
use crate::store::asglb::MAX_TAB_ROWS;

/// The tabs of the return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    Adoptions,
    Adopters,
}

impl Tab {
    /// The capability a tab's rows need, in each authority covered.
    fn needs(self) -> Capability {
        match self {
            Tab::Adoptions => Capability::ReadChildren,
            Tab::Adopters => Capability::ReadHouseholds,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Tab::Adoptions => "adoptions",
            Tab::Adopters => "adopters",
        }
    }
}

/// A child of the Adoptions tab: the record, its sibling group's size and the link holding
/// its match at the quarter end.
pub struct AdoptionEntry {
    pub child: child::Model,
    pub sibling_group_size: i64,
    pub matched: Option<link::Model>,
}

/// A household of the Adopters tab, with its journey.
pub struct AdopterEntry {
    pub household: household::Model,
    pub journey: household_journey::Model,
}

/// A return: its quarter, the authorities it covers and the tabs asked for.
pub struct AsglbReturn {
    pub quarter: ReturnQuarter,
    pub authorities: Vec<i64>,
    pub adoptions: Option<Vec<AdoptionEntry>>,
    pub adopters: Option<Vec<AdopterEntry>>,
}

/// The return of the quarter ending `quarter` (default: the latest completed) with `tabs`,
/// for `authorities` (default: every authority of the actor whose records the tabs need).
/// A named authority the actor may not read for a tab is `FORBIDDEN`; an actor who may
/// read none is `FORBIDDEN`.
pub async fn asglb_return(
    svc: &Service<'_>,
    quarter: Option<NaiveDate>,
    authorities: Option<Vec<i64>>,
    tabs: &[Tab],
) -> AppResult<AsglbReturn> {
    let actor = svc.actor()?;
    let quarter = match quarter {
        Some(end) => ReturnQuarter::parse(end, svc.today())
            .map_err(|e| AppError::bad_input("quarter", e.message()))?,
        None => ReturnQuarter::latest(svc.today()),
    };
    let may_read = |authority: i64| tabs.iter().all(|t| actor.can(t.needs(), authority));
    let authorities = match authorities {
        Some(named) => {
            if named.iter().any(|a| !may_read(*a)) {
                return Err(AppError::forbidden(
                    "the ASGLB return is child-level data: your roles do not allow reading \
                     these records of an authority named",
                ));
            }
            let mut named = named;
            named.sort_unstable();
            named.dedup();
            named
        }
        None => {
            let mut own: Vec<i64> = actor
                .memberships
                .iter()
                .map(|m| m.authority_id)
                .filter(|a| may_read(*a))
                .collect();
            own.sort_unstable();
            own.dedup();
            own
        }
    };
    if authorities.is_empty() {
        return Err(AppError::forbidden(
            "the ASGLB return is child-level data: it needs a role that reads these records \
             (children: social worker, family finder, decision maker, manager; households: \
             family finder, recruitment officer, decision maker, manager)",
        ));
    }
    let adoptions = tabs.contains(&Tab::Adoptions);
    let adopters = tabs.contains(&Tab::Adopters);
    let rows = store::asglb::rows(
        svc.db(),
        actor.consortium_id,
        &authorities,
        (quarter.year_start(), quarter.end()),
        (adoptions, adopters),
    )
    .await?
    .ok_or_else(|| {
        AppError::bad_input(
            "authorities",
            format!(
                "the return would have more than {MAX_TAB_ROWS} rows in a tab; ask for fewer \
                 authorities at a time"
            ),
        )
    })?;
    let adoptions: Option<Vec<AdoptionEntry>> = rows.children.map(|children| {
        children
            .into_iter()
            .map(|(child, sibling_group_size, matched)| AdoptionEntry {
                child,
                sibling_group_size,
                matched,
            })
            .collect()
    });
    let adopters: Option<Vec<AdopterEntry>> = rows.households.map(|households| {
        households
            .into_iter()
            .map(|(household, journey)| AdopterEntry { household, journey })
            .collect()
    });
    for authority in &authorities {
        let count_of = |n: Option<usize>| n.map(serde_json::Value::from);
        let children = adoptions.as_ref().map(|rows| {
            rows.iter()
                .filter(|r| r.child.authority_id == *authority)
                .count()
        });
        let households = adopters.as_ref().map(|rows| {
            rows.iter()
                .filter(|r| r.household.authority_id == *authority)
                .count()
        });
        svc.audit(
            AuditAction::Export,
            "AsglbReturn",
            None,
            Some(*authority),
            json!({
                "quarter": quarter.end().to_string(),
                "tabs": tabs.iter().map(|t| t.name()).collect::<Vec<_>>(),
                "children": count_of(children),
                "households": count_of(households),
            }),
        );
    }
    Ok(AsglbReturn {
        quarter,
        authorities,
        adoptions,
        adopters,
    })
}
