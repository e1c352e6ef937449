//! Children and sibling groups: the register of the child's authority.
use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{Months, Utc};
use entity::{child, sibling_group};
use sea_orm::ActiveValue::Set;
use sea_orm::DatabaseConnection;
use serde_json::json;

use super::connection::{Conn, connection_by_id, page};
use super::context::ContextExt;
use super::ids::{IdKind, decode};
use super::inputs::{
    AreaInput, NeedsInput, area, filter_authorities, free_text, months, optional_text,
    target_authority, text,
};
use super::links;
use super::scalars::Date;
use super::types::{Child, SiblingGroup};
use crate::auth::policy::milestones_of;
use crate::auth::{Actor, Capability, View};
use crate::domain::links::LinkState;
use crate::domain::{
    AuditAction, ChildStatus, Ethnicity, Gender, MilestoneDates, NeedLevels, PlanChangeReason,
};
use crate::error::{AppError, AppResult, DeniedRecord};
use crate::service::events;
use crate::store;
use crate::store::children::{ChildFilter, ChildOrder, ChildScope};

/// Filters on the children register.
#[derive(InputObject, Default)]
pub struct ChildFilterInput {
    pub authority_ids: Option<Vec<ID>>,
    pub statuses: Option<Vec<ChildStatus>>,
    /// Waiting (since SHOBPA decision or placement order) for more than this many days.
    pub waiting_longer_than_days: Option<i32>,
    pub age_min_months: Option<i32>,
    pub age_max_months: Option<i32>,
    /// Every need at or below these levels.
    pub needs_at_most: Option<NeedsInput>,
    pub sibling_group_id: Option<ID>,
    pub in_sibling_group: Option<bool>,
    /// Case-insensitive text in the profile name.
    pub profile_name_contains: Option<String>,
}

/// The longest wait a filter may name (about 18 years: no child waits longer).
const MAX_WAITING_DAYS: i32 = 6600;

/// Turns the shared filter fields into store filters, with dates computed from `today`.
pub fn child_filter(
    ctx: &Context<'_>,
    actor: &Actor,
    input: ChildFilterInput,
    allowed: Option<&[i64]>,
) -> AppResult<ChildFilter> {
    let today = ctx.request().today;
    let authority_ids = filter_authorities(ctx, actor, input.authority_ids.as_deref(), allowed)?;
    let waiting_since_on_or_before = match input.waiting_longer_than_days {
        Some(n) if !(0..=MAX_WAITING_DAYS).contains(&n) => {
            return Err(AppError::bad_input(
                "filter.waitingLongerThanDays",
                format!("must be between 0 and {MAX_WAITING_DAYS}"),
            ));
        }
        Some(n) => Some(today - chrono::Days::new(n as u64 + 1)),
        None => None,
    };
    let born_on_or_before = match input.age_min_months {
        Some(m) => Some(today - Months::new(months("filter.ageMinMonths", m)? as u32)),
        None => None,
    };
    let born_after = match input.age_max_months {
        Some(m) => Some(today - Months::new(months("filter.ageMaxMonths", m)? as u32 + 1)),
        None => None,
    };
    let sibling_group_id = match &input.sibling_group_id {
        Some(id) => Some(decode(
            id,
            "filter.siblingGroupId",
            &[IdKind::SiblingGroup],
        )?),
        None => None,
    };
    Ok(ChildFilter {
        authority_ids,
        statuses: input.statuses,
        waiting_since_on_or_before,
        born_on_or_before,
        born_after,
        needs_at_most: input.needs_at_most.map(NeedLevels::from),
        sibling_group_id,
        in_sibling_group: input.in_sibling_group,
        profile_name_contains: optional_text(
            "filter.profileNameContains",
            input.profile_name_contains.as_deref(),
            100,
        )?,
    })
}

/// Loads a child the actor can see in full, or answers `NOT_FOUND`.
pub async fn visible_child(ctx: &Context<'_>, actor: &Actor, id: i64) -> AppResult<child::Model> {
    find_visible_child(&ctx.state().db, actor, id).await
}

/// Loads a child the actor can see in full, or answers `NOT_FOUND`: the rule of the `child`
/// and `trackingAlerts` queries, and of tracking alerts delivered by `notifications`.
pub async fn find_visible_child(
    db: &DatabaseConnection,
    actor: &Actor,
    id: i64,
) -> AppResult<child::Model> {
    match store::children::find(db, actor.consortium_id, id).await? {
        Some(c) if actor.child_view(&c) == View::Full => Ok(c),
        Some(c) => Err(AppError::hidden("Child", c.id, c.authority_id)),
        None => Err(AppError::NotFound),
    }
}

