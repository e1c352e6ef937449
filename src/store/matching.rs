//! What matching reads: the consortium's match weights, the subject's history (declined
//! households, whether it is already held by a link), and the candidates.
//!
//! # The pool
//!
//! Matching reads the whole pool of a consortium: every household approved, available
//! and not on hold, and every waiting or pooled child. [`pool_households`] and
//! [`waiting_and_pooled_children`] read them for `store::pool`, which keeps them in memory
//! per consortium and reloads them when the consortium's data changes; the engine
//! (`domain::matching`) applies every rule to every pair. Households come back as one JSON
//! array of compact arrays in one row: a row per household would cost more in the driver
//! than everything else together (SQLite's driver hands rows over one by one between
//! threads).
use chrono::NaiveDate;
use entity::{child, consortium, household, link, link_child, sibling_group};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, QueryFilter, QuerySelect, Statement, Value,
};
use serde::Deserialize;

use std::collections::HashSet;

use super::codes::ChildCodes;
use super::pool::PoolChild;
use super::{Writes, begin_consortium_write};
use crate::domain::links::LinkState;
use crate::domain::matching::{Candidate, GeoPoint, MatchChild, Weights, split_languages};
use crate::domain::{ChildStatus, GenderPreference, NeedLevels, Stage};
use crate::error::{AppError, AppResult};

// ---------------------------------------------------------------------------------------
// Weights
// ---------------------------------------------------------------------------------------

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
        Some(text) => match serde_json::from_str::<Weights>(&text) {
            Ok(w) => w,
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
    let text =
        serde_json::to_string(&weights).map_err(|e| AppError::from(anyhow::Error::new(e)))?;
    let txn = begin_consortium_write(db, Writes::Consortium(consortium_id)).await?;
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
        .filter(link::Column::State.eq(LinkState::Declined));
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
        .filter(link::Column::State.eq(LinkState::Declined))
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
        gender: c.gender_code(),
        needs: c.needs(),
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
/// of [`CANDIDATE_COLUMNS`] and then the two flags [`pool_households`] adds: the pool
/// arrives as one JSON array of such arrays.
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
    /// Shared with the consortium pool.
    #[serde(deserialize_with = "flag")]
    shared: bool,
    /// Held by a `MATCHED`/`PLACED` link.
    #[serde(deserialize_with = "flag")]
    held: bool,
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
    fn into_candidate(self) -> Candidate {
        Candidate {
            id: self.id,
            authority_id: self.authority_id,
            approved: Stage::from_code(&self.stage) == Some(Stage::Approved),
            approved_on: self.approved_on,
            available: self.available_for_matching && !self.on_hold,
            already_matched: self.held,
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
        shared: h.shared_with_consortium,
        held: already_matched,
    }
    .into_candidate()
}

/// A household of the pool: how matching sees it, and whether its authority shares it
/// with the consortium (else only that authority's staff are offered it).
#[derive(Clone, Debug, PartialEq)]
pub struct PoolHousehold {
    pub candidate: Candidate,
    pub shared: bool,
}

/// The households of the consortium's pool — approved, available for matching and not on
/// hold — ascending by id, with whether each is held by a `MATCHED`/`PLACED` link; or,
/// with `since`, every household of the consortium written after that data version,
/// whether in the pool or not (the caller tells by [`Candidate::approved`] and
/// [`Candidate::available`]). For the whole pool, the stage, hold and availability are
/// literals so that both databases use the `household_match` partial covering index.
pub async fn pool_households(
    db: &impl ConnectionTrait,
    consortium_id: i64,
    since: Option<i64>,
) -> Result<Vec<PoolHousehold>, DbErr> {
    let backend = db.get_database_backend();
    let p = |n: usize| match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    };
    // Coordinates as text with every digit (see `exact`): SQLite's `!` flag lifts its
    // printf's usual limit of 16 significant digits.
    let mut columns: Vec<String> = CANDIDATE_COLUMNS
        .iter()
        .map(|c| match (*c, backend) {
            ("lat" | "lon", DbBackend::Postgres) => format!("CAST(h.{c} AS TEXT)"),
            ("lat" | "lon", _) => {
                format!("CASE WHEN h.{c} IS NULL THEN NULL ELSE printf('%!.17g', h.{c}) END")
            }
            _ => format!("h.{c}"),
        })
        .collect();
    columns.push("h.shared_with_consortium".into());
    let holding = LinkState::HOLDING
        .map(|s| format!("'{}'", s.code()))
        .join(", ");
    columns.push(format!(
        "CASE WHEN h.id IN (SELECT l.household_id FROM link l WHERE l.consortium_id = {} \
         AND l.state IN ({holding})) THEN 1 ELSE 0 END",
        p(1)
    ));
    let rows = match backend {
        DbBackend::Postgres => format!(
            "CAST(json_agg(json_build_array({})) AS TEXT)",
            columns.join(", ")
        ),
        _ => format!("json_group_array(json_array({}))", columns.join(", ")),
    };
    let mut values = vec![Value::from(consortium_id), Value::from(consortium_id)];
    let condition = match since {
        None => format!(
            "h.stage = '{}' AND h.on_hold = FALSE AND h.available_for_matching = TRUE",
            Stage::Approved.code()
        ),
        Some(version) => {
            values.push(Value::from(version));
            format!("h.data_version > {}", p(3))
        }
    };
    let sql = format!(
        "SELECT {rows} AS households FROM household h WHERE h.consortium_id = {} AND {condition}",
        p(2),
    );
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("matching pool".into()))?;
    let text: Option<String> = row.try_get("", "households")?;
    let mut rows: Vec<CandidateRow> = match text {
        Some(text) => {
            serde_json::from_str(&text).map_err(|e| DbErr::Type(format!("matching pool: {e}")))?
        }
        None => Vec::new(),
    };
    // Rows arrive in the covering index's order.
    rows.sort_unstable_by_key(|r| r.id);
    Ok(rows
        .into_iter()
        .map(|row| PoolHousehold {
            shared: row.shared,
            candidate: row.into_candidate(),
        })
        .collect())
}

