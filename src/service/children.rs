//! Children and sibling groups: registering and changing a child, its milestones, decisions
//! and plan, and the sibling groups of an authority; the children register as a [`Record`]
//! (what the audit calls a child, how much of one an actor sees, the criteria of a search).
use chrono::{Months, NaiveDate, Utc};
use entity::{child, sibling_group};
use sea_orm::ActiveValue::Set;
use sea_orm::DatabaseConnection;
use serde_json::json;

use super::Service;
use super::events;
use super::input::{free_text, months, optional_text, text};
use super::records::{
    Decoded, Record, area, filter_authorities, find_visible, for_change, target_authority, used,
};
use crate::auth::policy::milestones_of;
use crate::auth::{Actor, Capability, View};
use crate::domain::links::LinkState;
use crate::domain::{
    AuditAction, ChildStatus, Ethnicity, Gender, MilestoneDates, MilestoneDraft, NeedLevels,
    PlanChangeReason,
};
use crate::error::{AppError, AppResult};
use crate::store;
use crate::store::children::ChildFilter;
pub use crate::store::children::ChildOrder;

// ---------------------------------------------------------------------------------------
// Finding a sibling group
// ---------------------------------------------------------------------------------------

/// Loads a sibling group the actor can read, or answers `NOT_FOUND`.
pub async fn find_visible_group(
    db: &DatabaseConnection,
    actor: &Actor,
    id: i64,
) -> AppResult<sibling_group::Model> {
    match store::children::find_group(db, actor.consortium_id, id).await? {
        Some(g) if actor.can(Capability::ReadChildren, g.authority_id) => Ok(g),
        Some(g) => Err(AppError::hidden("SiblingGroup", g.id, g.authority_id)),
        None => Err(AppError::NotFound),
    }
}

/// A sibling group of the actor's authority, its view audited.
pub async fn view_group(svc: Service<'_>, id: Decoded<i64>) -> AppResult<sibling_group::Model> {
    view_group_noted(svc, id, json!({})).await
}

/// Like [`view_group`], with `detail` in the `VIEW` event (`{"via": "node"}` for `node`).
pub async fn view_group_noted(
    svc: Service<'_>,
    id: Decoded<i64>,
    detail: serde_json::Value,
) -> AppResult<sibling_group::Model> {
    let actor = svc.actor()?;
    let g = find_visible_group(svc.db(), actor, id?).await?;
    svc.audit(
        AuditAction::View,
        "SiblingGroup",
        Some(g.id),
        Some(g.authority_id),
        detail,
    );
    Ok(g)
}

/// The sizes of the sibling groups of `rows`, each child with its group's size (1 for a
/// child in no group).
pub async fn with_group_sizes(
    db: &DatabaseConnection,
    rows: Vec<child::Model>,
) -> AppResult<Vec<(child::Model, i64)>> {
    let group_ids: Vec<i64> = rows.iter().filter_map(|c| c.sibling_group_id).collect();
    let sizes = if group_ids.is_empty() {
        Vec::new()
    } else {
        store::children::group_sizes(db, group_ids).await?
    };
    Ok(rows
        .into_iter()
        .map(|model| {
            let size = model
                .sibling_group_id
                .and_then(|g| sizes.iter().find(|(id, _)| *id == g).map(|(_, n)| *n))
                .unwrap_or(1);
            (model, size)
        })
        .collect())
}

// ---------------------------------------------------------------------------------------
// The register
// ---------------------------------------------------------------------------------------

/// Filters on a list of children, as asked.
#[derive(Default)]
pub struct ChildCriteria {
    pub authority_ids: Option<Vec<Decoded<i64>>>,
    pub statuses: Option<Vec<ChildStatus>>,
    /// Waiting (since SHOBPA decision or placement order) for more than this many days.
    pub waiting_longer_than_days: Option<i32>,
    pub age_min_months: Option<i32>,
    pub age_max_months: Option<i32>,
    /// Every need at or below these levels.
    pub needs_at_most: Option<NeedLevels>,
    pub sibling_group_id: Option<Decoded<i64>>,
    pub in_sibling_group: Option<bool>,
    /// Case-insensitive text in the profile name.
    pub profile_name_contains: Option<String>,
}