/// A child, as a refusal names it to the audit.
pub fn child_record(c: &child::Model) -> DeniedRecord {
    DeniedRecord {
        entity_type: "Child",
        id: c.id,
        owner: c.authority_id,
    }
}

/// Loads a child for a change needing `capability` at `expected_version`.
async fn child_for_change(
    ctx: &Context<'_>,
    actor: &Actor,
    id: &ID,
    expected_version: i32,
    capability: Capability,
) -> AppResult<child::Model> {
    let id = decode(id, "id", &[IdKind::Child])?;
    let found = store::children::find(&ctx.state().db, actor.consortium_id, id).await?;
    let c = match found {
        Some(c) if actor.child_view(&c) != View::Hidden => c,
        Some(c) => return Err(AppError::hidden("Child", c.id, c.authority_id)),
        None => return Err(AppError::NotFound),
    };
    actor
        .require(capability, c.authority_id)
        .map_err(|e| e.about(child_record(&c)))?;
    if c.version != expected_version {
        return Err(AppError::Conflict(store::stale("child")));
    }
    Ok(c)
}

/// Writes `am` to child `c` at `expected_version` with its audit event; the payload.
async fn save_child(
    ctx: &Context<'_>,
    c: &child::Model,
    expected_version: i32,
    am: child::ActiveModel,
    action: AuditAction,
    detail: serde_json::Value,
) -> AppResult<ChildPayload> {
    let audit = ctx.audit_row(action, "Child", Some(c.id), Some(c.authority_id), detail);
    let updated =
        store::children::update(&ctx.state().db, c.id, expected_version, am, audit).await?;
    events::child_changed(ctx.state(), Some(c), &updated, ctx.request().today).await;
    Ok(ChildPayload {
        child: Child(updated),
    })
}

fn validate_milestones(
    m: MilestoneDates,
    c: &child::Model,
    today: chrono::NaiveDate,
) -> AppResult<MilestoneDates> {
    m.validate(c.date_of_birth, today)
        .map_err(|e| AppError::bad_input(e.field.name(), e.message))
}

/// Refuses to change, on child `c`, the dates its links record — `matchDecisionOn`,
/// `placedOn` and `adoptionOrderOn` — while a link that is proposed, exploring, matched,
/// placed or adopted covers the child: they are then recorded by that link's steps, so the
/// child and its link never disagree. Without such a link (a match with adopters outside
/// the registers, a foster carer adoption, a history being recorded) they are recorded
/// here.
async fn guard_link_dates(
    ctx: &Context<'_>,
    c: &child::Model,
    after: &MilestoneDates,
) -> AppResult<()> {
    let before = milestones_of(c);
    let changed: Vec<&str> = [
        (
            "matchDecisionOn",
            before.match_decision_on,
            after.match_decision_on,
        ),
        ("placedOn", before.placed_on, after.placed_on),
        (
            "adoptionOrderOn",
            before.adoption_order_on,
            after.adoption_order_on,
        ),
    ]
    .into_iter()
    .filter(|(_, was, now)| was != now)
    .map(|(name, _, _)| name)
    .collect();
    let Some(field) = changed.first() else {
        return Ok(());
    };
    let active = [
        LinkState::Proposed,
        LinkState::Exploring,
        LinkState::Matched,
        LinkState::Placed,
        LinkState::Adopted,
    ];
    let links = store::links::covering_child(&ctx.state().db, c.id, &active).await?;
    let Some((link, state)) = links.first() else {
        return Ok(());
    };
    let way = if state.is_open() {
        "record the match on that link (recordMatchDecision), or withdraw or decline it first"
    } else {
        "record the link's steps instead (recordPlacement, recordAdoptionOrder, \
         recordDisruption)"
    };
    Err(AppError::Conflict(format!(
        "{field} is recorded by link {} ({}) covering this child: {way}",
        links::link_id(*link).as_str(),
        state.code(),
    )))
}

