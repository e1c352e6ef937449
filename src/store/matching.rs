//! What matching reads: the consortium's match weights, the subject's history (declined
//! households, whether it is already held by a link), and the candidates.
//!
//! # Households for a child: hard rules in SQL, scores in Rust
//!
//! A consortium may hold 100,000 approved households; loading them all to tally the
//! exclusions would take far longer than a suggestion should. So the rules the database
//! can check — every hard rule but the birth family distance, which needs great-circle
//! trigonometry SQLite does not reliably have — are written once as a SQL `CASE` that names
//! the *first* rule each household fails, in [`HardRule`] order, exactly as
//! `domain::matching` assesses them. Two queries share that expression:
//!
//! 1. the tally: `COUNT(*)` per first failed rule over the whole pool (one pass over the
//!    `household_pool` partial index, returning a handful of rows);
//! 2. the survivors: the compact candidate rows of households failing none of them.
//!
//! Only the survivors go to [`crate::domain::matching::evaluate`], which applies the
//! distance rule, scores and ranks them and explains the best. The result's pool size and
//! tally are the two added together ([`merge`]), so they are exactly what the engine would
//! have said over the whole pool — the `sql_prefilter_agrees_with_the_engine` test checks
//! that on a varied pool.
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
    EntityTrait, FromQueryResult, QueryFilter, QuerySelect, Statement, Value,
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

#[derive(FromQueryResult)]
struct TallyRow {
    rule: i32,
    n: i64,
}

/// The columns matching reads, and nothing else (no names, no profile text).
#[derive(FromQueryResult)]
struct CandidateRow {
    id: i64,
    authority_id: i64,
    stage: String,
    on_hold: bool,
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
    accepts_siblings: bool,
    gender_preference: String,
    early_permanence_approved: bool,
    religion: Option<String>,
    languages: Option<String>,
    culture: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
}

const CANDIDATE_COLUMNS: &str = "h.id, h.authority_id, h.stage, h.on_hold, \
    h.available_for_matching, h.approved_on, h.capacity, h.age_min_months, h.age_max_months, \
    h.accepts_physical_health, h.accepts_disability, h.accepts_learning, \
    h.accepts_developmental_uncertainty, h.accepts_emotional_behavioural, \
    h.accepts_prenatal_exposure, h.accepts_siblings, h.gender_preference, \
    h.early_permanence_approved, h.religion, h.languages, h.culture, h.lat, h.lon";

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
/// module header). Both queries run in one transaction, so they see the same pool.
pub async fn prefiltered_households(
    db: &DatabaseConnection,
    pool: &HouseholdPool,
    rules: &SubjectRules,
) -> Result<Prefiltered, DbErr> {
    let backend = db.get_database_backend();
    let pool_consortium = pool.consortium_id;
    // SQLite binds `?` placeholders by position, so each statement pushes its values in
    // the order its text names them.
    let tally_sql = {
        let mut p = Params::new(backend);
        let case = first_failed_rule_sql(rules, pool.consortium_id, &mut p);
        let pool = pool_sql(pool, &mut p);
        let sql = format!(
            "SELECT t.rule AS rule, COUNT(*) AS n \
             FROM (SELECT {case} AS rule FROM household h WHERE {pool}) t \
             WHERE t.rule >= 0 GROUP BY t.rule"
        );
        Statement::from_sql_and_values(backend, sql, p.values)
    };
    let survivors_sql = {
        let mut p = Params::new(backend);
        let pool = pool_sql(pool, &mut p);
        let case = first_failed_rule_sql(rules, pool_consortium, &mut p);
        let sql =
            format!("SELECT {CANDIDATE_COLUMNS} FROM household h WHERE {pool} AND ({case}) = -1");
        Statement::from_sql_and_values(backend, sql, p.values)
    };

    use sea_orm::TransactionTrait;
    let t0 = std::time::Instant::now();
    let txn = db.begin().await?;
    let tally = TallyRow::find_by_statement(tally_sql).all(&txn).await?;
    let t1 = t0.elapsed();
    let rows = CandidateRow::find_by_statement(survivors_sql)
        .all(&txn)
        .await?;
    txn.commit().await?;
    eprintln!("TIMING tally {t1:?} survivors {:?} n={}", t0.elapsed(), rows.len());

    let mut counts = [0u64; HardRule::ALL.len()];
    for row in tally {
        if let Some(slot) = usize::try_from(row.rule)
            .ok()
            .and_then(|i| counts.get_mut(i))
        {
            *slot += row.n.max(0) as u64;
        }
    }
    Ok(Prefiltered {
        excluded: HardRule::ALL
            .iter()
            .zip(counts)
            .filter(|(_, n)| *n > 0)
            .map(|(&rule, count)| Exclusion { rule, count })
            .collect(),
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
