//! The one place that decides who may see and do what (DESIGN §3).
//!
//! Roles grant capabilities per authority. A record is seen in full by an actor holding the
//! read capability in the record's authority; as a shared profile by a family finder or
//! decision maker of any authority of the same consortium when the record is in the pool;
//! and not at all otherwise, which answers exactly like a missing record.
use entity::{child, household, link};

use super::Actor;
use crate::domain::links::{LinkState, LinkStep};
use crate::domain::{MilestoneDates, MilestoneDraft, Role, Stage};
use crate::error::AppError;
use crate::store::codes::{self, HouseholdCodes};

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
    /// The authority's adoption reports (scorecard, sufficiency), unsuppressed.
    ReadAdoptionReports,
    /// Links involving the authority's children or households (see [`link_grants`]).
    ReadLinks,
    /// Propose, accept, decline and withdraw links, and ask for match suggestions.
    ProgressLinks,
    /// Record a placement, an adoption order or a disruption on the child's side.
    RecordPlacements,
}

/// Whether `role` grants `capability`.
pub fn grants(role: Role, capability: Capability) -> bool {
    use Capability::*;
    if let Some(granted) = link_grants(role, capability) {
        return granted;
    }
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
                | ReadAdoptionReports
        ),
        Role::Manager => matches!(
            capability,
            ReadChildren
                | ReadHouseholds
                | ReadAuditLog
                | ReadRecruitmentReports
                | ReadAdoptionReports
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

/// Milestones of a stored child (checked when they were written).
pub fn milestones_of(c: &child::Model) -> MilestoneDates {
    MilestoneDates::recorded(MilestoneDraft {
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
    })
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
        && h.stage_code() == Stage::Approved
}

impl Actor {
    /// Whether the actor may see the shared profile of a record it sees as `view`: a
    /// record it sees at all, when it reads the pool somewhere.
    pub fn sees_profile(&self, view: View) -> bool {
        view != View::Hidden && self.can_anywhere(Capability::ReadPool)
    }
}

// ---------------------------------------------------------------------------------------
// Links (DESIGN §2 "Links, matches, placements" and §3)
// ---------------------------------------------------------------------------------------

/// The link capabilities of `role`; `None` for capabilities that are not about links
/// (those are granted by [`grants`] itself).
///
/// * Every role that works on the authority's side of a link reads the links involving the
///   authority: social workers and family finders (its children), recruitment officers
///   (its households), decision makers and managers.
/// * Family finders and decision makers progress links — propose, accept, decline,
///   withdraw — and ask for match suggestions.
/// * The match decision is a decision on the child: [`Capability::DecideForChildren`].
/// * A placement, an adoption order and a disruption are facts of the child's journey,
///   recorded by the child's social worker or a decision maker of the child's authority.
pub fn link_grants(role: Role, capability: Capability) -> Option<bool> {
    use Capability::*;
    use Role::*;
    let granted = match capability {
        ReadLinks => matches!(
            role,
            SocialWorker | FamilyFinder | RecruitmentOfficer | DecisionMaker | Manager
        ),
        ProgressLinks => matches!(role, FamilyFinder | DecisionMaker),
        RecordPlacements => matches!(role, SocialWorker | DecisionMaker),
        _ => return None,
    };
    Some(granted)
}

impl Actor {
    /// Whether the actor sees `link`: it holds [`Capability::ReadLinks`] in the child's or
    /// the household's authority. Each authority sees the links that involve it.
    pub fn sees_link(&self, link: &link::Model) -> bool {
        link.consortium_id == self.consortium_id
            && (self.can(Capability::ReadLinks, link.child_authority_id)
                || self.can(Capability::ReadLinks, link.household_authority_id))
    }

    /// How much of a child covered by `link` the actor sees: the full record in the child's
    /// own authority; otherwise, as a party to the link, the shared profile — even once the
    /// child has left the pool (a matched child is not in the pool, but the household's
    /// side must still see whom its adopters are linked with).
    pub fn linked_child_view(&self, link: &link::Model, child: &child::Model) -> View {
        if child.consortium_id != self.consortium_id {
            View::Hidden
        } else if self.can(Capability::ReadChildren, child.authority_id) {
            View::Full
        } else if self.sees_link(link) {
            View::Profile
        } else {
            View::Hidden
        }
    }

    /// How much of the household of `link` the actor sees (as for the child).
    pub fn linked_household_view(&self, link: &link::Model, household: &household::Model) -> View {
        if household.consortium_id != self.consortium_id {
            View::Hidden
        } else if self.can(Capability::ReadHouseholds, household.authority_id) {
            View::Full
        } else if self.sees_link(link) {
            View::Profile
        } else {
            View::Hidden
        }
    }

    /// The side for which the actor proposes a link between a child of `child_authority`
    /// and a household of `household_authority`: the child's authority when the actor may
    /// progress links there, else the household's; `FORBIDDEN` when neither. (Both records
    /// must also be visible to the actor; that is checked when they are loaded.)
    pub fn proposing_authority(
        &self,
        child_authority: i64,
        household_authority: i64,
    ) -> Result<i64, AppError> {
        [child_authority, household_authority]
            .into_iter()
            .find(|a| self.can(Capability::ProgressLinks, *a))
            .ok_or_else(|| {
                AppError::forbidden(
                    "only family finders and decision makers of the child's or the household's \
                     authority may propose a link",
                )
            })
    }

    /// The side of `link` the actor acts for, under which its events on the link are
    /// filed: the household's authority when the actor is a member there and not of the
    /// child's authority; otherwise the child's authority, whose record the link is first
    /// of all.
    pub fn link_side(&self, link: &link::Model) -> i64 {
        if !self.is_member_of(link.child_authority_id)
            && self.is_member_of(link.household_authority_id)
        {
            link.household_authority_id
        } else {
            link.child_authority_id
        }
    }

    /// `Ok` if the actor may take `step` on `link` (which it sees), else `FORBIDDEN`.
    ///
    /// * accept: the side that did not propose (for a link within one authority, that
    ///   authority);
    /// * decline: the side that did not propose while the link is `PROPOSED`, either side
    ///   while `EXPLORING`;
    /// * withdraw: either side;
    /// * match decision: a decision maker of the child's authority;
    /// * placement, adoption order, disruption: [`Capability::RecordPlacements`] in the
    ///   child's authority.
    pub fn require_link_step(&self, link: &link::Model, step: LinkStep) -> Result<(), AppError> {
        use Capability::*;
        let answering = if link.proposed_by_authority_id == link.child_authority_id {
            link.household_authority_id
        } else {
            link.child_authority_id
        };
        let either = |capability| {
            self.can(capability, link.child_authority_id)
                || self.can(capability, link.household_authority_id)
        };
        let proposed = codes::link_state(link) == Some(LinkState::Proposed);
        let allowed = match step {
            LinkStep::Accept => self.can(ProgressLinks, answering),
            LinkStep::Decline if proposed => self.can(ProgressLinks, answering),
            LinkStep::Decline | LinkStep::Withdraw => either(ProgressLinks),
            LinkStep::DecideMatch => self.can(DecideForChildren, link.child_authority_id),
            LinkStep::RecordPlacement
            | LinkStep::RecordAdoptionOrder
            | LinkStep::RecordDisruption => self.can(RecordPlacements, link.child_authority_id),
        };
        if allowed {
            Ok(())
        } else {
            Err(AppError::forbidden(format!(
                "your roles do not allow {} on this link",
                step.name()
            )))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reports, the audit log and subscriptions (DESIGN §3, §5, §6)
// ---------------------------------------------------------------------------------------

impl Actor {
    /// The authorities a report covers when none are named: the actor's own with
    /// `capability`; for a board analyst without it, the whole consortium (`None`);
    /// `FORBIDDEN` otherwise.
    ///
    /// A board analyst who also holds `capability` somewhere gets its own authorities,
    /// which [`Actor::report_view`] then shows as they are.
    pub fn default_report_authorities(
        &self,
        capability: Capability,
    ) -> Result<Option<Vec<i64>>, AppError> {
        if self.has_consortium_role(Role::BoardAnalyst) && !self.can_anywhere(capability) {
            Ok(None)
        } else {
            self.require_anywhere(capability).map(Some)
        }
    }

    /// `Ok` if the actor may read some report needing `capability` for the unrestricted
    /// view: staff holding it somewhere, or a board analyst; else `FORBIDDEN`.
    pub fn require_report_reader(&self, capability: Capability) -> Result<(), AppError> {
        if !self.can_anywhere(capability) && !self.has_consortium_role(Role::BoardAnalyst) {
            return Err(AppError::forbidden("your roles do not allow this report"));
        }
        Ok(())
    }

    /// Which of `authorities` the actor sees as they are in a report needing `capability`
    /// (the others with disclosure control, the known rows treated as known to it);
    /// `FORBIDDEN` if the actor may see none of the report
    /// ([`Actor::require_report_reader`]).
    ///
    /// Unlike [`Actor::report_view`], a report mixing the actor's own authorities with
    /// others is not refused: the suppression of the scorecard accounts for what the actor
    /// knows.
    pub fn report_known_rows(
        &self,
        capability: Capability,
        authorities: &[i64],
    ) -> Result<Vec<bool>, AppError> {
        self.require_report_reader(capability)?;
        Ok(authorities
            .iter()
            .map(|a| self.can(capability, *a))
            .collect())
    }
}

/// The audit events an actor may read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditLogScope {
    /// Every event of the consortium (consortium admins).
    Consortium,
    /// The events about records of these authorities, and those of their staff that
    /// concern no single record (managers).
    Authorities(Vec<i64>),
}

impl Actor {
    /// The audit events the actor may read: the whole consortium for a consortium admin,
    /// else those of the authorities where it holds [`Capability::ReadAuditLog`];
    /// `FORBIDDEN` when none.
    pub fn audit_log_scope(&self) -> Result<AuditLogScope, AppError> {
        if self.has_consortium_role(Role::ConsortiumAdmin) {
            Ok(AuditLogScope::Consortium)
        } else {
            Ok(AuditLogScope::Authorities(
                self.require_anywhere(Capability::ReadAuditLog)?,
            ))
        }
    }

    /// Where a subscriber hears of events: `(links, children)`, the authorities whose link
    /// events it may receive (where it reads links) and whose tracking alerts it may receive
    /// (where it reads children), each empty when that kind was not asked for. Each event
    /// is checked again against its record on delivery.
    pub fn subscription_reach(
        &self,
        link_events: bool,
        tracking_alerts: bool,
    ) -> (Vec<i64>, Vec<i64>) {
        let reach = |asked: bool, capability| {
            if asked {
                self.authorities_with(capability)
            } else {
                Vec::new()
            }
        };
        (
            reach(link_events, Capability::ReadLinks),
            reach(tracking_alerts, Capability::ReadChildren),
        )
    }
}

#[cfg(test)]
mod report_tests {
    use super::*;
    use std::collections::BTreeSet;

    /// An actor of consortium 1 holding one role in each of `memberships`.
    pub(super) fn actor(memberships: &[(i64, Role)], consortium_roles: &[Role]) -> Actor {
        Actor {
            subject: "u-1".into(),
            name: None,
            consortium_id: 1,
            consortium_code: "demo".into(),
            memberships: memberships
                .iter()
                .map(|(a, r)| super::super::Membership {
                    authority_id: *a,
                    authority_code: format!("a{a}"),
                    roles: BTreeSet::from([*r]),
                })
                .collect(),
            consortium_roles: consortium_roles.iter().copied().collect(),
            issued_at: 0,
        }
    }

    #[test]
    fn a_report_naming_no_authority_covers_the_own_or_for_board_analysts_the_consortium() {
        use Capability::*;
        let manager = actor(&[(10, Role::Manager)], &[]);
        let analyst = actor(&[], &[Role::BoardAnalyst]);
        let analyst_manager = actor(&[(10, Role::Manager)], &[Role::BoardAnalyst]);
        let worker = actor(&[(10, Role::SocialWorker)], &[]);
        assert_eq!(
            manager
                .default_report_authorities(ReadAdoptionReports)
                .unwrap(),
            Some(vec![10])
        );
        assert_eq!(
            analyst
                .default_report_authorities(ReadAdoptionReports)
                .unwrap(),
            None
        );
        assert_eq!(
            analyst_manager
                .default_report_authorities(ReadAdoptionReports)
                .unwrap(),
            Some(vec![10])
        );
        assert!(
            worker
                .default_report_authorities(ReadAdoptionReports)
                .is_err()
        );
    }

    #[test]
    fn a_subscriber_hears_of_links_where_it_reads_links_and_of_alerts_where_it_reads_children() {
        let finder_and_recruiter = actor(
            &[(10, Role::FamilyFinder), (20, Role::RecruitmentOfficer)],
            &[],
        );
        let sorted = |(mut links, mut children): (Vec<i64>, Vec<i64>)| {
            links.sort_unstable();
            children.sort_unstable();
            (links, children)
        };
        assert_eq!(
            sorted(finder_and_recruiter.subscription_reach(true, true)),
            (vec![10, 20], vec![10])
        );
        assert_eq!(
            sorted(finder_and_recruiter.subscription_reach(false, true)),
            (vec![], vec![10])
        );
        assert_eq!(
            sorted(finder_and_recruiter.subscription_reach(true, false)),
            (vec![10, 20], vec![])
        );
        let analyst = actor(&[], &[Role::BoardAnalyst]);
        assert_eq!(analyst.subscription_reach(true, true), (vec![], vec![]));
    }

    #[test]
    fn the_scorecard_knows_the_own_rows_and_refuses_those_who_read_no_report() {
        use Capability::*;
        let manager = actor(&[(10, Role::Manager)], &[]);
        let analyst = actor(&[], &[Role::BoardAnalyst]);
        let worker = actor(&[(10, Role::SocialWorker)], &[]);
        assert_eq!(
            manager
                .report_known_rows(ReadAdoptionReports, &[10, 20])
                .unwrap(),
            vec![true, false]
        );
        assert_eq!(
            analyst
                .report_known_rows(ReadAdoptionReports, &[10])
                .unwrap(),
            vec![false]
        );
        assert!(
            worker
                .report_known_rows(ReadAdoptionReports, &[10])
                .is_err()
        );
        assert!(worker.require_report_reader(ReadAdoptionReports).is_err());
    }

    #[test]
    fn the_audit_log_is_the_consortiums_for_admins_and_the_authorities_for_managers() {
        let admin = actor(&[], &[Role::ConsortiumAdmin]);
        let manager = actor(&[(10, Role::Manager), (20, Role::SocialWorker)], &[]);
        let worker = actor(&[(10, Role::SocialWorker)], &[]);
        assert_eq!(admin.audit_log_scope().unwrap(), AuditLogScope::Consortium);
        assert_eq!(
            manager.audit_log_scope().unwrap(),
            AuditLogScope::Authorities(vec![10])
        );
        assert!(worker.audit_log_scope().is_err());
    }
}

#[cfg(test)]
mod link_tests {
    use super::*;

    fn actor(memberships: &[(i64, Role)]) -> Actor {
        super::report_tests::actor(memberships, &[])
    }

    fn link(state: LinkState) -> link::Model {
        let today = chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        link::Model {
            id: 1,
            consortium_id: 1,
            child_id: Some(5),
            sibling_group_id: None,
            household_id: 7,
            child_authority_id: 10,
            household_authority_id: 20,
            proposed_by_authority_id: 10,
            state: state.code().into(),
            cross_boundary: true,
            inter_agency_fee_pence: None,
            end_reason: None,
            proposed_on: today,
            accepted_on: None,
            matched_on: None,
            placed_on: None,
            adoption_order_on: None,
            ended_on: None,
            version: 1,
            created_at: chrono::Utc::now(),
            updated_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn the_other_side_answers_a_proposal_and_the_childs_side_decides() {
        use LinkStep::*;
        let child_ff = actor(&[(10, Role::FamilyFinder)]);
        let household_ff = actor(&[(20, Role::FamilyFinder)]);
        let child_dm = actor(&[(10, Role::DecisionMaker)]);
        let child_sw = actor(&[(10, Role::SocialWorker)]);
        let stranger = actor(&[(30, Role::DecisionMaker)]);
        let may = |a: &Actor, state: LinkState, step: LinkStep| {
            a.require_link_step(&link(state), step).is_ok()
        };
        let proposed = LinkState::Proposed;
        assert!(!may(&child_ff, proposed, Accept) && !may(&child_ff, proposed, Decline));
        assert!(may(&child_ff, proposed, Withdraw));
        assert!(may(&household_ff, proposed, Accept) && may(&household_ff, proposed, Decline));
        let exploring = LinkState::Exploring;
        assert!(may(&child_ff, exploring, Decline));
        assert!(!may(&child_ff, exploring, DecideMatch));
        assert!(!may(&household_ff, exploring, DecideMatch));
        assert!(may(&child_dm, exploring, DecideMatch));
        let matched = LinkState::Matched;
        assert!(may(&child_sw, matched, RecordPlacement));
        assert!(!may(&child_sw, matched, Withdraw));
        assert!(!may(&household_ff, matched, RecordPlacement));
        let l = link(matched);
        assert!(child_sw.sees_link(&l) && household_ff.sees_link(&l));
        assert!(!stranger.sees_link(&l));
        assert_eq!(child_sw.link_side(&l), 10);
        assert_eq!(household_ff.link_side(&l), 20);
        assert_eq!(stranger.link_side(&l), 10);
        assert_eq!(child_ff.proposing_authority(10, 20).unwrap(), 10);
        assert_eq!(household_ff.proposing_authority(10, 20).unwrap(), 20);
        assert!(child_sw.proposing_authority(10, 20).is_err());
    }
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