fn set_milestones(am: &mut child::ActiveModel, m: &MilestoneDates) {
    am.entered_care_on = Set(m.entered_care_on);
    am.adoption_plan_on = Set(m.adoption_plan_on);
    am.shobpa_decision_on = Set(m.shobpa_decision_on);
    am.placement_order_on = Set(m.placement_order_on);
    am.match_decision_on = Set(m.match_decision_on);
    am.placed_on = Set(m.placed_on);
    am.adoption_order_on = Set(m.adoption_order_on);
    am.foster_placement_started_on = Set(m.foster_placement_started_on);
    am.adopted_by_foster_carers = Set(m.adopted_by_foster_carers);
    am.plan_changed_on = Set(m.plan_changed_on);
    am.placement_order_revoked_on = Set(m.placement_order_revoked_on);
}

fn set_needs(am: &mut child::ActiveModel, needs: NeedLevels) {
    let r = needs.ranks();
    am.need_physical_health = Set(r[0]);
    am.need_disability = Set(r[1]);
    am.need_learning = Set(r[2]);
    am.need_developmental_uncertainty = Set(r[3]);
    am.need_emotional_behavioural = Set(r[4]);
    am.need_prenatal_exposure = Set(r[5]);
}

/// Religion, language and culture codes for matching, and notes for the profile.
#[derive(InputObject, Default)]
pub struct IdentityInput {
    pub religion: Option<String>,
    pub language: Option<String>,
    pub culture: Option<String>,
    pub notes: Option<String>,
}

fn set_identity(am: &mut child::ActiveModel, i: &IdentityInput) -> AppResult<()> {
    am.religion = Set(optional_text(
        "identity.religion",
        i.religion.as_deref(),
        50,
    )?);
    am.language = Set(optional_text(
        "identity.language",
        i.language.as_deref(),
        50,
    )?);
    am.culture = Set(optional_text("identity.culture", i.culture.as_deref(), 50)?);
    am.identity_notes = Set(optional_text("identity.notes", i.notes.as_deref(), 2000)?);
    Ok(())
}

/// Where the birth family lives and how far away adopters must be.
#[derive(InputObject)]
pub struct BirthFamilyAreaInput {
    pub location: AreaInput,
    pub min_distance_km: Option<f64>,
}

fn set_birth_family_area(
    am: &mut child::ActiveModel,
    a: Option<&BirthFamilyAreaInput>,
) -> AppResult<()> {
    let Some(a) = a else {
        am.birth_family_lat = Set(None);
        am.birth_family_lon = Set(None);
        am.min_distance_km = Set(None);
        return Ok(());
    };
    let (lat, lon) = area("birthFamilyArea.location", a.location)?;
    if let Some(km) = a.min_distance_km
        && !(0.0..=1000.0).contains(&km)
    {
        return Err(AppError::bad_input(
            "birthFamilyArea.minDistanceKm",
            "must be between 0 and 1000",
        ));
    }
    am.birth_family_lat = Set(Some(lat));
    am.birth_family_lon = Set(Some(lon));
    am.min_distance_km = Set(a.min_distance_km);
    Ok(())
}

fn date_of_birth(dob: Date, today: chrono::NaiveDate) -> AppResult<chrono::NaiveDate> {
    if dob.0 > today {
        return Err(AppError::bad_input(
            "dateOfBirth",
            "dateOfBirth cannot be in the future",
        ));
    }
    if today.years_since(dob.0).is_none_or(|y| y >= 18) {
        return Err(AppError::bad_input(
            "dateOfBirth",
            "a child must be under 18",
        ));
    }
    Ok(dob.0)
}

/// A new child.
#[derive(InputObject)]
pub struct CreateChildInput {
    /// The child's authority; may be left out by staff of a single authority.
    pub authority_id: Option<ID>,
    pub legal_name: String,
    pub date_of_birth: Date,
    pub profile_name: String,
    pub gender: Gender,
    #[graphql(default_with = "Ethnicity::NotRecorded")]
    pub ethnicity: Ethnicity,
    pub needs: Option<NeedsInput>,
    pub identity: Option<IdentityInput>,
    #[graphql(default)]
    pub requires_early_permanence: bool,
    pub birth_family_area: Option<BirthFamilyAreaInput>,
    pub birth_family_details: Option<String>,
    pub notes: Option<String>,
    #[graphql(default)]
    pub profile_text: String,
    #[graphql(default = true)]
    pub shared_with_consortium: bool,
    pub entered_care_on: Option<Date>,
}