/// The longest wait a filter may name (about 18 years: no child waits longer).
const MAX_WAITING_DAYS: i32 = 6600;

impl Record for child::Entity {
    const RECORD: &'static str = "Child";
    const PROFILE: &'static str = "ChildProfile";
    const READ: Capability = Capability::ReadChildren;
    type Criteria = ChildCriteria;

    fn id(c: &child::Model) -> i64 {
        c.id
    }

    fn owner(c: &child::Model) -> i64 {
        c.authority_id
    }

    fn version(c: &child::Model) -> i32 {
        c.version
    }

    fn view(actor: &Actor, c: &child::Model) -> View {
        actor.child_view(c)
    }

    fn used(criteria: &ChildCriteria) -> Vec<&'static str> {
        used(&[
            (criteria.authority_ids.is_some(), "authorityIds"),
            (criteria.statuses.is_some(), "statuses"),
            (
                criteria.waiting_longer_than_days.is_some(),
                "waitingLongerThanDays",
            ),
            (criteria.age_min_months.is_some(), "ageMinMonths"),
            (criteria.age_max_months.is_some(), "ageMaxMonths"),
            (criteria.needs_at_most.is_some(), "needsAtMost"),
            (criteria.sibling_group_id.is_some(), "siblingGroupId"),
            (criteria.in_sibling_group.is_some(), "inSiblingGroup"),
            (
                criteria.profile_name_contains.is_some(),
                "profileNameContains",
            ),
        ])
    }

    /// Dates are computed from "today".
    fn filter(
        svc: Service<'_>,
        actor: &Actor,
        input: ChildCriteria,
        allowed: Option<&[i64]>,
    ) -> AppResult<ChildFilter> {
        let today = svc.today();
        let authority_ids = filter_authorities(svc, actor, input.authority_ids, allowed)?;
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
        let sibling_group_id = input.sibling_group_id.transpose()?;
        Ok(ChildFilter {
            authority_ids,
            statuses: input.statuses,
            waiting_since_on_or_before,
            born_on_or_before,
            born_after,
            needs_at_most: input.needs_at_most,
            sibling_group_id,
            in_sibling_group: input.in_sibling_group,
            profile_name_contains: optional_text(
                "filter.profileNameContains",
                input.profile_name_contains.as_deref(),
                100,
            )?,
        })
    }
}

// ---------------------------------------------------------------------------------------
// Changing a child
// ---------------------------------------------------------------------------------------

/// Religion, language and culture codes for matching, and notes for the profile.
#[derive(Default)]
pub struct Identity {
    pub religion: Option<String>,
    pub language: Option<String>,
    pub culture: Option<String>,
    pub notes: Option<String>,
}

/// Where the birth family lives (latitude, longitude) and how far away adopters must be.
pub struct BirthFamilyArea {
    pub location: (f64, f64),
    pub min_distance_km: Option<f64>,
}

/// A new child.
pub struct NewChild {
    /// The child's authority; may be left out by staff of a single authority.
    pub authority_id: Option<Decoded<i64>>,
    pub legal_name: String,
    pub date_of_birth: NaiveDate,
    pub profile_name: String,
    pub gender: Gender,
    pub ethnicity: Ethnicity,
    pub needs: NeedLevels,
    pub identity: Identity,
    pub requires_early_permanence: bool,
    pub birth_family_area: Option<BirthFamilyArea>,
    pub birth_family_details: Option<String>,
    pub notes: Option<String>,
    pub profile_text: String,
    pub shared_with_consortium: bool,
    pub entered_care_on: Option<NaiveDate>,
}

/// Changes to a child's record; `None` leaves a field as it is, `Some(None)` clears it.
#[derive(Default)]
pub struct ChildChanges {
    pub legal_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub profile_name: Option<String>,
    pub gender: Option<Gender>,
    pub ethnicity: Option<Ethnicity>,
    pub needs: Option<NeedLevels>,
    pub identity: Option<Identity>,
    pub requires_early_permanence: Option<bool>,
    pub birth_family_area: Option<Option<BirthFamilyArea>>,
    pub birth_family_details: Option<Option<String>>,
    pub notes: Option<Option<String>>,
    pub profile_text: Option<String>,
    pub shared_with_consortium: Option<bool>,
}

