//! The one place that decides who may see and do what (DESIGN §3).
//!
//! Roles grant capabilities per authority. A record is seen in full by an actor holding the
//! read capability in the record's authority; as a shared profile by a family finder or
//! decision maker of any authority of the same consortium when the record is in the pool;
//! and not at all otherwise, which answers exactly like a missing record.
use entity::{child, household};

use super::Actor;
use crate::domain::{MilestoneDates, Role, Stage};
use crate::error::AppError;

/// Something a role allows, in the authorities where the role is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    /// Full child records.
    ReadChildren,
    /// Create and update children, record milestones other than decisions.
    WriteChildren,
    /// Record the SHOBPA and match decisions.
    DecideForChildren,
    /// Full household records.
    ReadHouseholds,
    /// Create and update households, record recruitment events (but approval).
    WriteHouseholds,
    /// Record a household's approval.
    ApproveHouseholds,
    /// The consortium pool as shared profiles.
    ReadPool,
    /// The audit log of the authority's records.
    ReadAuditLog,
    /// The authority's recruitment reports (funnel, adopter tracking alerts), unsuppressed.
    ReadRecruitmentReports,
}

/// Whether `role` grants `capability`.
pub fn grants(role: Role, capability: Capability) -> bool {
    use Capability::*;
    match role {
        Role::SocialWorker => matches!(capability, ReadChildren | WriteChildren),
        Role::FamilyFinder => matches!(capability, ReadChildren | ReadHouseholds | ReadPool),
        Role::RecruitmentOfficer => {
            matches!(
                capability,
                ReadHouseholds | WriteHouseholds | ReadRecruitmentReports
            )
        }
        Role::DecisionMaker => matches!(
            capability,
            ReadChildren
                | ReadHouseholds
                | ReadPool
                | DecideForChildren
                | ApproveHouseholds
                | ReadRecruitmentReports
        ),
        Role::Manager => matches!(
            capability,
            ReadChildren | ReadHouseholds | ReadAuditLog | ReadRecruitmentReports
        ),
        Role::BoardAnalyst | Role::ConsortiumAdmin => false,
    }
}

/// How a report's figures are shown to an actor: as they are, or with disclosure control.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportView {
    /// The actor may read every authority of the report in full.
    Unrestricted,
    /// The actor is not a member of any authority of the report and sees aggregates only,
    /// with disclosure control (board analysts).
    Restricted,
}

impl Actor {
    /// How the actor may see a report about `authorities` needing `capability` for the
    /// unrestricted view; `FORBIDDEN` when neither view applies.
    ///
    /// A report mixing authorities the actor belongs to with others is refused: a member
    /// knows its own authority's figures, and suppression that does not account for that
    /// knowledge could let a suppressed figure of another authority be worked out by
    /// subtraction from a total.
    pub fn report_view(
        &self,
        capability: Capability,
        authorities: &[i64],
    ) -> Result<ReportView, AppError> {
        if authorities.iter().all(|a| self.can(capability, *a)) {
            return Ok(ReportView::Unrestricted);
        }
        if self.has_consortium_role(Role::BoardAnalyst) {
            if authorities.iter().any(|a| self.is_member_of(*a)) {
                return Err(AppError::forbidden(
                    "a report cannot mix your own authorities with others; ask for them separately",
                ));
            }
            return Ok(ReportView::Restricted);
        }
        Err(AppError::forbidden(
            "your roles do not allow this report for those authorities",
        ))
    }
}

/// How much of a record an actor may see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Full,
    Profile,
    Hidden,
}

impl Actor {
    /// Whether the actor holds `capability` in `authority_id`.
    pub fn can(&self, capability: Capability, authority_id: i64) -> bool {
        self.memberships.iter().any(|m| {
            m.authority_id == authority_id && m.roles.iter().any(|r| grants(*r, capability))
        })
    }

    /// The authorities in which the actor holds `capability`.
    pub fn authorities_with(&self, capability: Capability) -> Vec<i64> {
        self.memberships
            .iter()
            .filter(|m| m.roles.iter().any(|r| grants(*r, capability)))
            .map(|m| m.authority_id)
            .collect()
    }

    /// Whether the actor holds `capability` anywhere.
    pub fn can_anywhere(&self, capability: Capability) -> bool {
        !self.authorities_with(capability).is_empty()
    }