/// Changes to a child's record; fields left out stay as they are.
#[derive(InputObject)]
pub struct UpdateChildInput {
    pub id: ID,
    pub expected_version: i32,
    pub legal_name: Option<String>,
    pub date_of_birth: Option<Date>,
    pub profile_name: Option<String>,
    pub gender: Option<Gender>,
    pub ethnicity: Option<Ethnicity>,
    pub needs: Option<NeedsInput>,
    pub identity: Option<IdentityInput>,
    pub requires_early_permanence: Option<bool>,
    /// `null` clears it.
    pub birth_family_area: MaybeUndefined<BirthFamilyAreaInput>,
    pub birth_family_details: MaybeUndefined<String>,
    pub notes: MaybeUndefined<String>,
    pub profile_text: Option<String>,
    pub shared_with_consortium: Option<bool>,
}

/// Milestone dates other than decisions; `null` clears a date (a correction). While a
/// link covers the child, `placedOn` and `adoptionOrderOn` are recorded by the link's steps
/// and changing them here is a `CONFLICT`.
#[derive(InputObject)]
pub struct RecordChildMilestonesInput {
    pub id: ID,
    pub expected_version: i32,
    pub entered_care_on: MaybeUndefined<Date>,
    pub adoption_plan_on: MaybeUndefined<Date>,
    pub placement_order_on: MaybeUndefined<Date>,
    pub placed_on: MaybeUndefined<Date>,
    pub adoption_order_on: MaybeUndefined<Date>,
    pub foster_placement_started_on: MaybeUndefined<Date>,
    pub adopted_by_foster_carers: Option<bool>,
    pub placement_order_revoked_on: MaybeUndefined<Date>,
}

/// A decision recorded by a decision maker.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ChildDecision {
    /// The agency decision that the child should be placed for adoption.
    Shobpa,
    /// The match decision, for a match made without a link (adopters outside the
    /// registers, a foster carer adoption). While a link covers the child, the match is
    /// recorded on the link (`recordMatchDecision`) and this is a `CONFLICT`.
    Match,
}

/// A decision on a child.
#[derive(InputObject)]
pub struct RecordChildDecisionInput {
    pub id: ID,
    pub expected_version: i32,
    pub decision: ChildDecision,
    pub decided_on: Date,
}

/// A change of plan away from adoption.
#[derive(InputObject)]
pub struct ChangeChildPlanInput {
    pub id: ID,
    pub expected_version: i32,
    pub changed_on: Date,
    pub reason: PlanChangeReason,
}

/// The child after a change.
#[derive(SimpleObject)]
pub struct ChildPayload {
    pub child: Child,
}

/// A new sibling group of children of one authority.
#[derive(InputObject)]
pub struct CreateSiblingGroupInput {
    pub child_ids: Vec<ID>,
    pub label: String,
    #[graphql(default = true)]
    pub must_stay_together: bool,
}

/// Changes to a sibling group.
#[derive(InputObject)]
pub struct UpdateSiblingGroupInput {
    pub id: ID,
    pub expected_version: i32,
    pub label: Option<String>,
    pub must_stay_together: Option<bool>,
    pub add_child_ids: Option<Vec<ID>>,
    pub remove_child_ids: Option<Vec<ID>>,
}

/// The sibling group after a change.
#[derive(SimpleObject)]
pub struct SiblingGroupPayload {
    pub sibling_group: SiblingGroup,
}

/// Child queries.
#[derive(Default)]
pub struct ChildQuery;

#[Object]
impl ChildQuery {
    /// Full records of children of the authorities where the actor may read them.
    #[graphql(complexity = "crate::graphql::limits::connection_cost(first, child_complexity)")]
    async fn children(
        &self,
        ctx: &Context<'_>,
        filter: Option<ChildFilterInput>,
        #[graphql(default_with = "ChildOrder::Created")] order_by: ChildOrder,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<Conn<Child>> {
        let actor = ctx.actor()?;
        let allowed = actor.require_anywhere(Capability::ReadChildren)?;
        let page = page(first, after)?;
        let filter_input = filter.unwrap_or_default();
        let summary = json!({ "filters": used_child_filters(&filter_input), "orderBy": format!("{order_by:?}") });
        let filter = child_filter(ctx, actor, filter_input, Some(&allowed))?;
        let scope = ChildScope::Authorities {
            consortium_id: actor.consortium_id,
            authority_ids: allowed,
        };
        let (rows, total) = store::children::list(
            &ctx.state().db,
            &ctx.state().counts,
            &scope,
            &filter,
            order_by,
            page,
        )
        .await?;
        ctx.audit(AuditAction::Search, "Child", None, None, summary);
        for c in &rows {
            ctx.audit(
                AuditAction::View,
                "Child",
                Some(c.id),
                Some(c.authority_id),
                json!({}),
            );
        }
        Ok(connection_by_id(
            rows.into_iter().map(Child).collect(),
            page,
            total,
            |c| c.0.id,
        ))
    }

