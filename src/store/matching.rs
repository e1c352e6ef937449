//! What matching reads: the consortium's match weights, the subject's history (declined
//! households, whether it is already held by a link), and the candidates.
//!
//! # Households for a child: hard rules in SQL, scores in Rust
//!
//! A consortium may hold 100,000 approved households; loading them all into the engine to
//! tally the exclusions would take far longer than a suggestion should. So the rules the
//! database can check — every hard rule but the birth family distance, which needs
//! great-circle trigonometry that SQLite does not reliably have — are written once as a
//! SQL `CASE` naming the *first* rule each household fails, in [`HardRule`] order, exactly
//! as `domain::matching` assesses them ([`first_failed_rule_sql`]). One statement, in one
//! pass over the `household_match` partial covering index, returns one row: the number of
//! households per first failed rule, and the households failing none (the survivors) as
//! one JSON array of compact arrays.
//!
//! Only the survivors go to [`crate::domain::matching::evaluate`], which applies the
//! distance rule, scores and ranks them and explains the best. The result's pool size and
//! tally are the two added together ([`merge`]), so they are exactly what the engine would
//! have said over the whole pool — the `sql_prefilter_agrees_with_the_engine` integration
//! test checks that on a varied pool, on both databases.
//!
//! # Children for a household
//!
//! Waiting children number hundreds per consortium, not hundreds of thousands: they are
//! loaded whole (with the SQL forms of the pool rules the children register already has)
//! and the engine does everything.
use chrono::NaiveDate;
use entity::{child, consortium, household, link, link_child, sibling_group};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, QueryFilter, QuerySelect, Statement, Value,
};
use serde::{Deserialize, Serialize};

use super::begin_write;
use super::children::{ChildFilter, ChildScope};
use crate::domain::links::LinkState;
use crate::domain::matching::{
    Candidate, Exclusion, GeoPoint, HardRule, MatchChild, MatchResult, Weights, split_languages,
};
use crate::domain::{ChildStatus, Gender, GenderPreference, NeedLevels, Stage};
use crate::error::{AppError, AppResult};

// ---------------------------------------------------------------------------------------
// Weights
// ---------------------------------------------------------------------------------------

/// The stored form of [`Weights`] (JSON in `consortium.match_weights`), named as in the
/// API. A weight missing from the stored JSON takes its built-in default.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct StoredWeights {
    needs_headroom: f64,
    age_fit: f64,
    identity: f64,
    distance: f64,
    waiting_time: f64,
    same_authority: f64,
}

impl Default for StoredWeights {
    fn default() -> Self {
        Weights::default().into()
    }
}

impl From<Weights> for StoredWeights {
    fn from(w: Weights) -> Self {
        StoredWeights {
            needs_headroom: w.needs_headroom,
            age_fit: w.age_fit,
            identity: w.identity,
            distance: w.distance,
            waiting_time: w.waiting_time,
            same_authority: w.same_authority,
        }
    }
}

impl From<StoredWeights> for Weights {
    fn from(w: StoredWeights) -> Self {
        Weights {
            needs_headroom: w.needs_headroom,
            age_fit: w.age_fit,
            identity: w.identity,
            distance: w.distance,
            waiting_time: w.waiting_time,
            same_authority: w.same_authority,
        }
    }
}

/// The consortium's default weights: the stored ones, or the built-in defaults when none
/// are stored (or the stored text is unreadable, which is logged).
pub async fn weights(db: &impl ConnectionTrait, consortium_id: i64) -> Result<Weights, DbErr> {
    let stored = consortium::Entity::find_by_id(consortium_id)
        .select_only()
        .column(consortium::Column::MatchWeights)
        .into_tuple::<Option<String>>()
        .one(db)
        .await?
        .flatten();
    Ok(match stored {
        None => Weights::default(),
        Some(text) => match serde_json::from_str::<StoredWeights>(&text) {
            Ok(w) => w.into(),
            Err(e) => {
                tracing::warn!(consortium_id, error = %e, "unreadable match weights; using defaults");
                Weights::default()
            }
        },
    })
}

