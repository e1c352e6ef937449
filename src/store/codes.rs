//! The codes of entity rows read as the domain's enums. The entity crate's code columns
//! are `String` (the entities know nothing of the domain); this is the one place a code
//! read back from an entity model is parsed. A code the domain does not know (none is ever
//! written) reads as the vocabulary's neutral value, named on each method.
use entity::{
    audit_event, authority, child, household, household_journey, link, recruitment_event,
};

use crate::domain::links::LinkState;
use crate::domain::{
    AuditAction, AuthorityKind, EnquiryChannel, Ethnicity, Gender, GenderPreference, NeedLevels,
    PlanChangeReason, RecruitmentReason, Stage,
};

/// The codes of a child row.
pub trait ChildCodes {
    /// `OTHER` if unknown.
    fn gender_code(&self) -> Gender;
    /// `NOT_RECORDED` if unknown.
    fn ethnicity_code(&self) -> Ethnicity;
    fn plan_change_reason_code(&self) -> Option<PlanChangeReason>;
    /// The need level per category, from the stored ranks.
    fn needs(&self) -> NeedLevels;
}

impl ChildCodes for child::Model {
    fn gender_code(&self) -> Gender {
        Gender::from_code(&self.gender).unwrap_or(Gender::Other)
    }
    fn ethnicity_code(&self) -> Ethnicity {
        Ethnicity::from_code(&self.ethnicity).unwrap_or(Ethnicity::NotRecorded)
    }
    fn plan_change_reason_code(&self) -> Option<PlanChangeReason> {
        self.plan_change_reason
            .as_deref()
            .and_then(PlanChangeReason::from_code)
    }
    fn needs(&self) -> NeedLevels {
        NeedLevels::from_ranks([
            self.need_physical_health,
            self.need_disability,
            self.need_learning,
            self.need_developmental_uncertainty,
            self.need_emotional_behavioural,
            self.need_prenatal_exposure,
        ])
    }
}

/// The codes of a household row.
pub trait HouseholdCodes {
    /// `ENQUIRY` if unknown.
    fn stage_code(&self) -> Stage;
    /// `NOT_RECORDED` if unknown.
    fn ethnicity_code(&self) -> Ethnicity;
    /// `OTHER` if unknown.
    fn channel_code(&self) -> EnquiryChannel;
    /// `ANY` if unknown.
    fn gender_preference_code(&self) -> GenderPreference;
    /// The highest need level accepted per category, from the stored ranks.
    fn accepts_needs(&self) -> NeedLevels;
}

impl HouseholdCodes for household::Model {
    fn stage_code(&self) -> Stage {
        Stage::from_code(&self.stage).unwrap_or(Stage::Enquiry)
    }
    fn ethnicity_code(&self) -> Ethnicity {
        Ethnicity::from_code(&self.ethnicity).unwrap_or(Ethnicity::NotRecorded)
    }
    fn channel_code(&self) -> EnquiryChannel {
        EnquiryChannel::from_code(&self.enquiry_channel).unwrap_or(EnquiryChannel::Other)
    }
    fn gender_preference_code(&self) -> GenderPreference {
        GenderPreference::from_code(&self.gender_preference).unwrap_or(GenderPreference::Any)
    }
    fn accepts_needs(&self) -> NeedLevels {
        NeedLevels::from_ranks([
            self.accepts_physical_health,
            self.accepts_disability,
            self.accepts_learning,
            self.accepts_developmental_uncertainty,
            self.accepts_emotional_behavioural,
            self.accepts_prenatal_exposure,
        ])
    }
}

/// The codes of a household's journey row.
pub trait JourneyCodes {
    /// `OTHER` if unknown.
    fn channel_code(&self) -> EnquiryChannel;
    fn exit_stage_code(&self) -> Option<Stage>;
    fn exit_reason_code(&self) -> Option<RecruitmentReason>;
}

impl JourneyCodes for household_journey::Model {
    fn channel_code(&self) -> EnquiryChannel {
        EnquiryChannel::from_code(&self.enquiry_channel).unwrap_or(EnquiryChannel::Other)
    }
    fn exit_stage_code(&self) -> Option<Stage> {
        self.exit_stage.as_deref().and_then(Stage::from_code)
    }
    fn exit_reason_code(&self) -> Option<RecruitmentReason> {
        self.exit_reason
            .as_deref()
            .and_then(RecruitmentReason::from_code)
    }
}

/// The codes of a recruitment event row.
pub trait EventCodes {
    /// `ENQUIRY` if unknown.
    fn stage_code(&self) -> Stage;
    fn reason_code(&self) -> Option<RecruitmentReason>;
}

impl EventCodes for recruitment_event::Model {
    fn stage_code(&self) -> Stage {
        Stage::from_code(&self.stage).unwrap_or(Stage::Enquiry)
    }
    fn reason_code(&self) -> Option<RecruitmentReason> {
        self.reason
            .as_deref()
            .and_then(RecruitmentReason::from_code)
    }
}

/// The state of a link row; `None` if unknown (no step may follow a state the workflow
/// does not know).
pub fn link_state(l: &link::Model) -> Option<LinkState> {
    LinkState::from_code(&l.state)
}

/// The kind of an authority row: `LOCAL_AUTHORITY` if unknown.
pub fn authority_kind(a: &authority::Model) -> AuthorityKind {
    AuthorityKind::from_code(&a.kind).unwrap_or(AuthorityKind::LocalAuthority)
}

/// The action of an audit event row: `VIEW` if unknown.
pub fn audit_action(e: &audit_event::Model) -> AuditAction {
    AuditAction::from_code(&e.action).unwrap_or(AuditAction::View)
}
