//! Output types. Full records (`Child`, `Household`) and shared profiles (`ChildProfile`,
//! `HouseholdProfile`) are separate types: a profile simply has no sensitive field, so no
//! query shape can reach one through it.
use async_graphql::{ComplexObject, Context, ID, Interface, Object, SimpleObject};
use chrono::{DateTime, NaiveDate, Utc};
use entity::{audit_event, authority, child, household, recruitment_event, sibling_group};

use super::context::ContextExt;
use super::ids::{IdKind, encode};
use super::scalars::Date;
use crate::auth::policy::{child_in_pool, household_in_pool, milestones_of};
use crate::domain::{
    AuditAction, AuthorityKind, ChildStatus, Ethnicity, Gender, GenderPreference, NeedLevel,
    NeedLevels, RecruitmentReason, Role, Stage, days_between, months_between,
};
use crate::domain::{EnquiryChannel, PlanChangeReason};
use crate::error::AppResult;
use crate::service::codes::{self, ChildCodes, EventCodes, HouseholdCodes};
use crate::service::loaders;

/// Anything with a global id.
#[derive(Interface)]
#[graphql(field(name = "id", ty = "ID"))]
pub enum Node {
    Child(Child),
    ChildProfile(ChildProfile),
    SiblingGroup(SiblingGroup),
    Household(Household),
    HouseholdProfile(HouseholdProfile),
    Authority(Authority),
    Link(crate::graphql::links::LinkView),
}

/// A member of the consortium.
#[derive(Clone)]
pub struct Authority(pub authority::Model);

#[Object]
impl Authority {
    async fn id(&self) -> ID {
        encode(IdKind::Authority, self.0.id)
    }
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn kind(&self) -> AuthorityKind {
        codes::authority_kind(&self.0)
    }
}

/// The authority with `id`, from the directory.
pub fn authority(ctx: &Context<'_>, id: i64) -> Option<Authority> {
    ctx.state()
        .directory
        .current()
        .authority(id)
        .cloned()
        .map(Authority)
}

/// The authorities with `ids` that the directory knows, in order.
pub fn authorities(ctx: &Context<'_>, ids: &[i64]) -> Vec<Authority> {
    ids.iter().filter_map(|a| authority(ctx, *a)).collect()
}

/// Age in whole years and months.
#[derive(SimpleObject)]
pub struct Age {
    pub years: i32,
    pub months: i32,
    /// Whole months in all.
    pub total_months: i32,
}

impl Age {
    /// The age of someone born on `born` as of `today`.
    pub fn of(born: NaiveDate, today: NaiveDate) -> Age {
        let total = months_between(born, today);
        Age {
            years: total / 12,
            months: total % 12,
            total_months: total,
        }
    }
}

/// A level per need category.
#[derive(SimpleObject)]
pub struct Needs {
    pub physical_health: NeedLevel,
    pub disability: NeedLevel,
    pub learning: NeedLevel,
    pub developmental_uncertainty: NeedLevel,
    pub emotional_behavioural: NeedLevel,
    /// FASD and other prenatal exposure.
    pub prenatal_exposure: NeedLevel,
}

impl From<NeedLevels> for Needs {
    fn from(n: NeedLevels) -> Self {
        Needs {
            physical_health: n.physical_health,
            disability: n.disability,
            learning: n.learning,
            developmental_uncertainty: n.developmental_uncertainty,
            emotional_behavioural: n.emotional_behavioural,
            prenatal_exposure: n.prenatal_exposure,
        }
    }
}

/// Identity considerations: religion, language and culture (codes), and notes.
#[derive(SimpleObject)]
pub struct Identity {
    pub religion: Option<String>,
    pub language: Option<String>,
    pub culture: Option<String>,
    pub notes: Option<String>,
}

fn child_identity(c: &child::Model) -> Identity {
    Identity {
        religion: c.religion.clone(),
        language: c.language.clone(),
        culture: c.culture.clone(),
        notes: c.identity_notes.clone(),
    }
}

/// A coarse location (about 0.1° of latitude and longitude).
#[derive(SimpleObject)]
pub struct Area {
    pub lat: f64,
    pub lon: f64,
}

fn coarse(lat: Option<f64>, lon: Option<f64>) -> Option<Area> {
    let round = |x: f64| (x * 10.0).round() / 10.0;
    Some(Area {
        lat: round(lat?),
        lon: round(lon?),
    })
}