    /// One child's full record.
    async fn child(&self, ctx: &Context<'_>, id: ID) -> AppResult<Child> {
        let actor = ctx.actor()?;
        let c = visible_child(ctx, actor, decode(&id, "id", &[IdKind::Child])?).await?;
        ctx.audit(
            AuditAction::View,
            "Child",
            Some(c.id),
            Some(c.authority_id),
            json!({}),
        );
        Ok(Child(c))
    }

    /// A sibling group of the actor's authority.
    async fn sibling_group(&self, ctx: &Context<'_>, id: ID) -> AppResult<SiblingGroup> {
        let actor = ctx.actor()?;
        let g = visible_group(ctx, actor, decode(&id, "id", &[IdKind::SiblingGroup])?).await?;
        ctx.audit(
            AuditAction::View,
            "SiblingGroup",
            Some(g.id),
            Some(g.authority_id),
            json!({}),
        );
        Ok(SiblingGroup(g))
    }
}

/// Names of the filters used, for the audit log (never their values).
fn used_child_filters(f: &ChildFilterInput) -> Vec<&'static str> {
    let mut used = Vec::new();
    let mut mark = |present: bool, name: &'static str| {
        if present {
            used.push(name);
        }
    };
    mark(f.authority_ids.is_some(), "authorityIds");
    mark(f.statuses.is_some(), "statuses");
    mark(
        f.waiting_longer_than_days.is_some(),
        "waitingLongerThanDays",
    );
    mark(f.age_min_months.is_some(), "ageMinMonths");
    mark(f.age_max_months.is_some(), "ageMaxMonths");
    mark(f.needs_at_most.is_some(), "needsAtMost");
    mark(f.sibling_group_id.is_some(), "siblingGroupId");
    mark(f.in_sibling_group.is_some(), "inSiblingGroup");
    mark(f.profile_name_contains.is_some(), "profileNameContains");
    used
}

/// Loads a sibling group the actor can read, or answers `NOT_FOUND`.
pub async fn visible_group(
    ctx: &Context<'_>,
    actor: &Actor,
    id: i64,
) -> AppResult<sibling_group::Model> {
    match store::children::find_group(&ctx.state().db, actor.consortium_id, id).await? {
        Some(g) if actor.can(Capability::ReadChildren, g.authority_id) => Ok(g),
        Some(g) => Err(AppError::hidden("SiblingGroup", g.id, g.authority_id)),
        None => Err(AppError::NotFound),
    }
}

/// Child mutations.
#[derive(Default)]
pub struct ChildMutation;