/// Stores the consortium's default weights (checked by the caller) with the audit event.
pub async fn set_weights(
    db: &DatabaseConnection,
    consortium_id: i64,
    weights: Weights,
    audit: entity::audit_event::ActiveModel,
) -> AppResult<()> {
    let text = serde_json::to_string(&StoredWeights::from(weights))
        .map_err(|e| AppError::from(anyhow::Error::new(e)))?;
    let txn = begin_write(db).await?;
    let result = consortium::Entity::update_many()
        .set(consortium::ActiveModel {
            match_weights: Set(Some(text)),
            ..Default::default()
        })
        .filter(consortium::Column::Id.eq(consortium_id))
        .exec(&txn)
        .await?;
    if result.rows_affected != 1 {
        return Err(AppError::NotFound);
    }
    super::audit::insert_many(&txn, vec![audit]).await?;
    txn.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Link history read by matching
// ---------------------------------------------------------------------------------------

/// What a subject is, for its link history: a single child or a sibling group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubjectKey {
    Child(i64),
    Group(i64),
}

/// Households the subject was declined with: a declined pair is never suggested again.
pub async fn declined_households(
    db: &impl ConnectionTrait,
    subject: SubjectKey,
) -> Result<Vec<i64>, DbErr> {
    let query = link::Entity::find()
        .select_only()
        .column(link::Column::HouseholdId)
        .filter(link::Column::State.eq(LinkState::Declined.code()));
    let query = match subject {
        SubjectKey::Child(id) => query.filter(link::Column::ChildId.eq(id)),
        SubjectKey::Group(id) => query.filter(link::Column::SiblingGroupId.eq(id)),
    };
    query.into_tuple::<i64>().all(db).await
}

/// Subjects the household was declined with.
pub async fn declined_subjects(
    db: &impl ConnectionTrait,
    household_id: i64,
) -> Result<Vec<SubjectKey>, DbErr> {
    let rows = link::Entity::find()
        .select_only()
        .column(link::Column::ChildId)
        .column(link::Column::SiblingGroupId)
        .filter(link::Column::HouseholdId.eq(household_id))
        .filter(link::Column::State.eq(LinkState::Declined.code()))
        .into_tuple::<(Option<i64>, Option<i64>)>()
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| match row {
            (Some(c), _) => Some(SubjectKey::Child(c)),
            (None, Some(g)) => Some(SubjectKey::Group(g)),
            (None, None) => None,
        })
        .collect())
}

/// The children of the consortium held by a `MATCHED`/`PLACED` link.
pub async fn held_children(
    db: &impl ConnectionTrait,
    consortium_id: i64,
) -> Result<Vec<i64>, DbErr> {
    link_child::Entity::find()
        .select_only()
        .column(link_child::Column::ChildId)
        .filter(link_child::Column::Holding.eq(true))
        .filter(
            link_child::Column::LinkId.in_subquery(
                sea_orm::sea_query::Query::select()
                    .column(link::Column::Id)
                    .from(link::Entity)
                    .and_where(link::Column::ConsortiumId.eq(consortium_id))
                    .to_owned(),
            ),
        )
        .into_tuple::<i64>()
        .all(db)
        .await
}

// ---------------------------------------------------------------------------------------
// Households for a child
// ---------------------------------------------------------------------------------------

/// A child as matching sees it.
pub fn match_child(c: &child::Model) -> MatchChild {
    MatchChild {
        id: c.id,
        authority_id: c.authority_id,
        date_of_birth: c.date_of_birth,
        gender: Gender::from_code(&c.gender).unwrap_or(Gender::Other),
        needs: NeedLevels::from_ranks([
            c.need_physical_health,
            c.need_disability,
            c.need_learning,
            c.need_developmental_uncertainty,
            c.need_emotional_behavioural,
            c.need_prenatal_exposure,
        ]),
        requires_early_permanence: c.requires_early_permanence,
        religion: c.religion.clone(),
        language: c.language.clone(),
        culture: c.culture.clone(),
        birth_family: GeoPoint::from_parts(c.birth_family_lat, c.birth_family_lon),
        min_distance_km: c.min_distance_km,
        // As `MilestoneDates::waiting_since`.
        waiting_since: c.shobpa_decision_on.or(c.placement_order_on),
    }
}