// ---------------------------------------------------------------------------------------
// Children for a household
// ---------------------------------------------------------------------------------------

/// Every waiting child of the consortium, and every child of its pool (waiting, unmatched
/// and shared), ascending by id, each with how it qualifies; with `since`, only those
/// written after that data version, and first the ids of every child written after it
/// (whether it qualifies or not).
pub async fn waiting_and_pooled_children(
    db: &impl ConnectionTrait,
    consortium_id: i64,
    since: Option<i64>,
) -> Result<(Vec<i64>, Vec<PoolChild>), DbErr> {
    use super::children::{pool_condition, status_condition};
    use sea_orm::sea_query::{Alias, Expr, ExprTrait};
    use sea_orm::{Condition, QueryOrder};
    let written = |condition: Condition| match since {
        None => condition,
        // Not an entity column: only matching reads it.
        Some(version) => Condition::all()
            .add(condition)
            .add(Expr::col((child::Entity, Alias::new("data_version"))).gt(version)),
    };
    let mine = Condition::all().add(child::Column::ConsortiumId.eq(consortium_id));
    let waiting = mine.clone().add(status_condition(ChildStatus::Waiting));
    let ids = |condition: Condition| {
        child::Entity::find()
            .select_only()
            .column(child::Column::Id)
            .filter(written(condition))
            .into_tuple::<i64>()
            .all(db)
    };
    let changed = match since {
        None => Vec::new(),
        Some(_) => ids(mine).await?,
    };
    let pooled: HashSet<i64> = ids(pool_condition(consortium_id))
        .await?
        .into_iter()
        .collect();
    let waiting_ids: HashSet<i64> = ids(waiting.clone()).await?.into_iter().collect();
    let rows = child::Entity::find()
        .filter(written(
            Condition::any()
                .add(pool_condition(consortium_id))
                .add(waiting),
        ))
        .order_by_asc(child::Column::Id)
        .all(db)
        .await?;
    let children = rows
        .into_iter()
        .map(|child| PoolChild {
            pooled: pooled.contains(&child.id),
            waiting: waiting_ids.contains(&child.id),
            child,
        })
        .collect();
    Ok((changed, children))
}

/// The households of the consortium held by a `MATCHED`/`PLACED` link.
pub async fn held_households(
    db: &impl ConnectionTrait,
    consortium_id: i64,
) -> Result<Vec<i64>, DbErr> {
    link::Entity::find()
        .select_only()
        .column(link::Column::HouseholdId)
        .filter(link::Column::ConsortiumId.eq(consortium_id))
        .filter(link::Column::State.is_in(LinkState::HOLDING))
        .into_tuple::<i64>()
        .all(db)
        .await
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