#[Object]
impl ChildMutation {
    /// Registers a child (SOCIAL_WORKER of the child's authority).
    async fn create_child(
        &self,
        ctx: &Context<'_>,
        input: CreateChildInput,
    ) -> AppResult<ChildPayload> {
        let actor = ctx.actor()?;
        let authority_id = target_authority(
            ctx,
            actor,
            input.authority_id.as_ref(),
            Capability::WriteChildren,
        )?;
        let today = ctx.request().today;
        let dob = date_of_birth(input.date_of_birth, today)?;
        let now = Utc::now();
        let mut am = child::ActiveModel {
            consortium_id: Set(actor.consortium_id),
            authority_id: Set(authority_id),
            version: Set(1),
            legal_name: Set(text("legalName", &input.legal_name, 200)?),
            date_of_birth: Set(dob),
            profile_name: Set(text("profileName", &input.profile_name, 100)?),
            gender: Set(input.gender.code().into()),
            ethnicity: Set(input.ethnicity.code().into()),
            requires_early_permanence: Set(input.requires_early_permanence),
            birth_family_details: Set(optional_text(
                "birthFamilyDetails",
                input.birth_family_details.as_deref(),
                5000,
            )?),
            notes: Set(optional_text("notes", input.notes.as_deref(), 5000)?),
            sibling_group_id: Set(None),
            profile_text: Set(free_text("profileText", &input.profile_text, 5000)?),
            shared_with_consortium: Set(input.shared_with_consortium),
            plan_change_reason: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        set_needs(
            &mut am,
            input.needs.map(NeedLevels::from).unwrap_or_default(),
        );
        set_identity(&mut am, &input.identity.unwrap_or_default())?;
        set_birth_family_area(&mut am, input.birth_family_area.as_ref())?;
        let milestones = MilestoneDates {
            entered_care_on: input.entered_care_on.map(|d| d.0),
            ..Default::default()
        };
        let milestones = milestones
            .validate(dob, today)
            .map_err(|e| AppError::bad_input(e.field.name(), e.message))?;
        set_milestones(&mut am, &milestones);
        let request = ctx.request().clone();
        let created = store::children::create(&ctx.state().db, am, |id| {
            super::context::audit_row(
                &request,
                AuditAction::Create,
                "Child",
                Some(id),
                Some(authority_id),
                json!({}),
            )
        })
        .await?;
        events::child_changed(ctx.state(), None, &created, today).await;
        Ok(ChildPayload {
            child: Child(created),
        })
    }

    /// Changes a child's record (SOCIAL_WORKER).
    async fn update_child(
        &self,
        ctx: &Context<'_>,
        input: UpdateChildInput,
    ) -> AppResult<ChildPayload> {
        let actor = ctx.actor()?;
        let c = child_for_change(
            ctx,
            actor,
            &input.id,
            input.expected_version,
            Capability::WriteChildren,
        )
        .await?;
        let today = ctx.request().today;
        let mut am = child::ActiveModel::default();
        let mut changed = Vec::new();
        if let Some(v) = &input.legal_name {
            am.legal_name = Set(text("legalName", v, 200)?);
            changed.push("legalName");
        }
        if let Some(v) = input.date_of_birth {
            let dob = date_of_birth(v, today)?;
            milestones_of(&c)
                .validate(dob, today)
                .map_err(|e| AppError::bad_input("dateOfBirth", e.message))?;
            am.date_of_birth = Set(dob);
            changed.push("dateOfBirth");
        }
        if let Some(v) = &input.profile_name {
            am.profile_name = Set(text("profileName", v, 100)?);
            changed.push("profileName");
        }
        if let Some(v) = input.gender {
            am.gender = Set(v.code().into());
            changed.push("gender");
        }
        if let Some(v) = input.ethnicity {
            am.ethnicity = Set(v.code().into());
            changed.push("ethnicity");
        }
        if let Some(v) = input.needs {
            set_needs(&mut am, v.into());
            changed.push("needs");
        }
        if let Some(v) = &input.identity {
            set_identity(&mut am, v)?;
            changed.push("identity");
        }
        if let Some(v) = input.requires_early_permanence {
            am.requires_early_permanence = Set(v);
            changed.push("requiresEarlyPermanence");
        }
        match &input.birth_family_area {
            MaybeUndefined::Undefined => {}
            MaybeUndefined::Null => {
                set_birth_family_area(&mut am, None)?;
                changed.push("birthFamilyArea");
            }
            MaybeUndefined::Value(v) => {
                set_birth_family_area(&mut am, Some(v))?;
                changed.push("birthFamilyArea");
            }
        }
        if !input.birth_family_details.is_undefined() {
            am.birth_family_details = Set(optional_text(
                "birthFamilyDetails",
                input.birth_family_details.value().map(String::as_str),
                5000,
            )?);
            changed.push("birthFamilyDetails");
        }
        if !input.notes.is_undefined() {
            am.notes = Set(optional_text(
                "notes",
                input.notes.value().map(String::as_str),
                5000,
            )?);
            changed.push("notes");
        }
        if let Some(v) = &input.profile_text {
            am.profile_text = Set(free_text("profileText", v, 5000)?);
            changed.push("profileText");
        }
        if let Some(v) = input.shared_with_consortium {
            am.shared_with_consortium = Set(v);
            changed.push("sharedWithConsortium");
        }
        save_child(
            ctx,
            &c,
            input.expected_version,
            am,
            AuditAction::Update,
            json!({ "fields": changed }),
        )
        .await
    }

    /// Records or corrects milestone dates other than decisions (SOCIAL_WORKER). The
    /// ordering rules apply to the whole set after the change.
    async fn record_child_milestones(
        &self,
        ctx: &Context<'_>,
        input: RecordChildMilestonesInput,
    ) -> AppResult<ChildPayload> {
        let actor = ctx.actor()?;
        let c = child_for_change(
            ctx,
            actor,
            &input.id,
            input.expected_version,
            Capability::WriteChildren,
        )
        .await?;
        let mut m = milestones_of(&c);
        let mut changed = Vec::new();
        let mut apply = |target: &mut Option<chrono::NaiveDate>,
                         value: &MaybeUndefined<Date>,
                         name: &'static str| {
            match value {
                MaybeUndefined::Undefined => {}
                MaybeUndefined::Null => {
                    *target = None;
                    changed.push(name);
                }
                MaybeUndefined::Value(d) => {
                    *target = Some(d.0);
                    changed.push(name);
                }
            }
        };
        apply(
            &mut m.entered_care_on,
            &input.entered_care_on,
            "enteredCareOn",
        );
        apply(
            &mut m.adoption_plan_on,
            &input.adoption_plan_on,
            "adoptionPlanOn",
        );
        apply(
            &mut m.placement_order_on,
            &input.placement_order_on,
            "placementOrderOn",
        );
        apply(&mut m.placed_on, &input.placed_on, "placedOn");
        apply(
            &mut m.adoption_order_on,
            &input.adoption_order_on,
            "adoptionOrderOn",
        );
        apply(
            &mut m.foster_placement_started_on,
            &input.foster_placement_started_on,
            "fosterPlacementStartedOn",
        );
        apply(
            &mut m.placement_order_revoked_on,
            &input.placement_order_revoked_on,
            "placementOrderRevokedOn",
        );
        if let Some(v) = input.adopted_by_foster_carers {
            m.adopted_by_foster_carers = v;
            changed.push("adoptedByFosterCarers");
        }
        let m = validate_milestones(m, &c, ctx.request().today)?;
        guard_link_dates(ctx, &c, &m).await?;
        let mut am = child::ActiveModel::default();
        set_milestones(&mut am, &m);
        save_child(
            ctx,
            &c,
            input.expected_version,
            am,
            AuditAction::Update,
            json!({ "milestones": changed }),
        )
        .await
    }