/// Milestone dates other than decisions; `None` leaves a date as it is, `Some(None)`
/// clears it (a correction).
#[derive(Default)]
pub struct MilestoneChanges {
    pub entered_care_on: Option<Option<NaiveDate>>,
    pub adoption_plan_on: Option<Option<NaiveDate>>,
    pub placement_order_on: Option<Option<NaiveDate>>,
    pub placed_on: Option<Option<NaiveDate>>,
    pub adoption_order_on: Option<Option<NaiveDate>>,
    pub foster_placement_started_on: Option<Option<NaiveDate>>,
    pub adopted_by_foster_carers: Option<bool>,
    pub placement_order_revoked_on: Option<Option<NaiveDate>>,
}

/// A decision recorded by a decision maker.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The agency decision that the child should be placed for adoption.
    Shobpa,
    /// The match decision, for a match made without a link.
    Match,
}

/// How the caller names a link in a refusal (for GraphQL, its global id).
pub type LinkName = fn(i64) -> String;

/// Whether someone born on `dob` is 18 or over on `today` (or not yet born): not a child
/// the service may hold.
pub(super) fn adult_on(dob: NaiveDate, today: NaiveDate) -> bool {
    today.years_since(dob).is_none_or(|y| y >= 18)
}

fn date_of_birth(dob: NaiveDate, today: NaiveDate) -> AppResult<NaiveDate> {
    if dob > today {
        return Err(AppError::bad_input(
            "dateOfBirth",
            "dateOfBirth cannot be in the future",
        ));
    }
    if adult_on(dob, today) {
        return Err(AppError::bad_input(
            "dateOfBirth",
            "a child must be under 18",
        ));
    }
    Ok(dob)
}

fn validate_milestones(
    m: MilestoneDraft,
    c: &child::Model,
    today: NaiveDate,
) -> AppResult<MilestoneDates> {
    m.validate(c.date_of_birth, today)
        .map_err(|e| AppError::bad_input(e.field.name(), e.message))
}