/// The households a suggestion may name, as decided by the policy: approved, available
/// and not on hold, in the consortium, and either shared with the pool or of an
/// authority whose households the actor reads in full.
#[derive(Clone, Debug)]
pub struct HouseholdPool {
    pub consortium_id: i64,
    pub own_authority_ids: Vec<i64>,
}

/// The SQL-checkable hard rules for one subject: what `domain::matching` reads from a
/// `MatchSubject`, worked out as of the matching date.
#[derive(Clone, Debug)]
pub struct SubjectRules {
    pub as_of: NaiveDate,
    /// The subject is already held by a link (or already has a match decision).
    pub already_matched: bool,
    pub declined: Vec<i64>,
    pub size: usize,
    pub youngest_months: i32,
    pub oldest_months: i32,
    pub needs: NeedLevels,
    pub genders: Vec<Gender>,
    pub requires_early_permanence: bool,
}

/// Numbered placeholders for PostgreSQL, `?` for SQLite.
struct Params {
    backend: DbBackend,
    values: Vec<Value>,
}

impl Params {
    fn new(backend: DbBackend) -> Self {
        Params {
            backend,
            values: Vec::new(),
        }
    }

    fn push(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_owned(),
        }
    }

    fn list<T: Into<Value> + Copy>(&mut self, items: &[T]) -> String {
        items
            .iter()
            .map(|v| self.push(*v))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The pool condition. Stage, hold and availability are literals so that both databases
/// use the `household_pool` partial index.
fn pool_sql(pool: &HouseholdPool, p: &mut Params) -> String {
    let consortium = p.push(pool.consortium_id);
    let shared = if pool.own_authority_ids.is_empty() {
        "h.shared_with_consortium = TRUE".to_owned()
    } else {
        format!(
            "(h.shared_with_consortium = TRUE OR h.authority_id IN ({}))",
            p.list(&pool.own_authority_ids)
        )
    };
    format!(
        "h.consortium_id = {consortium} AND h.stage = '{}' AND h.on_hold = FALSE \
         AND h.available_for_matching = TRUE AND {shared}",
        Stage::Approved.code()
    )
}

/// Need columns of `household`, in `NeedLevels` order.
const ACCEPTS: [&str; 6] = [
    "accepts_physical_health",
    "accepts_disability",
    "accepts_learning",
    "accepts_developmental_uncertainty",
    "accepts_emotional_behavioural",
    "accepts_prenatal_exposure",
];

/// The SQL form of `domain::matching::assess`, rules in [`HardRule`] order up to the
/// distance rule: the index in [`HardRule::ALL`] of the first rule a household fails, or
/// -1. Within the pool every household is approved, available and not on hold, so
/// `NOT_AVAILABLE` is left only for approval after the matching date.
fn first_failed_rule_sql(rules: &SubjectRules, consortium_id: i64, p: &mut Params) -> String {
    let mut whens: Vec<(HardRule, String)> = Vec::new();
    whens.push((
        HardRule::NotAvailable,
        format!("h.approved_on > {}", p.push(rules.as_of)),
    ));
    if rules.already_matched {
        whens.push((HardRule::AlreadyMatched, "1 = 1".into()));
    } else {
        let holding = LinkState::HOLDING
            .map(|s| format!("'{}'", s.code()))
            .join(", ");
        whens.push((
            HardRule::AlreadyMatched,
            format!(
                "h.id IN (SELECT l.household_id FROM link l WHERE l.consortium_id = {} \
                 AND l.state IN ({holding}))",
                p.push(consortium_id)
            ),
        ));
    }
    if !rules.declined.is_empty() {
        whens.push((
            HardRule::Declined,
            format!("h.id IN ({})", p.list(&rules.declined)),
        ));
    }
    // `capacity.max(0) < size` in the engine; size is at least 1, so the same as this.
    whens.push((
        HardRule::Capacity,
        format!("h.capacity < {}", p.push(rules.size as i64)),
    ));
    if rules.size > 1 {
        whens.push((
            HardRule::SiblingsNotAccepted,
            "h.accepts_siblings = FALSE".into(),
        ));
    }
    whens.push((
        HardRule::AgeRange,
        format!(
            "h.age_min_months > {} OR h.age_max_months < {}",
            p.push(rules.youngest_months),
            p.push(rules.oldest_months)
        ),
    ));
    // The engine compares clamped ranks (0..=3). A child's rank of 0 never fails; for a
    // rank of 1..=3 the raw stored value fails exactly when its clamped value does.
    let needs: Vec<String> = rules
        .needs
        .ranks()
        .iter()
        .zip(ACCEPTS)
        .filter(|(rank, _)| **rank > 0)
        .map(|(rank, column)| format!("h.{column} < {}", p.push(*rank)))
        .collect();
    if !needs.is_empty() {
        whens.push((HardRule::Needs, needs.join(" OR ")));
    }
    // As `Genders::meet`: a specific preference needs every child to be of that gender.
    let mut refused = Vec::new();
    if rules.genders.iter().any(|g| *g != Gender::Female) {
        refused.push(GenderPreference::Female.code());
    }
    if rules.genders.iter().any(|g| *g != Gender::Male) {
        refused.push(GenderPreference::Male.code());
    }
    if !refused.is_empty() {
        let list = refused
            .iter()
            .map(|code| p.push(*code))
            .collect::<Vec<_>>()
            .join(", ");
        whens.push((
            HardRule::GenderPreference,
            format!("h.gender_preference IN ({list})"),
        ));
    }
    if rules.requires_early_permanence {
        whens.push((
            HardRule::EarlyPermanence,
            "h.early_permanence_approved = FALSE".into(),
        ));
    }
    let mut sql = String::from("CASE");
    for (rule, condition) in whens {
        sql.push_str(&format!(" WHEN {condition} THEN {}", rule as usize));
    }
    sql.push_str(" ELSE -1 END");
    sql
}

/// Reads a flag stored as a boolean (PostgreSQL) or as 0/1 (SQLite).
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => Ok(b),
        serde_json::Value::Number(n) => Ok(n.as_i64().is_some_and(|n| n != 0)),
        other => Err(serde::de::Error::custom(format!(
            "expected a flag, found {other}"
        ))),
    }
}