    /// `Ok` if the actor holds `capability` in `authority_id`, else `FORBIDDEN`.
    pub fn require(&self, capability: Capability, authority_id: i64) -> Result<(), AppError> {
        if self.can(capability, authority_id) {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "your roles do not allow this ({capability:?})"
            )))
        }
    }

    /// `Ok` if the actor holds `capability` in some authority, else `FORBIDDEN`.
    pub fn require_anywhere(&self, capability: Capability) -> Result<Vec<i64>, AppError> {
        let authorities = self.authorities_with(capability);
        if authorities.is_empty() {
            Err(AppError::forbidden(format!(
                "your roles do not allow this ({capability:?})"
            )))
        } else {
            Ok(authorities)
        }
    }

    /// `Ok` if the actor holds the consortium role, else `FORBIDDEN`.
    pub fn require_consortium_role(&self, role: Role) -> Result<(), AppError> {
        if self.has_consortium_role(role) {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "this needs the {} role",
                role.code()
            )))
        }
    }

    /// How much of `child` the actor may see.
    pub fn child_view(&self, child: &child::Model) -> View {
        if child.consortium_id != self.consortium_id {
            View::Hidden
        } else if self.can(Capability::ReadChildren, child.authority_id) {
            View::Full
        } else if self.can_anywhere(Capability::ReadPool) && child_in_pool(child) {
            View::Profile
        } else {
            View::Hidden
        }
    }

    /// How much of `household` the actor may see.
    pub fn household_view(&self, household: &household::Model) -> View {
        if household.consortium_id != self.consortium_id {
            View::Hidden
        } else if self.can(Capability::ReadHouseholds, household.authority_id) {
            View::Full
        } else if self.can_anywhere(Capability::ReadPool) && household_in_pool(household) {
            View::Profile
        } else {
            View::Hidden
        }
    }
}

/// Milestones of a stored child.
pub fn milestones_of(c: &child::Model) -> MilestoneDates {
    MilestoneDates {
        entered_care_on: c.entered_care_on,
        adoption_plan_on: c.adoption_plan_on,
        shobpa_decision_on: c.shobpa_decision_on,
        placement_order_on: c.placement_order_on,
        match_decision_on: c.match_decision_on,
        placed_on: c.placed_on,
        adoption_order_on: c.adoption_order_on,
        foster_placement_started_on: c.foster_placement_started_on,
        adopted_by_foster_carers: c.adopted_by_foster_carers,
        plan_changed_on: c.plan_changed_on,
        placement_order_revoked_on: c.placement_order_revoked_on,
    }
}

/// Whether a child is in the consortium pool: an active adoption plan, not yet matched,
/// and shared by its authority. (The store's pool filter is the SQL form of this rule.)
pub fn child_in_pool(c: &child::Model) -> bool {
    c.shared_with_consortium && milestones_of(c).is_waiting()
}

/// Whether a household is in the consortium pool: approved, available, not on hold, and
/// shared by its authority. (The store's pool filter is the SQL form of this rule.)
pub fn household_in_pool(h: &household::Model) -> bool {
    h.shared_with_consortium
        && h.available_for_matching
        && !h.on_hold
        && Stage::from_code(&h.stage) == Some(Stage::Approved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn each_role_grants_what_design_says() {
        use Capability::*;
        assert!(grants(Role::SocialWorker, WriteChildren));
        assert!(!grants(Role::SocialWorker, ReadHouseholds));
        assert!(!grants(Role::SocialWorker, DecideForChildren));
        assert!(grants(Role::FamilyFinder, ReadPool));
        assert!(!grants(Role::FamilyFinder, WriteChildren));
        assert!(grants(Role::RecruitmentOfficer, WriteHouseholds));
        assert!(!grants(Role::RecruitmentOfficer, ApproveHouseholds));
        assert!(!grants(Role::RecruitmentOfficer, ReadChildren));
        assert!(grants(Role::DecisionMaker, ApproveHouseholds));
        assert!(grants(Role::Manager, ReadAuditLog));
        assert!(!grants(Role::Manager, ReadPool));
        for cap in [ReadChildren, ReadHouseholds, ReadPool, ReadAuditLog] {
            assert!(!grants(Role::BoardAnalyst, cap));
        }
    }

    #[test]
    fn capabilities_hold_only_in_the_authority_of_the_role() {
        let actor = Actor {
            subject: "u-1".into(),
            name: None,
            consortium_id: 1,
            consortium_code: "demo".into(),
            memberships: vec![super::super::Membership {
                authority_id: 10,
                authority_code: "alder".into(),
                roles: BTreeSet::from([Role::SocialWorker]),
            }],
            consortium_roles: BTreeSet::new(),
            issued_at: 0,
        };
        assert!(actor.can(Capability::WriteChildren, 10));
        assert!(!actor.can(Capability::WriteChildren, 11));
        assert!(actor.require(Capability::ReadChildren, 11).is_err());
    }
}