pub(super) fn set_milestones(am: &mut child::ActiveModel, m: &MilestoneDates) {
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

pub(super) fn set_needs(am: &mut child::ActiveModel, needs: NeedLevels) {
    let r = needs.ranks();
    am.need_physical_health = Set(r[0]);
    am.need_disability = Set(r[1]);
    am.need_learning = Set(r[2]);
    am.need_developmental_uncertainty = Set(r[3]);
    am.need_emotional_behavioural = Set(r[4]);
    am.need_prenatal_exposure = Set(r[5]);
}

fn set_identity(am: &mut child::ActiveModel, i: &Identity) -> AppResult<()> {
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

fn set_birth_family_area(
    am: &mut child::ActiveModel,
    a: Option<&BirthFamilyArea>,
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

/// Registers a child (SOCIAL_WORKER of the child's authority).
pub async fn create_child(svc: Service<'_>, input: NewChild) -> AppResult<child::Model> {
    let actor = svc.actor()?;
    let authority_id = target_authority(svc, actor, input.authority_id, Capability::WriteChildren)?;
    let today = svc.today();
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
    set_needs(&mut am, input.needs);
    set_identity(&mut am, &input.identity)?;
    set_birth_family_area(&mut am, input.birth_family_area.as_ref())?;
    let milestones = MilestoneDraft {
        entered_care_on: input.entered_care_on,
        ..Default::default()
    };
    let milestones = milestones
        .validate(dob, today)
        .map_err(|e| AppError::bad_input(e.field.name(), e.message))?;
    set_milestones(&mut am, &milestones);
    let created = store::children::create(svc.db(), am, |id| {
        svc.audit_row(
            AuditAction::Create,
            "Child",
            Some(id),
            Some(authority_id),
            json!({}),
        )
    })
    .await?;
    events::child_changed(svc.state, None, &created, today).await;
    Ok(created)
}

/// Writes `am` to child `c` at `expected_version` with its audit event, refused if a link
/// in one of the states `refused_while` covers the child by then, and publishes the
/// change.
async fn save_child(
    svc: Service<'_>,
    c: &child::Model,
    expected_version: i32,
    am: child::ActiveModel,
    refused_while: &[LinkState],
    action: AuditAction,
    detail: serde_json::Value,
) -> AppResult<child::Model> {
    let audit = svc.audit_row(action, "Child", Some(c.id), Some(c.authority_id), detail);
    let updated =
        store::children::update(svc.db(), c.id, expected_version, am, refused_while, audit).await?;
    events::child_changed(svc.state, Some(c), &updated, svc.today()).await;
    Ok(updated)
}

/// Changes a child's record (SOCIAL_WORKER).
pub async fn update_child(
    svc: Service<'_>,
    id: Decoded<i64>,
    expected_version: i32,
    input: ChildChanges,
) -> AppResult<child::Model> {
    let actor = svc.actor()?;
    let c =
        for_change::<child::Entity>(svc, actor, id, expected_version, Capability::WriteChildren)
            .await?;
    let today = svc.today();
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
        set_needs(&mut am, v);
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
    if let Some(v) = &input.birth_family_area {
        set_birth_family_area(&mut am, v.as_ref())?;
        changed.push("birthFamilyArea");
    }
    if let Some(v) = &input.birth_family_details {
        am.birth_family_details = Set(optional_text("birthFamilyDetails", v.as_deref(), 5000)?);
        changed.push("birthFamilyDetails");
    }
    if let Some(v) = &input.notes {
        am.notes = Set(optional_text("notes", v.as_deref(), 5000)?);
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
        svc,
        &c,
        expected_version,
        am,
        &[],
        AuditAction::Update,
        json!({ "fields": changed }),
    )
    .await
}

/// The states of a link that records a child's match, placement and adoption order dates.
pub(super) const LINKS_HOLDING_DATES: [LinkState; 5] = [
    LinkState::Proposed,
    LinkState::Exploring,
    LinkState::Matched,
    LinkState::Placed,
    LinkState::Adopted,
];

/// The first of the dates a link records (match, placement, adoption order) that differs
/// between `before` and `after`.
pub(super) fn link_owned_change(
    before: &MilestoneDraft,
    after: &MilestoneDraft,
) -> Option<&'static str> {
    [
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
    .find(|(_, was, now)| was != now)
    .map(|(name, _, _)| name)
}

/// Refuses to change, on child `c`, the dates its links record — `matchDecisionOn`,
/// `placedOn` and `adoptionOrderOn` — while a link that is proposed, exploring, matched,
/// placed or adopted covers the child: they are then recorded by that link's steps, so the
/// child and its link never disagree. Without such a link (a match with adopters outside
/// the registers, a foster carer adoption, a history being recorded) they are recorded
/// here.
async fn guard_link_dates(
    svc: Service<'_>,
    c: &child::Model,
    after: &MilestoneDates,
    link_name: LinkName,
) -> AppResult<()> {
    let Some(field) = link_owned_change(&milestones_of(c), after) else {
        return Ok(());
    };
    let links = store::links::covering_child(svc.db(), c.id, &LINKS_HOLDING_DATES).await?;
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
        link_name(*link),
        state.code(),
    )))
}

/// Who may change milestones one way, and how the change is audited.
struct MilestoneWrite {
    capability: Capability,
    action: AuditAction,
}

/// Recording or correcting dates: a SOCIAL_WORKER's update.
const RECORD: MilestoneWrite = MilestoneWrite {
    capability: Capability::WriteChildren,
    action: AuditAction::Update,
};

/// Recording a decision: a DECISION_MAKER's.
const DECIDE: MilestoneWrite = MilestoneWrite {
    capability: Capability::DecideForChildren,
    action: AuditAction::Decide,
};