/// Where the birth family lives, and how far away adopters must be.
#[derive(SimpleObject)]
pub struct BirthFamilyArea {
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub min_distance_km: Option<f64>,
}

/// A child's milestone dates.
#[derive(SimpleObject)]
pub struct Milestones {
    pub entered_care_on: Option<Date>,
    pub adoption_plan_on: Option<Date>,
    pub shobpa_decision_on: Option<Date>,
    pub placement_order_on: Option<Date>,
    pub match_decision_on: Option<Date>,
    pub placed_on: Option<Date>,
    pub adoption_order_on: Option<Date>,
    pub foster_placement_started_on: Option<Date>,
    pub adopted_by_foster_carers: bool,
    pub plan_changed_on: Option<Date>,
    pub plan_change_reason: Option<PlanChangeReason>,
    pub placement_order_revoked_on: Option<Date>,
}

fn waiting_days(c: &child::Model, today: NaiveDate) -> Option<i64> {
    let m = milestones_of(c);
    m.is_waiting()
        .then(|| m.waiting_since().map(|s| days_between(s, today)))?
}

/// A child's full record: only for staff of the child's own authority.
#[derive(Clone)]
pub struct Child(pub child::Model);

#[Object]
impl Child {
    async fn id(&self) -> ID {
        encode(IdKind::Child, self.0.id)
    }
    /// Bumped by every change; pass it back as `expectedVersion`.
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn authority(&self, ctx: &Context<'_>) -> Option<Authority> {
        authority(ctx, self.0.authority_id)
    }
    async fn legal_name(&self) -> &str {
        &self.0.legal_name
    }
    /// The authority's own reference for a child brought in by an import (the SSDA903
    /// `CHILD`), by which a later import finds the child again; null for a child
    /// registered here.
    async fn import_reference(&self) -> Option<&str> {
        self.0.import_reference.as_deref()
    }
    async fn date_of_birth(&self) -> Date {
        self.0.date_of_birth.into()
    }
    async fn age(&self, ctx: &Context<'_>) -> Age {
        Age::of(self.0.date_of_birth, ctx.request().today)
    }
    /// The name used when the child's profile is shared.
    async fn profile_name(&self) -> &str {
        &self.0.profile_name
    }
    async fn gender(&self) -> Gender {
        self.0.gender_code()
    }
    async fn ethnicity(&self) -> Ethnicity {
        self.0.ethnicity_code()
    }
    async fn needs(&self) -> Needs {
        self.0.needs().into()
    }
    async fn identity(&self) -> Identity {
        child_identity(&self.0)
    }
    async fn requires_early_permanence(&self) -> bool {
        self.0.requires_early_permanence
    }
    async fn birth_family_area(&self) -> BirthFamilyArea {
        BirthFamilyArea {
            lat: self.0.birth_family_lat,
            lon: self.0.birth_family_lon,
            min_distance_km: self.0.min_distance_km,
        }
    }
    async fn birth_family_details(&self) -> Option<&str> {
        self.0.birth_family_details.as_deref()
    }
    async fn notes(&self) -> Option<&str> {
        self.0.notes.as_deref()
    }
    async fn profile_text(&self) -> &str {
        &self.0.profile_text
    }
    /// Whether the child's profile may enter the consortium pool.
    async fn shared_with_consortium(&self) -> bool {
        self.0.shared_with_consortium
    }
    /// Whether the child is in the consortium pool now.
    async fn in_pool(&self) -> bool {
        child_in_pool(&self.0)
    }
    async fn status(&self) -> ChildStatus {
        milestones_of(&self.0).status()
    }
    /// Days since the child started waiting (SHOBPA decision or placement order), while
    /// waiting.
    async fn waiting_days(&self, ctx: &Context<'_>) -> Option<i64> {
        waiting_days(&self.0, ctx.request().today)
    }
    async fn milestones(&self) -> Milestones {
        let c = &self.0;
        Milestones {
            entered_care_on: c.entered_care_on.map(Date),
            adoption_plan_on: c.adoption_plan_on.map(Date),
            shobpa_decision_on: c.shobpa_decision_on.map(Date),
            placement_order_on: c.placement_order_on.map(Date),
            match_decision_on: c.match_decision_on.map(Date),
            placed_on: c.placed_on.map(Date),
            adoption_order_on: c.adoption_order_on.map(Date),
            foster_placement_started_on: c.foster_placement_started_on.map(Date),
            adopted_by_foster_carers: c.adopted_by_foster_carers,
            plan_changed_on: c.plan_changed_on.map(Date),
            plan_change_reason: c.plan_change_reason_code(),
            placement_order_revoked_on: c.placement_order_revoked_on.map(Date),
        }
    }
    /// The child's sibling group, if any (same authority, so the same access).
    async fn sibling_group(&self, ctx: &Context<'_>) -> AppResult<Option<SiblingGroup>> {
        let Some(group_id) = self.0.sibling_group_id else {
            return Ok(None);
        };
        let group = loaders::sibling_group(ctx.service(), self.0.consortium_id, group_id).await?;
        Ok(group.map(SiblingGroup))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// A child's shared profile, as family finders of the consortium see it. No legal name, no
/// date of birth, no birth family details, no notes.
#[derive(Clone)]
pub struct ChildProfile {
    pub model: child::Model,
    pub sibling_group_size: i64,
}

#[Object]
impl ChildProfile {
    async fn id(&self) -> ID {
        encode(IdKind::ChildProfile, self.model.id)
    }
    async fn authority(&self, ctx: &Context<'_>) -> Option<Authority> {
        authority(ctx, self.model.authority_id)
    }
    async fn profile_name(&self) -> &str {
        &self.model.profile_name
    }
    async fn age(&self, ctx: &Context<'_>) -> Age {
        Age::of(self.model.date_of_birth, ctx.request().today)
    }
    async fn gender(&self) -> Gender {
        self.model.gender_code()
    }
    async fn needs(&self) -> Needs {
        self.model.needs().into()
    }
    async fn identity(&self) -> Identity {
        child_identity(&self.model)
    }
    async fn requires_early_permanence(&self) -> bool {
        self.model.requires_early_permanence
    }
    /// How many children are to be placed together (1 for a child on their own).
    async fn sibling_group_size(&self) -> i64 {
        self.sibling_group_size.max(1)
    }
    async fn waiting_days(&self, ctx: &Context<'_>) -> Option<i64> {
        waiting_days(&self.model, ctx.request().today)
    }
    async fn profile_text(&self) -> &str {
        &self.model.profile_text
    }
}

/// Children to be placed together.
#[derive(Clone)]
pub struct SiblingGroup(pub sibling_group::Model);

#[Object]
impl SiblingGroup {
    async fn id(&self) -> ID {
        encode(IdKind::SiblingGroup, self.0.id)
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn authority(&self, ctx: &Context<'_>) -> Option<Authority> {
        authority(ctx, self.0.authority_id)
    }
    async fn label(&self) -> &str {
        &self.0.label
    }
    /// Whether the children must be linked, matched and placed as one unit.
    async fn must_stay_together(&self) -> bool {
        self.0.must_stay_together
    }
    async fn members(&self, ctx: &Context<'_>) -> AppResult<Vec<Child>> {
        let members = loaders::members(ctx.service(), &self.0).await?;
        Ok(members.into_iter().map(Child).collect())
    }
}

/// A household's full record: only for staff of the household's own authority.
#[derive(Clone)]
pub struct Household(pub household::Model);

/// The ages a household is approved for, in months.
#[derive(SimpleObject)]
pub struct AgeRange {
    pub min_months: i32,
    pub max_months: i32,
}

/// What a household is approved for.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ApprovalProfile {
    pub capacity: i16,
    pub age_range: AgeRange,
    pub accepts_needs: Needs,
    pub accepts_siblings: bool,
    pub gender_preference: GenderPreference,
    pub early_permanence_approved: bool,
    pub religion: Option<String>,
    pub languages: Vec<String>,
    pub culture: Option<String>,
    #[graphql(skip)]
    pub approved_on_raw: Option<NaiveDate>,
}

#[ComplexObject]
impl ApprovalProfile {
    async fn approved_on(&self) -> Option<Date> {
        self.approved_on_raw.map(Date)
    }
}

fn approval_profile(h: &household::Model) -> ApprovalProfile {
    ApprovalProfile {
        capacity: h.capacity,
        age_range: AgeRange {
            min_months: h.age_min_months,
            max_months: h.age_max_months,
        },
        accepts_needs: h.accepts_needs().into(),
        accepts_siblings: h.accepts_siblings,
        gender_preference: h.gender_preference_code(),
        early_permanence_approved: h.early_permanence_approved,
        religion: h.religion.clone(),
        languages: split_list(h.languages.as_deref()),
        culture: h.culture.clone(),
        approved_on_raw: h.approved_on,
    }
}

/// A comma-separated stored list.
pub fn split_list(s: Option<&str>) -> Vec<String> {
    s.map(|s| {
        s.split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect()
    })
    .unwrap_or_default()
}

fn household_waiting_days(h: &household::Model, today: NaiveDate) -> Option<i64> {
    household_in_pool(h).then(|| h.approved_on.map(|a| days_between(a, today)))?
}

#[Object]
impl Household {
    async fn id(&self) -> ID {
        encode(IdKind::Household, self.0.id)
    }
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn authority(&self, ctx: &Context<'_>) -> Option<Authority> {
        authority(ctx, self.0.authority_id)
    }
    async fn applicant_one_name(&self) -> &str {
        &self.0.applicant_one_name
    }
    async fn applicant_two_name(&self) -> Option<&str> {
        self.0.applicant_two_name.as_deref()
    }
    async fn address(&self) -> Option<&str> {
        self.0.address.as_deref()
    }
    async fn notes(&self) -> Option<&str> {
        self.0.notes.as_deref()
    }
    async fn profile_name(&self) -> &str {
        &self.0.profile_name
    }
    async fn ethnicity(&self) -> Ethnicity {
        self.0.ethnicity_code()
    }
    async fn enquiry_channel(&self) -> EnquiryChannel {
        self.0.channel_code()
    }
    async fn enquiry_on(&self) -> Date {
        self.0.enquiry_on.into()
    }
    async fn fast_track(&self) -> bool {
        self.0.fast_track
    }
    /// The latest stage reached, or the exit once the household has left.
    async fn stage(&self) -> Stage {
        self.0.stage_code()
    }
    async fn stage_on(&self) -> Date {
        self.0.stage_on.into()
    }
    async fn on_hold(&self) -> bool {
        self.0.on_hold
    }
    async fn approval(&self) -> ApprovalProfile {
        approval_profile(&self.0)
    }
    async fn location(&self) -> Option<Area> {
        Some(Area {
            lat: self.0.lat?,
            lon: self.0.lon?,
        })
    }
    async fn profile_text(&self) -> &str {
        &self.0.profile_text
    }
    async fn available_for_matching(&self) -> bool {
        self.0.available_for_matching
    }
    async fn shared_with_consortium(&self) -> bool {
        self.0.shared_with_consortium
    }
    /// Whether the household is in the consortium pool now.
    async fn in_pool(&self) -> bool {
        household_in_pool(&self.0)
    }
    /// Days since approval, while waiting in the pool.
    async fn waiting_days(&self, ctx: &Context<'_>) -> Option<i64> {
        household_waiting_days(&self.0, ctx.request().today)
    }
    /// The recruitment journey so far, oldest first.
    async fn events(&self, ctx: &Context<'_>) -> AppResult<Vec<RecruitmentEventView>> {
        let events = loaders::household_events(ctx.service(), &self.0).await?;
        Ok(events.into_iter().map(RecruitmentEventView).collect())
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// One step of a household's journey.
#[derive(Clone)]
pub struct RecruitmentEventView(pub recruitment_event::Model);

#[Object(name = "RecruitmentEvent")]
impl RecruitmentEventView {
    async fn id(&self) -> ID {
        encode(IdKind::RecruitmentEvent, self.0.id)
    }
    async fn stage(&self) -> Stage {
        self.0.stage_code()
    }
    async fn occurred_on(&self) -> Date {
        self.0.occurred_on.into()
    }
    async fn reason(&self) -> Option<RecruitmentReason> {
        self.0.reason_code()
    }
    /// The subject who recorded the event.
    async fn recorded_by(&self) -> &str {
        &self.0.recorded_by
    }
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }
}

/// A household's shared profile, as family finders of the consortium see it. No names, no
/// address, no notes; location rounded.
#[derive(Clone)]
pub struct HouseholdProfile(pub household::Model);

#[Object]
impl HouseholdProfile {
    async fn id(&self) -> ID {
        encode(IdKind::HouseholdProfile, self.0.id)
    }
    async fn authority(&self, ctx: &Context<'_>) -> Option<Authority> {
        authority(ctx, self.0.authority_id)
    }
    async fn profile_name(&self) -> &str {
        &self.0.profile_name
    }
    async fn approval(&self) -> ApprovalProfile {
        approval_profile(&self.0)
    }
    async fn area(&self) -> Option<Area> {
        coarse(self.0.lat, self.0.lon)
    }
    async fn waiting_days(&self, ctx: &Context<'_>) -> Option<i64> {
        household_waiting_days(&self.0, ctx.request().today)
    }
    async fn profile_text(&self) -> &str {
        &self.0.profile_text
    }
}

/// One audit event.
pub struct AuditEventView(pub audit_event::Model);

#[Object(name = "AuditEvent")]
impl AuditEventView {
    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
    async fn subject(&self) -> &str {
        &self.0.subject
    }
    async fn acting_authority(&self, ctx: &Context<'_>) -> Option<Authority> {
        authority(ctx, self.0.acting_authority_id?)
    }
    async fn action(&self) -> AuditAction {
        codes::audit_action(&self.0)
    }
    async fn entity_type(&self) -> &str {
        &self.0.entity_type
    }
    /// The global id of the entity, where the event names one.
    async fn entity_id(&self) -> Option<ID> {
        let kind = match self.0.entity_type.as_str() {
            "Child" => IdKind::Child,
            "ChildProfile" => IdKind::ChildProfile,
            "SiblingGroup" => IdKind::SiblingGroup,
            "Household" => IdKind::Household,
            "HouseholdProfile" => IdKind::HouseholdProfile,
            "Link" => IdKind::Link,
            _ => return None,
        };
        Some(encode(kind, self.0.entity_id?))
    }
    async fn owning_authority(&self, ctx: &Context<'_>) -> Option<Authority> {
        authority(ctx, self.0.owning_authority_id?)
    }
    async fn request_id(&self) -> &str {
        &self.0.request_id
    }
    async fn detail(&self) -> async_graphql::Json<serde_json::Value> {
        async_graphql::Json(serde_json::from_str(&self.0.detail).unwrap_or_default())
    }
}

/// Roles held in one authority.
#[derive(SimpleObject)]
pub struct MembershipView {
    pub authority: Option<Authority>,
    pub roles: Vec<Role>,
}

/// A child as the caller may see it: the full record in the child's own authority, the
/// shared profile elsewhere (suggestions, links).
#[derive(async_graphql::Union, Clone)]
pub enum ChildRecord {
    Child(Child),
    ChildProfile(ChildProfile),
}

/// A household as the caller may see it: the full record in the household's own
/// authority, the shared profile elsewhere (suggestions, links).
#[derive(async_graphql::Union, Clone)]
pub enum HouseholdRecord {
    Household(Household),
    HouseholdProfile(HouseholdProfile),
}

/// The records of `children` at the views the policy gave them, each audited as a
/// `VIEW`; hidden ones are left out.
pub async fn child_records(
    ctx: &Context<'_>,
    children: Vec<(child::Model, crate::auth::View)>,
) -> AppResult<Vec<ChildRecord>> {
    use crate::auth::View;
    let profiles: Vec<child::Model> = children
        .iter()
        .filter(|(_, v)| *v == View::Profile)
        .map(|(c, _)| c.clone())
        .collect();
    let sizes = loaders::group_sizes(ctx.service(), &profiles).await?;
    let mut profiles = profiles.into_iter().map(|model| {
        let size = model
            .sibling_group_id
            .and_then(|g| sizes.get(&g).copied())
            .unwrap_or(1);
        ChildProfile {
            model,
            sibling_group_size: size,
        }
    });
    let mut records = Vec::with_capacity(children.len());
    for (c, view) in children {
        let (record, entity) = match view {
            View::Full => (ChildRecord::Child(Child(c.clone())), "Child"),
            View::Profile => match profiles.next() {
                Some(p) => (ChildRecord::ChildProfile(p), "ChildProfile"),
                None => continue,
            },
            View::Hidden => continue,
        };
        ctx.service().audit(
            AuditAction::View,
            entity,
            Some(c.id),
            Some(c.authority_id),
            serde_json::json!({}),
        );
        records.push(record);
    }
    Ok(records)
}

/// The record of `household` at the view the policy gave it, audited as a `VIEW`; `None`
/// when hidden.
pub fn household_record(
    ctx: &Context<'_>,
    household: household::Model,
    view: crate::auth::View,
) -> Option<HouseholdRecord> {
    use crate::auth::View;
    let (record, entity) = match view {
        View::Full => (
            HouseholdRecord::Household(Household(household.clone())),
            "Household",
        ),
        View::Profile => (
            HouseholdRecord::HouseholdProfile(HouseholdProfile(household.clone())),
            "HouseholdProfile",
        ),
        View::Hidden => return None,
    };
    ctx.service().audit(
        AuditAction::View,
        entity,
        Some(household.id),
        Some(household.authority_id),
        serde_json::json!({}),
    );
    Some(record)
}