    /// Records the SHOBPA or match decision (DECISION_MAKER of the child's authority).
    async fn record_child_decision(
        &self,
        ctx: &Context<'_>,
        input: RecordChildDecisionInput,
    ) -> AppResult<ChildPayload> {
        let actor = ctx.actor()?;
        let c = child_for_change(
            ctx,
            actor,
            &input.id,
            input.expected_version,
            Capability::DecideForChildren,
        )
        .await?;
        let mut m = milestones_of(&c);
        let name = match input.decision {
            ChildDecision::Shobpa => {
                m.shobpa_decision_on = Some(input.decided_on.0);
                "shobpaDecisionOn"
            }
            ChildDecision::Match => {
                m.match_decision_on = Some(input.decided_on.0);
                "matchDecisionOn"
            }
        };
        let m = validate_milestones(m, &c, ctx.request().today)?;
        guard_link_dates(ctx, &c, &m).await?;
        let mut am = child::ActiveModel::default();
        set_milestones(&mut am, &m);
        save_child(
            ctx,
            &c,
            input.expected_version,
            am,
            AuditAction::Decide,
            json!({ "decision": name }),
        )
        .await
    }

    /// Records that the plan changed away from adoption (SOCIAL_WORKER).
    async fn change_child_plan(
        &self,
        ctx: &Context<'_>,
        input: ChangeChildPlanInput,
    ) -> AppResult<ChildPayload> {
        let actor = ctx.actor()?;
        let c = child_for_change(
            ctx,
            actor,
            &input.id,
            input.expected_version,
            Capability::WriteChildren,
        )
        .await?;
        if c.adoption_order_on.is_some() {
            return Err(AppError::bad_input(
                "changedOn",
                "the child is already adopted",
            ));
        }
        let mut m = milestones_of(&c);
        m.plan_changed_on = Some(input.changed_on.0);
        let m = validate_milestones(m, &c, ctx.request().today).map_err(|e| match e {
            AppError::BadInput { message, .. } => AppError::bad_input("changedOn", message),
            other => other,
        })?;
        let mut am = child::ActiveModel::default();
        set_milestones(&mut am, &m);
        am.plan_change_reason = Set(Some(input.reason.code().into()));
        save_child(
            ctx,
            &c,
            input.expected_version,
            am,
            AuditAction::Update,
            json!({ "planChange": input.reason.code() }),
        )
        .await
    }