/// Changes the milestones of child `id` (loaded at `expected_version` for a change `write`
/// allows): `change` edits a draft of them and gives the audit detail; the draft must pass
/// the ordering rules, then may not change the dates its links record. Written with its
/// audit event.
async fn change_milestones(
    svc: Service<'_>,
    id: Decoded<i64>,
    expected_version: i32,
    link_name: LinkName,
    write: MilestoneWrite,
    change: impl FnOnce(&mut MilestoneDraft) -> serde_json::Value,
) -> AppResult<child::Model> {
    let actor = svc.actor()?;
    let c = for_change::<child::Entity>(svc, actor, id, expected_version, write.capability).await?;
    let mut draft = milestones_of(&c).edit();
    let detail = change(&mut draft);
    let m = validate_milestones(draft, &c, svc.today())?;
    guard_link_dates(svc, &c, &m, link_name).await?;
    // Checked again under the write lock: a link proposed meanwhile records these dates.
    let refused_while: &[LinkState] = match link_owned_change(&milestones_of(&c), &m) {
        Some(_) => &LINKS_HOLDING_DATES,
        None => &[],
    };
    let mut am = child::ActiveModel::default();
    set_milestones(&mut am, &m);
    save_child(
        svc,
        &c,
        expected_version,
        am,
        refused_while,
        write.action,
        detail,
    )
    .await
}

/// Records or corrects milestone dates other than decisions (SOCIAL_WORKER). The ordering
/// rules apply to the whole set after the change.
pub async fn record_milestones(
    svc: Service<'_>,
    id: Decoded<i64>,
    expected_version: i32,
    input: MilestoneChanges,
    link_name: LinkName,
) -> AppResult<child::Model> {
    let change = |m: &mut MilestoneDraft| {
        let mut changed = Vec::new();
        for (target, value, name) in [
            (
                &mut m.entered_care_on,
                input.entered_care_on,
                "enteredCareOn",
            ),
            (
                &mut m.adoption_plan_on,
                input.adoption_plan_on,
                "adoptionPlanOn",
            ),
            (
                &mut m.placement_order_on,
                input.placement_order_on,
                "placementOrderOn",
            ),
            (&mut m.placed_on, input.placed_on, "placedOn"),
            (
                &mut m.adoption_order_on,
                input.adoption_order_on,
                "adoptionOrderOn",
            ),
            (
                &mut m.foster_placement_started_on,
                input.foster_placement_started_on,
                "fosterPlacementStartedOn",
            ),
            (
                &mut m.placement_order_revoked_on,
                input.placement_order_revoked_on,
                "placementOrderRevokedOn",
            ),
        ] {
            if let Some(value) = value {
                *target = value;
                changed.push(name);
            }
        }
        if let Some(v) = input.adopted_by_foster_carers {
            m.adopted_by_foster_carers = v;
            changed.push("adoptedByFosterCarers");
        }
        json!({ "milestones": changed })
    };
    change_milestones(svc, id, expected_version, link_name, RECORD, change).await
}

/// Records the SHOBPA or match decision (DECISION_MAKER of the child's authority).
pub async fn record_decision(
    svc: Service<'_>,
    id: Decoded<i64>,
    expected_version: i32,
    decision: Decision,
    decided_on: NaiveDate,
    link_name: LinkName,
) -> AppResult<child::Model> {
    let change = |m: &mut MilestoneDraft| {
        let name = match decision {
            Decision::Shobpa => {
                m.shobpa_decision_on = Some(decided_on);
                "shobpaDecisionOn"
            }
            Decision::Match => {
                m.match_decision_on = Some(decided_on);
                "matchDecisionOn"
            }
        };
        json!({ "decision": name })
    };
    change_milestones(svc, id, expected_version, link_name, DECIDE, change).await
}

/// Records that the plan changed away from adoption (SOCIAL_WORKER).
pub async fn change_plan(
    svc: Service<'_>,
    id: Decoded<i64>,
    expected_version: i32,
    changed_on: NaiveDate,
    reason: PlanChangeReason,
) -> AppResult<child::Model> {
    let actor = svc.actor()?;
    let c =
        for_change::<child::Entity>(svc, actor, id, expected_version, Capability::WriteChildren)
            .await?;
    if c.adoption_order_on.is_some() {
        return Err(AppError::bad_input(
            "changedOn",
            "the child is already adopted",
        ));
    }
    let mut m = milestones_of(&c).edit();
    m.plan_changed_on = Some(changed_on);
    let m = validate_milestones(m, &c, svc.today()).map_err(|e| match e {
        AppError::BadInput { message, .. } => AppError::bad_input("changedOn", message),
        other => other,
    })?;
    let mut am = child::ActiveModel::default();
    set_milestones(&mut am, &m);
    am.plan_change_reason = Set(Some(reason.code().into()));
    save_child(
        svc,
        &c,
        expected_version,
        am,
        &[],
        AuditAction::Update,
        json!({ "planChange": reason.code() }),
    )
    .await
}

