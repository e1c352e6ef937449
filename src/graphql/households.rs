//! Adopter households and their recruitment journey: the register of the recruiting
//! authority or agency.
use async_graphql::{Context, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::Utc;
use entity::{household, recruitment_event};
use sea_orm::ActiveValue::Set;
use serde_json::json;

use super::connection::{Conn, connection_by_id, page};
use super::context::ContextExt;
use super::ids::{IdKind, decode};
use super::inputs::{
    AreaInput, NeedsInput, area, filter_authorities, free_text, months, optional_text,
    target_authority, text,
};
use super::scalars::Date;
use super::types::{Household, RecruitmentEventView};
use crate::auth::{Actor, Capability, View};
use crate::domain::report_bounds;
use crate::domain::{
    AuditAction, EnquiryChannel, Ethnicity, GenderPreference, NeedLevels, RecruitmentEvent,
    RecruitmentReason, Stage, StageMachine,
};
use crate::error::{AppError, AppResult, DeniedRecord};
use crate::store;
use crate::store::households::{HouseholdFilter, HouseholdOrder, HouseholdScope};

/// Filters on the households register.
#[derive(InputObject, Default)]
pub struct HouseholdFilterInput {
    pub authority_ids: Option<Vec<ID>>,
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

/// Turns filter input into a store filter.
pub fn household_filter(
    ctx: &Context<'_>,
    actor: &Actor,
    input: &HouseholdFilterInput,
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
        authority_ids: filter_authorities(ctx, actor, input.authority_ids.as_deref(), allowed)?,
        stages: input.stages.clone(),
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

/// Names of the filters used, for the audit log (never their values).
pub fn used_household_filters(f: &HouseholdFilterInput) -> Vec<&'static str> {
    [
        (f.authority_ids.is_some(), "authorityIds"),
        (f.stages.is_some(), "stages"),
        (f.on_hold.is_some(), "onHold"),
        (f.approved_and_available.is_some(), "approvedAndAvailable"),
        (f.min_capacity.is_some(), "minCapacity"),
        (f.accepts_age_months.is_some(), "acceptsAgeMonths"),
        (f.accepts_siblings.is_some(), "acceptsSiblings"),
        (f.profile_name_contains.is_some(), "profileNameContains"),
    ]
    .into_iter()
    .filter_map(|(used, name)| used.then_some(name))
    .collect()
}

/// Loads a household the actor can see in full, or answers `NOT_FOUND`.
pub async fn visible_household(
    ctx: &Context<'_>,
    actor: &Actor,
    id: i64,
) -> AppResult<household::Model> {
    match store::households::find(&ctx.state().db, actor.consortium_id, id).await? {
        Some(h) if actor.household_view(&h) == View::Full => Ok(h),
        Some(h) => Err(AppError::hidden("Household", h.id, h.authority_id)),
        None => Err(AppError::NotFound),
    }
}

async fn household_for_change(
    ctx: &Context<'_>,
    actor: &Actor,
    (id, field): (&ID, &str),
    expected_version: i32,
    capability: Capability,
) -> AppResult<household::Model> {
    let id = decode(id, field, &[IdKind::Household])?;
    let h = match store::households::find(&ctx.state().db, actor.consortium_id, id).await? {
        Some(h) if actor.household_view(&h) != View::Hidden => h,
        Some(h) => return Err(AppError::hidden("Household", h.id, h.authority_id)),
        None => return Err(AppError::NotFound),
    };
    actor.require(capability, h.authority_id).map_err(|e| {
        e.about(DeniedRecord {
            entity_type: "Household",
            id: h.id,
            owner: h.authority_id,
        })
    })?;
    if h.version != expected_version {
        return Err(AppError::Conflict(store::stale("household")));
    }
    Ok(h)
}

/// A new household, registered at its enquiry.
#[derive(InputObject)]
pub struct CreateHouseholdInput {
    /// The recruiting authority; may be left out by staff of a single authority.
    pub authority_id: Option<ID>,
    pub applicant_one_name: String,
    pub applicant_two_name: Option<String>,
    pub address: Option<String>,
    pub notes: Option<String>,
    /// The name used when the household's profile is shared.
    pub profile_name: String,
    #[graphql(default_with = "Ethnicity::NotRecorded")]
    pub ethnicity: Ethnicity,
    pub channel: EnquiryChannel,
    pub enquiry_on: Date,
    /// Second-time adopters and the child's foster carers may go straight to Stage Two.
    #[graphql(default)]
    pub fast_track: bool,
}

/// What a household is approved for; fields left out stay as they are.
#[derive(InputObject, Default)]
pub struct ApprovalProfileInput {
    pub capacity: Option<i32>,
    pub age_min_months: Option<i32>,
    pub age_max_months: Option<i32>,
    pub accepts_needs: Option<NeedsInput>,
    pub accepts_siblings: Option<bool>,
    pub gender_preference: Option<GenderPreference>,
    pub early_permanence_approved: Option<bool>,
    pub religion: MaybeUndefined<String>,
    pub languages: Option<Vec<String>>,
    pub culture: MaybeUndefined<String>,
}

/// Changes to a household; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateHouseholdInput {
    pub id: ID,
    pub expected_version: i32,
    pub applicant_one_name: Option<String>,
    pub applicant_two_name: MaybeUndefined<String>,
    pub address: MaybeUndefined<String>,
    pub notes: MaybeUndefined<String>,
    pub profile_name: Option<String>,
    pub ethnicity: Option<Ethnicity>,
    pub approval: Option<ApprovalProfileInput>,
    pub location: MaybeUndefined<AreaInput>,
    pub profile_text: Option<String>,
    pub available_for_matching: Option<bool>,
    pub shared_with_consortium: Option<bool>,
}

/// The next step of a household's journey.
#[derive(InputObject)]
pub struct RecordRecruitmentEventInput {
    pub household_id: ID,
    pub expected_version: i32,
    pub stage: Stage,
    pub occurred_on: Date,
    /// Required for `WITHDRAWN` and `ENDED_BY_AGENCY`; optional for `ON_HOLD`.
    pub reason: Option<RecruitmentReason>,
}

/// The household after a change.
#[derive(SimpleObject)]
pub struct HouseholdPayload {
    pub household: Household,
}

/// The household and the event just recorded.
#[derive(SimpleObject)]
pub struct RecruitmentEventPayload {
    pub household: Household,
    pub event: RecruitmentEventView,
}

/// Household queries.
#[derive(Default)]
pub struct HouseholdQuery;

#[Object]
impl HouseholdQuery {
    /// Full records of households of the authorities where the actor may read them.
    #[graphql(complexity = "crate::graphql::limits::connection_cost(first, child_complexity)")]
    async fn households(
        &self,
        ctx: &Context<'_>,
        filter: Option<HouseholdFilterInput>,
        #[graphql(default_with = "HouseholdOrder::Created")] order_by: HouseholdOrder,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<Conn<Household>> {
        let actor = ctx.actor()?;
        let allowed = actor.require_anywhere(Capability::ReadHouseholds)?;
        let page = page(first, after)?;
        let input = filter.unwrap_or_default();
        let filter = household_filter(ctx, actor, &input, Some(&allowed))?;
        let scope = HouseholdScope::Authorities {
            consortium_id: actor.consortium_id,
            authority_ids: allowed,
        };
        let (rows, total) = store::households::list(
            &ctx.state().db,
            &ctx.state().counts,
            &scope,
            &filter,
            order_by,
            page,
        )
        .await?;
        ctx.audit(
            AuditAction::Search,
            "Household",
            None,
            None,
            json!({ "filters": used_household_filters(&input), "orderBy": format!("{order_by:?}") }),
        );
        for h in &rows {
            ctx.audit(
                AuditAction::View,
                "Household",
                Some(h.id),
                Some(h.authority_id),
                json!({}),
            );
        }
        Ok(connection_by_id(
            rows.into_iter().map(Household).collect(),
            page,
            total,
            |h| h.0.id,
        ))
    }

    /// One household's full record.
    async fn household(&self, ctx: &Context<'_>, id: ID) -> AppResult<Household> {
        let actor = ctx.actor()?;
        let h = visible_household(ctx, actor, decode(&id, "id", &[IdKind::Household])?).await?;
        ctx.audit(
            AuditAction::View,
            "Household",
            Some(h.id),
            Some(h.authority_id),
            json!({}),
        );
        Ok(Household(h))
    }
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
    input: &ApprovalProfileInput,
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
        set_accepts(am, n.into());
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
    if !input.religion.is_undefined() {
        am.religion = Set(optional_text(
            "approval.religion",
            input.religion.value().map(String::as_str),
            50,
        )?);
        changed.push("religion");
    }
    if let Some(v) = &input.languages {
        am.languages = Set(language_list(v)?);
        changed.push("languages");
    }
    if !input.culture.is_undefined() {
        am.culture = Set(optional_text(
            "approval.culture",
            input.culture.value().map(String::as_str),
            50,
        )?);
        changed.push("culture");
    }
    Ok(())
}

/// Household mutations.
#[derive(Default)]
pub struct HouseholdMutation;

#[Object]
impl HouseholdMutation {
    /// Registers a household at its enquiry (RECRUITMENT_OFFICER); records the `ENQUIRY`.
    async fn create_household(
        &self,
        ctx: &Context<'_>,
        input: CreateHouseholdInput,
    ) -> AppResult<HouseholdPayload> {
        let actor = ctx.actor()?;
        let authority_id = target_authority(
            ctx,
            actor,
            input.authority_id.as_ref(),
            Capability::WriteHouseholds,
        )?;
        let today = ctx.request().today;
        if input.enquiry_on.0 > today {
            return Err(AppError::bad_input(
                "enquiryOn",
                "the date cannot be in the future",
            ));
        }
        if !report_bounds::in_report_range(input.enquiry_on.0) {
            return Err(AppError::bad_input(
                "enquiryOn",
                format!(
                    "the date cannot be before {}-01-01",
                    report_bounds::EARLIEST_REPORT_YEAR
                ),
            ));
        }
        let now = Utc::now();
        let mut am = household::ActiveModel {
            consortium_id: Set(actor.consortium_id),
            authority_id: Set(authority_id),
            version: Set(1),
            applicant_one_name: Set(text("applicantOneName", &input.applicant_one_name, 200)?),
            applicant_two_name: Set(optional_text(
                "applicantTwoName",
                input.applicant_two_name.as_deref(),
                200,
            )?),
            address: Set(optional_text("address", input.address.as_deref(), 500)?),
            notes: Set(optional_text("notes", input.notes.as_deref(), 5000)?),
            profile_name: Set(text("profileName", &input.profile_name, 100)?),
            ethnicity: Set(input.ethnicity.code().into()),
            enquiry_channel: Set(input.channel.code().into()),
            enquiry_on: Set(input.enquiry_on.0),
            fast_track: Set(input.fast_track),
            stage: Set(Stage::Enquiry.code().into()),
            stage_on: Set(input.enquiry_on.0),
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
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        set_accepts(&mut am, NeedLevels::default());
        let request = ctx.request().clone();
        let subject = actor.subject.clone();
        let enquiry_on = input.enquiry_on.0;
        let created = store::households::create(
            &ctx.state().db,
            am,
            |id| recruitment_event::ActiveModel {
                consortium_id: Set(request
                    .actor
                    .as_ref()
                    .map(|a| a.consortium_id)
                    .unwrap_or_default()),
                authority_id: Set(authority_id),
                household_id: Set(id),
                stage: Set(Stage::Enquiry.code().into()),
                occurred_on: Set(enquiry_on),
                reason: Set(None),
                recorded_by: Set(subject),
                recorded_at: Set(now),
                ..Default::default()
            },
            |id| {
                super::context::audit_row(
                    &request,
                    AuditAction::Create,
                    "Household",
                    Some(id),
                    Some(authority_id),
                    json!({ "channel": input.channel.code() }),
                )
            },
        )
        .await?;
        Ok(HouseholdPayload {
            household: Household(created),
        })
    }

    /// Changes a household's details, approval profile, availability or sharing
    /// (RECRUITMENT_OFFICER).
    async fn update_household(
        &self,
        ctx: &Context<'_>,
        input: UpdateHouseholdInput,
    ) -> AppResult<HouseholdPayload> {
        let actor = ctx.actor()?;
        let h = household_for_change(
            ctx,
            actor,
            (&input.id, "id"),
            input.expected_version,
            Capability::WriteHouseholds,
        )
        .await?;
        let mut am = household::ActiveModel::default();
        let mut changed = Vec::new();
        if let Some(v) = &input.applicant_one_name {
            am.applicant_one_name = Set(text("applicantOneName", v, 200)?);
            changed.push("applicantOneName");
        }
        if !input.applicant_two_name.is_undefined() {
            am.applicant_two_name = Set(optional_text(
                "applicantTwoName",
                input.applicant_two_name.value().map(String::as_str),
                200,
            )?);
            changed.push("applicantTwoName");
        }
        if !input.address.is_undefined() {
            am.address = Set(optional_text(
                "address",
                input.address.value().map(String::as_str),
                500,
            )?);
            changed.push("address");
        }
        if !input.notes.is_undefined() {
            am.notes = Set(optional_text(
                "notes",
                input.notes.value().map(String::as_str),
                5000,
            )?);
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
        match &input.location {
            MaybeUndefined::Undefined => {}
            MaybeUndefined::Null => {
                am.lat = Set(None);
                am.lon = Set(None);
                changed.push("location");
            }
            MaybeUndefined::Value(a) => {
                let (lat, lon) = area("location", *a)?;
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
            let stage = Stage::from_code(&h.stage).unwrap_or(Stage::Enquiry);
            if v && !stage.may_be_available() {
                return Err(AppError::bad_input(
                    "availableForMatching",
                    format!(
                        "only an approved household can be available for matching (this one \
                         is {})",
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
        let audit = ctx.audit_row(
            AuditAction::Update,
            "Household",
            Some(h.id),
            Some(h.authority_id),
            json!({ "fields": changed }),
        );
        let updated = store::households::update(
            &ctx.state().db,
            h.id,
            input.expected_version,
            am,
            None,
            audit,
        )
        .await?;
        Ok(HouseholdPayload {
            household: Household(updated),
        })
    }

    /// Records the next step of a household's journey. `APPROVED` is a decision
    /// (DECISION_MAKER); `MATCHED`, `PLACED` and `ADOPTION_ORDER` come from the link
    /// workflow; everything else is for RECRUITMENT_OFFICERs.
    async fn record_recruitment_event(
        &self,
        ctx: &Context<'_>,
        input: RecordRecruitmentEventInput,
    ) -> AppResult<RecruitmentEventPayload> {
        let actor = ctx.actor()?;
        let capability = match input.stage {
            Stage::Approved => Capability::ApproveHouseholds,
            _ => Capability::WriteHouseholds,
        };
        let h = household_for_change(
            ctx,
            actor,
            (&input.household_id, "householdId"),
            input.expected_version,
            capability,
        )
        .await?;
        if input.stage.is_link_outcome() {
            return Err(AppError::bad_input(
                "stage",
                format!("{} is recorded by the link workflow", input.stage.code()),
            ));
        }
        let current = StageMachine {
            stage: Stage::from_code(&h.stage).unwrap_or(Stage::Enquiry),
            on_hold: h.on_hold,
            last_on: h.stage_on,
            fast_track: h.fast_track,
        };
        let event = RecruitmentEvent {
            stage: input.stage,
            occurred_on: input.occurred_on.0,
            reason: input.reason,
        };
        let next = current
            .record(event, ctx.request().today)
            .map_err(|e| AppError::bad_input(e.field, e.message))?;
        let mut am = household::ActiveModel {
            stage: Set(next.stage.code().into()),
            stage_on: Set(next.last_on),
            on_hold: Set(next.on_hold),
            ..Default::default()
        };
        if input.stage == Stage::Approved {
            am.approved_on = Set(Some(input.occurred_on.0));
            am.available_for_matching = Set(true);
        }
        if input.stage.is_exit() {
            am.available_for_matching = Set(false);
        }
        let now = Utc::now();
        let event = recruitment_event::ActiveModel {
            consortium_id: Set(h.consortium_id),
            authority_id: Set(h.authority_id),
            household_id: Set(h.id),
            stage: Set(input.stage.code().into()),
            occurred_on: Set(input.occurred_on.0),
            reason: Set(input.reason.map(|r| r.code().into())),
            recorded_by: Set(actor.subject.clone()),
            recorded_at: Set(now),
            ..Default::default()
        };
        let action = if input.stage == Stage::Approved {
            AuditAction::Decide
        } else {
            AuditAction::Update
        };
        let audit = ctx.audit_row(
            action,
            "Household",
            Some(h.id),
            Some(h.authority_id),
            json!({ "stage": input.stage.code() }),
        );
        let updated = store::households::update(
            &ctx.state().db,
            h.id,
            input.expected_version,
            am,
            Some(event),
            audit,
        )
        .await?;
        let recorded = store::households::events(&ctx.state().db, h.id)
            .await?
            .pop()
            .ok_or_else(|| AppError::from(anyhow::anyhow!("recorded event not found")))?;
        Ok(RecruitmentEventPayload {
            household: Household(updated),
            event: RecruitmentEventView(recorded),
        })
    }
}
