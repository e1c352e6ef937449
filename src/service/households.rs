//! Adopter households: registering and changing a household, its recruitment stages and
//! its matching profile; the households register as a [`Record`] (what the audit calls a
//! household, how much of one an actor sees, the criteria of a search).
use chrono::{NaiveDate, Utc};
use entity::{household, recruitment_event};
use sea_orm::ActiveValue::Set;
use serde_json::json;

use super::Service;
use super::input::{free_text, months, optional_text, text};
use super::records::{
    Decoded, Record, area, filter_authorities, for_change, target_authority, used,
};
use crate::auth::{Actor, Capability, View};
use crate::domain::report_bounds;
use crate::domain::{
    AuditAction, EnquiryChannel, Ethnicity, GenderPreference, NeedLevels, RecruitmentEvent, Stage,
    StageMachine,
};
use crate::error::{AppError, AppResult};
use crate::store;
use crate::store::codes::HouseholdCodes;
use crate::store::households::HouseholdFilter;
pub use crate::store::households::HouseholdOrder;

// ---------------------------------------------------------------------------------------
// The register
// ---------------------------------------------------------------------------------------

/// Filters on a list of households, as asked.
#[derive(Default)]
pub struct HouseholdCriteria {
    pub authority_ids: Option<Vec<Decoded<i64>>>,
    pub stages: Option<Vec<Stage>>,
    pub on_hold: Option<bool>,
    /// Approved, available for matching and not on hold.
    pub approved_and_available: Option<bool>,
    pub min_capacity: Option<i32>,
    /// Accepts a child of this age, in months.
    pub accepts_age_months: Option<i32>,
    pub accepts_siblings: Option<bool>,
    pub profile_name_contains: Option<String>,
}

impl Record for household::Entity {
    const RECORD: &'static str = "Household";
    const PROFILE: &'static str = "HouseholdProfile";
    const READ: Capability = Capability::ReadHouseholds;
    type Criteria = HouseholdCriteria;

    fn id(h: &household::Model) -> i64 {
        h.id
    }

    fn owner(h: &household::Model) -> i64 {
        h.authority_id
    }

    fn version(h: &household::Model) -> i32 {
        h.version
    }

    fn view(actor: &Actor, h: &household::Model) -> View {
        actor.household_view(h)
    }