// ---------------------------------------------------------------------------------------
// Sibling groups
// ---------------------------------------------------------------------------------------

/// Changes to a sibling group.
#[derive(Default)]
pub struct GroupChanges {
    pub label: Option<String>,
    pub must_stay_together: Option<bool>,
    pub add_child_ids: Option<Vec<Decoded<i64>>>,
    pub remove_child_ids: Option<Vec<Decoded<i64>>>,
}

/// Children that may join a group: writable by the actor, of one authority (and of
/// `authority` when given), and in no group yet.
async fn group_candidates(
    svc: Service<'_>,
    actor: &Actor,
    ids: Vec<Decoded<i64>>,
    field: &str,
    authority: Option<i64>,
) -> AppResult<Vec<child::Model>> {
    let mut members: Vec<child::Model> = Vec::with_capacity(ids.len());
    for id in ids {
        let c = find_visible::<child::Entity>(svc.db(), actor, id?).await?;
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

/// Puts two or more children of one authority into a new sibling group (SOCIAL_WORKER).
pub async fn create_group(
    svc: Service<'_>,
    child_ids: Vec<Decoded<i64>>,
    label: &str,
    must_stay_together: bool,
) -> AppResult<sibling_group::Model> {
    let actor = svc.actor()?;
    if child_ids.len() < 2 {
        return Err(AppError::bad_input(
            "childIds",
            "a sibling group has at least two children",
        ));
    }
    let members = group_candidates(svc, actor, child_ids, "childIds", None).await?;
    let authority_id = members[0].authority_id;
    let now = Utc::now();
    let am = sibling_group::ActiveModel {
        consortium_id: Set(actor.consortium_id),
        authority_id: Set(authority_id),
        label: Set(text("label", label, 100)?),
        must_stay_together: Set(must_stay_together),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    let ids: Vec<i64> = members.iter().map(|c| c.id).collect();
    let group = store::children::create_group(svc.db(), am, &ids, |id| {
        svc.audit_row(
            AuditAction::Create,
            "SiblingGroup",
            Some(id),
            Some(authority_id),
            json!({ "members": ids.len() }),
        )
    })
    .await?;
    Ok(group)
}

/// Renames a group, changes its together flag, or adds and removes children.
pub async fn update_group(
    svc: Service<'_>,
    id: Decoded<i64>,
    expected_version: i32,
    input: GroupChanges,
) -> AppResult<sibling_group::Model> {
    let actor = svc.actor()?;
    let g = find_visible_group(svc.db(), actor, id?).await?;
    actor.require(Capability::WriteChildren, g.authority_id)?;
    if g.version != expected_version {
        return Err(AppError::Conflict(store::stale("sibling group")));
    }
    let mut am = sibling_group::ActiveModel::default();
    if let Some(label) = &input.label {
        am.label = Set(text("label", label, 100)?);
    }
    if let Some(flag) = input.must_stay_together {
        am.must_stay_together = Set(flag);
    }
    let add = match input.add_child_ids {
        Some(ids) => group_candidates(svc, actor, ids, "addChildIds", Some(g.authority_id)).await?,
        None => Vec::new(),
    };
    let current = store::children::members(svc.db(), g.id).await?;
    let mut remove = Vec::new();
    for id in input.remove_child_ids.into_iter().flatten() {
        let id = id?;
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
    let audit = svc.audit_row(
        AuditAction::Update,
        "SiblingGroup",
        Some(g.id),
        Some(g.authority_id),
        json!({ "added": add.len(), "removed": remove.len() }),
    );
    store::children::update_group(svc.db(), g.id, expected_version, am, &add, &remove, audit).await
}