/// Reads a coordinate sent as text, so that it arrives bit for bit (a JSON number may be
/// parsed a unit in the last place off, and the same pair must score the same whichever
/// way it is loaded).
fn exact<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => s.parse().map(Some).map_err(serde::de::Error::custom),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected a coordinate as text, found {other}"
        ))),
    }
}

/// The columns matching reads, and nothing else (no names, no profile text), in the order
/// of [`CANDIDATE_COLUMNS`]: the survivors arrive as one JSON array of such arrays.
#[derive(Deserialize)]
struct CandidateRow {
    id: i64,
    authority_id: i64,
    stage: String,
    #[serde(deserialize_with = "flag")]
    on_hold: bool,
    #[serde(deserialize_with = "flag")]
    available_for_matching: bool,
    approved_on: Option<NaiveDate>,
    capacity: i16,
    age_min_months: i32,
    age_max_months: i32,
    accepts_physical_health: i16,
    accepts_disability: i16,
    accepts_learning: i16,
    accepts_developmental_uncertainty: i16,
    accepts_emotional_behavioural: i16,
    accepts_prenatal_exposure: i16,
    #[serde(deserialize_with = "flag")]
    accepts_siblings: bool,
    gender_preference: String,
    #[serde(deserialize_with = "flag")]
    early_permanence_approved: bool,
    religion: Option<String>,
    languages: Option<String>,
    culture: Option<String>,
    #[serde(deserialize_with = "exact")]
    lat: Option<f64>,
    #[serde(deserialize_with = "exact")]
    lon: Option<f64>,
}

const CANDIDATE_COLUMNS: [&str; 23] = [
    "id",
    "authority_id",
    "stage",
    "on_hold",
    "available_for_matching",
    "approved_on",
    "capacity",
    "age_min_months",
    "age_max_months",
    "accepts_physical_health",
    "accepts_disability",
    "accepts_learning",
    "accepts_developmental_uncertainty",
    "accepts_emotional_behavioural",
    "accepts_prenatal_exposure",
    "accepts_siblings",
    "gender_preference",
    "early_permanence_approved",
    "religion",
    "languages",
    "culture",
    "lat",
    "lon",
];