    fn used(criteria: &HouseholdCriteria) -> Vec<&'static str> {
        used(&[
            (criteria.authority_ids.is_some(), "authorityIds"),
            (criteria.stages.is_some(), "stages"),
            (criteria.on_hold.is_some(), "onHold"),
            (
                criteria.approved_and_available.is_some(),
                "approvedAndAvailable",
            ),
            (criteria.min_capacity.is_some(), "minCapacity"),
            (criteria.accepts_age_months.is_some(), "acceptsAgeMonths"),
            (criteria.accepts_siblings.is_some(), "acceptsSiblings"),
            (
                criteria.profile_name_contains.is_some(),
                "profileNameContains",
            ),
        ])
    }

    fn filter(
        svc: Service<'_>,
        actor: &Actor,
        input: HouseholdCriteria,
        allowed: Option<&[i64]>,
    ) -> AppResult<HouseholdFilter> {
        let min_capacity = match input.min_capacity {
            Some(n) if !(1..=10).contains(&n) => {
                return Err(AppError::bad_input(
                    "filter.minCapacity",
                    "must be between 1 and 10",
                ));
            }
            n => n.map(|n| n as i16),
        };
        let accepts_age_months = match input.accepts_age_months {
            Some(m) => Some(months("filter.acceptsAgeMonths", m)?),
            None => None,
        };
        Ok(HouseholdFilter {
            authority_ids: filter_authorities(svc, actor, input.authority_ids, allowed)?,
            stages: input.stages,
            on_hold: input.on_hold,
            approved_and_available: input.approved_and_available,
            min_capacity,
            accepts_age_months,
            accepts_siblings: input.accepts_siblings,
            profile_name_contains: optional_text(
                "filter.profileNameContains",
                input.profile_name_contains.as_deref(),
                100,
            )?,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Changing a household
// ---------------------------------------------------------------------------------------

/// A new household, registered at its enquiry.
pub struct NewHousehold {
    /// The recruiting authority; may be left out by staff of a single authority.
    pub authority_id: Option<Decoded<i64>>,
    pub applicant_one_name: String,
    pub applicant_two_name: Option<String>,
    pub address: Option<String>,
    pub notes: Option<String>,
    pub profile_name: String,
    pub ethnicity: Ethnicity,
    pub channel: EnquiryChannel,
    pub enquiry_on: NaiveDate,
    pub fast_track: bool,
}

/// What a household is approved for; `None` leaves a field as it is, `Some(None)` clears
/// it.
#[derive(Default)]
pub struct ApprovalChanges {
    pub capacity: Option<i32>,
    pub age_min_months: Option<i32>,
    pub age_max_months: Option<i32>,
    pub accepts_needs: Option<NeedLevels>,
    pub accepts_siblings: Option<bool>,
    pub gender_preference: Option<GenderPreference>,
    pub early_permanence_approved: Option<bool>,
    pub religion: Option<Option<String>>,
    pub languages: Option<Vec<String>>,
    pub culture: Option<Option<String>>,
}

/// Changes to a household; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Default)]
pub struct HouseholdChanges {
    pub applicant_one_name: Option<String>,
    pub applicant_two_name: Option<Option<String>>,
    pub address: Option<Option<String>>,
    pub notes: Option<Option<String>>,
    pub profile_name: Option<String>,
    pub ethnicity: Option<Ethnicity>,
    pub approval: Option<ApprovalChanges>,
    /// Latitude and longitude.
    pub location: Option<Option<(f64, f64)>>,
    pub profile_text: Option<String>,
    pub available_for_matching: Option<bool>,
    pub shared_with_consortium: Option<bool>,
}

fn set_accepts(am: &mut household::ActiveModel, needs: NeedLevels) {
    let r = needs.ranks();
    am.accepts_physical_health = Set(r[0]);
    am.accepts_disability = Set(r[1]);
    am.accepts_learning = Set(r[2]);
    am.accepts_developmental_uncertainty = Set(r[3]);
    am.accepts_emotional_behavioural = Set(r[4]);
    am.accepts_prenatal_exposure = Set(r[5]);
}

/// The most languages a household's profile may list.
const MAX_LANGUAGES: usize = 20;

fn language_list(languages: &[String]) -> AppResult<Option<String>> {
    if languages.len() > MAX_LANGUAGES {
        return Err(AppError::bad_input(
            "approval.languages",
            format!("list at most {MAX_LANGUAGES} languages"),
        ));
    }
    let mut codes = Vec::new();
    for l in languages {
        let code = text("approval.languages", l, 50)?;
        if code.contains(',') {
            return Err(AppError::bad_input(
                "approval.languages",
                "a language code cannot contain a comma",
            ));
        }
        codes.push(code);
    }
    Ok((!codes.is_empty()).then(|| codes.join(",")))
}

fn apply_approval(
    am: &mut household::ActiveModel,
    current: &household::Model,
    input: &ApprovalChanges,
    changed: &mut Vec<&'static str>,
) -> AppResult<()> {
    if let Some(n) = input.capacity {
        if !(1..=6).contains(&n) {
            return Err(AppError::bad_input(
                "approval.capacity",
                "capacity is between 1 and 6 children",
            ));
        }
        am.capacity = Set(n as i16);
        changed.push("capacity");
    }
    let min = match input.age_min_months {
        Some(m) => months("approval.ageMinMonths", m)?,
        None => current.age_min_months,
    };
    let max = match input.age_max_months {
        Some(m) => months("approval.ageMaxMonths", m)?,
        None => current.age_max_months,
    };
    if min > max {
        return Err(AppError::bad_input(
            "approval.ageMaxMonths",
            "the age range ends before it starts",
        ));
    }
    if input.age_min_months.is_some() || input.age_max_months.is_some() {
        am.age_min_months = Set(min);
        am.age_max_months = Set(max);
        changed.push("ageRange");
    }
    if let Some(n) = input.accepts_needs {
        set_accepts(am, n);
        changed.push("acceptsNeeds");
    }
    if let Some(v) = input.accepts_siblings {
        am.accepts_siblings = Set(v);
        changed.push("acceptsSiblings");
    }
    if let Some(v) = input.gender_preference {
        am.gender_preference = Set(v.code().into());
        changed.push("genderPreference");
    }
    if let Some(v) = input.early_permanence_approved {
        am.early_permanence_approved = Set(v);
        changed.push("earlyPermanenceApproved");
    }
    if let Some(v) = &input.religion {
        am.religion = Set(optional_text("approval.religion", v.as_deref(), 50)?);
        changed.push("religion");
    }
    if let Some(v) = &input.languages {
        am.languages = Set(language_list(v)?);
        changed.push("languages");
    }
    if let Some(v) = &input.culture {
        am.culture = Set(optional_text("approval.culture", v.as_deref(), 50)?);
        changed.push("culture");
    }
    Ok(())
}

/// The row of a recruitment event of a household of `(consortium, authority)`, recorded by
/// `subject` at `now` (`household_id` left unset for a household not yet written).
pub(super) fn event_row(
    (consortium_id, authority_id): (i64, i64),
    household_id: Option<i64>,
    event: &RecruitmentEvent,
    subject: &str,
    now: chrono::DateTime<Utc>,
) -> recruitment_event::ActiveModel {
    let mut row = recruitment_event::ActiveModel {
        consortium_id: Set(consortium_id),
        authority_id: Set(authority_id),
        stage: Set(event.stage.code().into()),
        occurred_on: Set(event.occurred_on),
        reason: Set(event.reason.map(|r| r.code().into())),
        recorded_by: Set(subject.to_owned()),
        recorded_at: Set(now),
        ..Default::default()
    };
    if let Some(id) = household_id {
        row.household_id = Set(id);
    }
    row
}

/// A household as registered at its enquiry: at the `ENQUIRY` stage, the approval
/// profile's defaults (one child, 0–60 months, no needs accepted), not available for
/// matching, shared with the consortium once it is.
/// Its details are taken as they are: checked by the caller.
pub(super) fn registered(
    consortium_id: i64,
    authority_id: i64,
    r: NewHousehold,
    now: chrono::DateTime<Utc>,
) -> household::ActiveModel {
    let mut am = household::ActiveModel {
        consortium_id: Set(consortium_id),
        authority_id: Set(authority_id),
        version: Set(1),
        applicant_one_name: Set(r.applicant_one_name),
        applicant_two_name: Set(r.applicant_two_name),
        address: Set(r.address),
        notes: Set(r.notes),
        profile_name: Set(r.profile_name),
        ethnicity: Set(r.ethnicity.code().into()),
        enquiry_channel: Set(r.channel.code().into()),
        enquiry_on: Set(r.enquiry_on),
        fast_track: Set(r.fast_track),
        stage: Set(Stage::Enquiry.code().into()),
        stage_on: Set(r.enquiry_on),
        on_hold: Set(false),
        approved_on: Set(None),
        capacity: Set(1),
        age_min_months: Set(0),
        age_max_months: Set(60),
        accepts_siblings: Set(false),
        gender_preference: Set(GenderPreference::Any.code().into()),
        early_permanence_approved: Set(false),
        religion: Set(None),
        languages: Set(None),
        culture: Set(None),
        lat: Set(None),
        lon: Set(None),
        profile_text: Set(String::new()),
        available_for_matching: Set(false),
        shared_with_consortium: Set(true),
        import_reference: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    set_accepts(&mut am, NeedLevels::default());
    am
}

/// Registers a household at its enquiry (RECRUITMENT_OFFICER); records the `ENQUIRY`.
pub async fn create_household(
    svc: Service<'_>,
    input: NewHousehold,
) -> AppResult<household::Model> {
    let actor = svc.actor()?;
    let authority_id =
        target_authority(svc, actor, input.authority_id, Capability::WriteHouseholds)?;
    let today = svc.today();
    if input.enquiry_on > today {
        return Err(AppError::bad_input(
            "enquiryOn",
            "the date cannot be in the future",
        ));
    }
    if !report_bounds::in_report_range(input.enquiry_on) {
        return Err(AppError::bad_input(
            "enquiryOn",
            format!(
                "the date cannot be before {}-01-01",
                report_bounds::EARLIEST_REPORT_YEAR
            ),
        ));
    }
    let now = Utc::now();
    let am = registered(
        actor.consortium_id,
        authority_id,
        NewHousehold {
            authority_id: None,
            applicant_one_name: text("applicantOneName", &input.applicant_one_name, 200)?,
            applicant_two_name: optional_text(
                "applicantTwoName",
                input.applicant_two_name.as_deref(),
                200,
            )?,
            address: optional_text("address", input.address.as_deref(), 500)?,
            notes: optional_text("notes", input.notes.as_deref(), 5000)?,
            profile_name: text("profileName", &input.profile_name, 100)?,
            ethnicity: input.ethnicity,
            channel: input.channel,
            enquiry_on: input.enquiry_on,
            fast_track: input.fast_track,
        },
        now,
    );
    let enquiry_on = input.enquiry_on;
    let channel = input.channel;
    let consortium_id = actor.consortium_id;
    let subject = actor.subject.clone();
    store::households::create(
        svc.db(),
        am,
        |id| {
            let enquiry = RecruitmentEvent {
                stage: Stage::Enquiry,
                occurred_on: enquiry_on,
                reason: None,
            };
            event_row(
                (consortium_id, authority_id),
                Some(id),
                &enquiry,
                &subject,
                now,
            )
        },
        |id| {
            svc.audit_row(
                AuditAction::Create,
                "Household",
                Some(id),
                Some(authority_id),
                json!({ "channel": channel.code() }),
            )
        },
    )
    .await
}

/// Changes a household's details, approval profile, availability or sharing
/// (RECRUITMENT_OFFICER).
pub async fn update_household(
    svc: Service<'_>,
    id: Decoded<i64>,
    expected_version: i32,
    input: HouseholdChanges,
) -> AppResult<household::Model> {
    let actor = svc.actor()?;
    let h = for_change::<household::Entity>(
        svc,
        actor,
        id,
        expected_version,
        Capability::WriteHouseholds,
    )
    .await?;
    let mut am = household::ActiveModel::default();
    let mut changed = Vec::new();
    if let Some(v) = &input.applicant_one_name {
        am.applicant_one_name = Set(text("applicantOneName", v, 200)?);
        changed.push("applicantOneName");
    }
    if let Some(v) = &input.applicant_two_name {
        am.applicant_two_name = Set(optional_text("applicantTwoName", v.as_deref(), 200)?);
        changed.push("applicantTwoName");
    }
    if let Some(v) = &input.address {
        am.address = Set(optional_text("address", v.as_deref(), 500)?);
        changed.push("address");
    }
    if let Some(v) = &input.notes {
        am.notes = Set(optional_text("notes", v.as_deref(), 5000)?);
        changed.push("notes");
    }
    if let Some(v) = &input.profile_name {
        am.profile_name = Set(text("profileName", v, 100)?);
        changed.push("profileName");
    }
    if let Some(v) = input.ethnicity {
        am.ethnicity = Set(v.code().into());
        changed.push("ethnicity");
    }
    if let Some(approval) = &input.approval {
        apply_approval(&mut am, &h, approval, &mut changed)?;
    }
    match input.location {
        None => {}
        Some(None) => {
            am.lat = Set(None);
            am.lon = Set(None);
            changed.push("location");
        }
        Some(Some(a)) => {
            let (lat, lon) = area("location", a)?;
            am.lat = Set(Some(lat));
            am.lon = Set(Some(lon));
            changed.push("location");
        }
    }
    if let Some(v) = &input.profile_text {
        am.profile_text = Set(free_text("profileText", v, 5000)?);
        changed.push("profileText");
    }
    if let Some(v) = input.available_for_matching {
        let stage = h.stage_code();
        if v && !stage.may_be_available() {
            return Err(AppError::bad_input(
                "availableForMatching",
                format!(
                    "only an approved household can be available for matching (this one is {})",
                    stage.code()
                ),
            ));
        }
        am.available_for_matching = Set(v);
        changed.push("availableForMatching");
    }
    if let Some(v) = input.shared_with_consortium {
        am.shared_with_consortium = Set(v);
        changed.push("sharedWithConsortium");
    }
    let audit = svc.audit_row(
        AuditAction::Update,
        "Household",
        Some(h.id),
        Some(h.authority_id),
        json!({ "fields": changed }),
    );
    store::households::update(svc.db(), h.id, expected_version, am, None, audit).await
}

/// Records the next step of a household's journey: the household after it and the event
/// recorded. `APPROVED` is a decision (DECISION_MAKER); `MATCHED`, `PLACED` and
/// `ADOPTION_ORDER` come from the link workflow; everything else is for
/// RECRUITMENT_OFFICERs.
pub async fn record_recruitment_event(
    svc: Service<'_>,
    household_id: Decoded<i64>,
    expected_version: i32,
    event: RecruitmentEvent,
) -> AppResult<(household::Model, recruitment_event::Model)> {
    let actor = svc.actor()?;
    let capability = match event.stage {
        Stage::Approved => Capability::ApproveHouseholds,
        _ => Capability::WriteHouseholds,
    };
    let h = for_change::<household::Entity>(svc, actor, household_id, expected_version, capability)
        .await?;
    if event.stage.is_link_outcome() {
        return Err(AppError::bad_input(
            "stage",
            format!("{} is recorded by the link workflow", event.stage.code()),
        ));
    }
    let current = StageMachine {
        stage: h.stage_code(),
        on_hold: h.on_hold,
        last_on: h.stage_on,
        fast_track: h.fast_track,
    };
    let RecruitmentEvent {
        stage, occurred_on, ..
    } = event;
    let next = current
        .record(event, svc.today())
        .map_err(|e| AppError::bad_input(e.field, e.message))?;
    let mut am = household::ActiveModel {
        stage: Set(next.stage.code().into()),
        stage_on: Set(next.last_on),
        on_hold: Set(next.on_hold),
        ..Default::default()
    };
    if stage == Stage::Approved {
        am.approved_on = Set(Some(occurred_on));
        am.available_for_matching = Set(true);
    }
    if stage.is_exit() {
        am.available_for_matching = Set(false);
    }
    let now = Utc::now();
    let row = event_row(
        (h.consortium_id, h.authority_id),
        Some(h.id),
        &event,
        &actor.subject,
        now,
    );
    let action = if stage == Stage::Approved {
        AuditAction::Decide
    } else {
        AuditAction::Update
    };
    let audit = svc.audit_row(
        action,
        "Household",
        Some(h.id),
        Some(h.authority_id),
        json!({ "stage": stage.code() }),
    );
    let updated =
        store::households::update(svc.db(), h.id, expected_version, am, Some(row), audit).await?;
    let recorded = store::households::events(svc.db(), h.id)
        .await?
        .pop()
        .ok_or_else(|| AppError::from(anyhow::anyhow!("recorded event not found")))?;
    Ok((updated, recorded))
}