    /// Puts two or more children of one authority into a new sibling group (SOCIAL_WORKER).
    async fn create_sibling_group(
        &self,
        ctx: &Context<'_>,
        input: CreateSiblingGroupInput,
    ) -> AppResult<SiblingGroupPayload> {
        let actor = ctx.actor()?;
        if input.child_ids.len() < 2 {
            return Err(AppError::bad_input(
                "childIds",
                "a sibling group has at least two children",
            ));
        }
        let members = group_candidates(ctx, actor, &input.child_ids, "childIds", None).await?;
        let authority_id = members[0].authority_id;
        let now = Utc::now();
        let am = sibling_group::ActiveModel {
            consortium_id: Set(actor.consortium_id),
            authority_id: Set(authority_id),
            label: Set(text("label", &input.label, 100)?),
            must_stay_together: Set(input.must_stay_together),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        let ids: Vec<i64> = members.iter().map(|c| c.id).collect();
        let request = ctx.request().clone();
        let group = store::children::create_group(&ctx.state().db, am, &ids, |id| {
            super::context::audit_row(
                &request,
                AuditAction::Create,
                "SiblingGroup",
                Some(id),
                Some(authority_id),
                json!({ "members": ids.len() }),
            )
        })
        .await?;
        Ok(SiblingGroupPayload {
            sibling_group: SiblingGroup(group),
        })
    }

    /// Renames a group, changes its together flag, or adds and removes children.
    async fn update_sibling_group(
        &self,
        ctx: &Context<'_>,
        input: UpdateSiblingGroupInput,
    ) -> AppResult<SiblingGroupPayload> {
        let actor = ctx.actor()?;
        let g = visible_group(
            ctx,
            actor,
            decode(&input.id, "id", &[IdKind::SiblingGroup])?,
        )
        .await?;
        actor.require(Capability::WriteChildren, g.authority_id)?;
        if g.version != input.expected_version {
            return Err(AppError::Conflict(store::stale("sibling group")));
        }
        let mut am = sibling_group::ActiveModel::default();
        if let Some(label) = &input.label {
            am.label = Set(text("label", label, 100)?);
        }
        if let Some(flag) = input.must_stay_together {
            am.must_stay_together = Set(flag);
        }
        let add = match &input.add_child_ids {
            Some(ids) => {
                group_candidates(ctx, actor, ids, "addChildIds", Some(g.authority_id)).await?
            }
            None => Vec::new(),
        };
        let current = store::children::members(&ctx.state().db, g.id).await?;
        let mut remove = Vec::new();
        for id in input.remove_child_ids.iter().flatten() {
            let id = decode(id, "removeChildIds", &[IdKind::Child])?;
            if !current.iter().any(|c| c.id == id) {
                return Err(AppError::bad_input(
                    "removeChildIds",
                    "that child is not in this group",
                ));
            }
            remove.push(id);
        }
        let remaining = current.len() + add.len() - remove.len();
        if remaining < 2 {
            return Err(AppError::bad_input(
                "removeChildIds",
                "a sibling group keeps at least two children",
            ));
        }
        let add: Vec<i64> = add.iter().map(|c| c.id).collect();
        let audit = ctx.audit_row(
            AuditAction::Update,
            "SiblingGroup",
            Some(g.id),
            Some(g.authority_id),
            json!({ "added": add.len(), "removed": remove.len() }),
        );
        let group = store::children::update_group(
            &ctx.state().db,
            g.id,
            input.expected_version,
            am,
            &add,
            &remove,
            audit,
        )
        .await?;
        Ok(SiblingGroupPayload {
            sibling_group: SiblingGroup(group),
        })
    }
}

/// Children that may join a group: writable by the actor, of one authority (and of
/// `authority` when given), and in no group yet.
async fn group_candidates(
    ctx: &Context<'_>,
    actor: &Actor,
    ids: &[ID],
    field: &str,
    authority: Option<i64>,
) -> AppResult<Vec<child::Model>> {
    let mut members: Vec<child::Model> = Vec::with_capacity(ids.len());
    for id in ids {
        let c = visible_child(ctx, actor, decode(id, field, &[IdKind::Child])?).await?;
        actor.require(Capability::WriteChildren, c.authority_id)?;
        if members.iter().any(|m| m.id == c.id) {
            return Err(AppError::bad_input(field, "a child is named twice"));
        }
        let expected = authority.or(members.first().map(|m| m.authority_id));
        if expected.is_some_and(|a| a != c.authority_id) {
            return Err(AppError::bad_input(
                field,
                "siblings in a group belong to one authority",
            ));
        }
        if c.sibling_group_id.is_some() {
            return Err(AppError::bad_input(
                field,
                "a child is already in a sibling group",
            ));
        }
        members.push(c);
    }
    Ok(members)
}