impl CandidateRow {
    fn into_candidate(self, already_matched: bool) -> Candidate {
        Candidate {
            id: self.id,
            authority_id: self.authority_id,
            approved: Stage::from_code(&self.stage) == Some(Stage::Approved),
            approved_on: self.approved_on,
            available: self.available_for_matching && !self.on_hold,
            already_matched,
            capacity: self.capacity,
            age_min_months: self.age_min_months,
            age_max_months: self.age_max_months,
            accepts: NeedLevels::from_ranks([
                self.accepts_physical_health,
                self.accepts_disability,
                self.accepts_learning,
                self.accepts_developmental_uncertainty,
                self.accepts_emotional_behavioural,
                self.accepts_prenatal_exposure,
            ]),
            accepts_siblings: self.accepts_siblings,
            gender_preference: GenderPreference::from_code(&self.gender_preference)
                .unwrap_or(GenderPreference::Any),
            early_permanence_approved: self.early_permanence_approved,
            religion: self.religion,
            languages: split_languages(self.languages.as_deref()),
            culture: self.culture,
            location: GeoPoint::from_parts(self.lat, self.lon),
        }
    }
}

/// A household as matching sees it (`already_matched`: held by a link).
pub fn candidate(h: &household::Model, already_matched: bool) -> Candidate {
    CandidateRow {
        id: h.id,
        authority_id: h.authority_id,
        stage: h.stage.clone(),
        on_hold: h.on_hold,
        available_for_matching: h.available_for_matching,
        approved_on: h.approved_on,
        capacity: h.capacity,
        age_min_months: h.age_min_months,
        age_max_months: h.age_max_months,
        accepts_physical_health: h.accepts_physical_health,
        accepts_disability: h.accepts_disability,
        accepts_learning: h.accepts_learning,
        accepts_developmental_uncertainty: h.accepts_developmental_uncertainty,
        accepts_emotional_behavioural: h.accepts_emotional_behavioural,
        accepts_prenatal_exposure: h.accepts_prenatal_exposure,
        accepts_siblings: h.accepts_siblings,
        gender_preference: h.gender_preference.clone(),
        early_permanence_approved: h.early_permanence_approved,
        religion: h.religion.clone(),
        languages: h.languages.clone(),
        culture: h.culture.clone(),
        lat: h.lat,
        lon: h.lon,
    }
    .into_candidate(already_matched)
}

/// What the database says about the pool for one subject: how many households each
/// SQL-checked rule excluded, and the households that passed them all.
#[derive(Clone, Debug)]
pub struct Prefiltered {
    /// Non-zero counts, in [`HardRule::ALL`] order.
    pub excluded: Vec<Exclusion>,
    pub survivors: Vec<Candidate>,
}

/// Tallies the pool by first failed SQL-checkable rule and loads the survivors (see the
/// module header), in one statement: one pass over the `household_match` covering index,
/// returning one row — a count per rule, and the survivors as one JSON array of compact
/// arrays. A row per survivor would cost more in the driver than everything else together
/// (SQLite's driver hands rows over one by one between threads).
pub async fn prefiltered_households(
    db: &impl ConnectionTrait,
    pool: &HouseholdPool,
    rules: &SubjectRules,
) -> Result<Prefiltered, DbErr> {
    let backend = db.get_database_backend();
    let mut p = Params::new(backend);
    let counts: Vec<String> = (0..HardRule::ALL.len())
        .map(|i| format!("SUM(CASE WHEN t.rule = {i} THEN 1 ELSE 0 END) AS r{i}"))
        .collect();
    let inner: Vec<String> = CANDIDATE_COLUMNS.iter().map(|c| format!("h.{c}")).collect();
    // Coordinates as text with every digit (see `exact`): SQLite's `!` flag lifts its
    // printf's usual limit of 16 significant digits.
    let outer: Vec<String> = CANDIDATE_COLUMNS
        .iter()
        .map(|c| match (*c, backend) {
            ("lat" | "lon", DbBackend::Postgres) => format!("CAST(t.{c} AS TEXT)"),
            ("lat" | "lon", _) => {
                format!("CASE WHEN t.{c} IS NULL THEN NULL ELSE printf('%!.17g', t.{c}) END")
            }
            _ => format!("t.{c}"),
        })
        .collect();
    let survivors = match backend {
        DbBackend::Postgres => format!(
            "CAST(json_agg(json_build_array({})) FILTER (WHERE t.rule = -1) AS TEXT)",
            outer.join(", ")
        ),
        _ => format!(
            "json_group_array(json_array({})) FILTER (WHERE t.rule = -1)",
            outer.join(", ")
        ),
    };
    // SQLite binds `?` placeholders by position: values are pushed in the order the text
    // names them (the rule expression, then the pool).
    let case = first_failed_rule_sql(rules, pool.consortium_id, &mut p);
    let pool_condition = pool_sql(pool, &mut p);
    let sql = format!(
        "SELECT {}, {survivors} AS survivors \
         FROM (SELECT {}, {case} AS rule FROM household h WHERE {pool_condition}) t",
        counts.join(", "),
        inner.join(", "),
    );
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, p.values))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("matching tally".into()))?;

    let mut excluded = Vec::new();
    for (i, rule) in HardRule::ALL.iter().enumerate() {
        let count: Option<i64> = row.try_get("", &format!("r{i}"))?;
        if let Some(count) = count.filter(|n| *n > 0) {
            excluded.push(Exclusion {
                rule: *rule,
                count: count as u64,
            });
        }
    }
    let text: Option<String> = row.try_get("", "survivors")?;
    let rows: Vec<CandidateRow> = match text {
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| DbErr::Type(format!("matching survivors: {e}")))?,
        None => Vec::new(),
    };
    Ok(Prefiltered {
        excluded,
        // Survivors passed the already-matched rule in SQL.
        survivors: rows.into_iter().map(|r| r.into_candidate(false)).collect(),
    })
}

/// The engine's result over the survivors, completed with what SQL excluded: the pool
/// size and the tally are those of the whole pool.
pub fn merge(sql_excluded: &[Exclusion], mut result: MatchResult) -> MatchResult {
    let mut counts = [0u64; HardRule::ALL.len()];
    for e in sql_excluded.iter().chain(&result.excluded) {
        counts[e.rule as usize] += e.count;
    }
    result.pool_size += sql_excluded.iter().map(|e| e.count).sum::<u64>();
    result.excluded = HardRule::ALL
        .iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .map(|(&rule, count)| Exclusion { rule, count })
        .collect();
    result
}

// ---------------------------------------------------------------------------------------
// Children for a household
// ---------------------------------------------------------------------------------------

/// The waiting children a suggestion may name, as decided by the policy: the consortium
/// pool, and the waiting children of the authorities whose children the actor reads in
/// full. No page limit: waiting children number hundreds per consortium.
pub async fn waiting_children(
    db: &impl ConnectionTrait,
    consortium_id: i64,
    own_authority_ids: &[i64],
) -> Result<Vec<child::Model>, DbErr> {
    let all = super::Page {
        offset: 0,
        limit: u32::MAX as u64,
    };
    let order = super::children::ChildOrder::Created;
    let (mut rows, _) = super::children::list(
        db,
        &ChildScope::Pool { consortium_id },
        &ChildFilter::default(),
        order,
        all,
    )
    .await?;
    if !own_authority_ids.is_empty() {
        let filter = ChildFilter {
            statuses: Some(vec![ChildStatus::Waiting]),
            ..Default::default()
        };
        let scope = ChildScope::Authorities {
            consortium_id,
            authority_ids: own_authority_ids.to_vec(),
        };
        let (own, _) = super::children::list(db, &scope, &filter, order, all).await?;
        rows.extend(own);
    }
    rows.sort_by_key(|c| c.id);
    rows.dedup_by_key(|c| c.id);
    Ok(rows)
}

/// The sibling groups with `ids`.
pub async fn groups(
    db: &impl ConnectionTrait,
    ids: Vec<i64>,
) -> Result<Vec<sibling_group::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sibling_group::Entity::find()
        .filter(sibling_group::Column::Id.is_in(ids))
        .all(db)
        .await
}
