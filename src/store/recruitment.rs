//! Recruitment journeys for the funnel and the adopter tracking alerts: one compact record
//! per household — the first date it reached each stage, its exit, its pauses — from which
//! its journey as of any date follows.
//!
//! A yearly funnel reads tens of thousands of journeys. Aggregating their million events
//! per request takes seconds, and even reading one row per household from the database
//! takes hundreds of milliseconds; the records of a consortium are a few megabytes. So each
//! replica holds them in a [`JourneySnapshot`] per consortium, kept fresh as
//! [`super::snapshots`] describes: from `household_journey` (one row per household, kept
//! equal to an aggregate of its events by triggers; migration 5) and the pause events.
//!
//! Events are append-only and dated in order (the domain refuses an event dated before
//! the previous one), so a record answers "as of" a past date by leaving out the dates
//! after it: a stage first reached after that date had not been reached then.
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::NaiveDate;
use entity::household_journey::{self, Column as J};
use entity::recruitment_event::{self, Column as E};
use futures_util::TryStreamExt;
use sea_orm::sea_query::Query;
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::codes::JourneyCodes;
use super::snapshots::{Snapshot, SnapshotCache, read_only, version_in};
use crate::domain::funnel::{Exit, Journey};
use crate::domain::{EnquiryChannel, Period, Stage};

/// Which households' journeys to read.
#[derive(Clone, Debug)]
pub struct JourneyScope {
    pub consortium_id: i64,
    pub authority_ids: Vec<i64>,
}

/// One household's journey as held in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JourneyRecord {
    pub household_id: i64,
    pub authority_id: i64,
    pub channel: EnquiryChannel,
    pub enquiry_on: NaiveDate,
    pub fast_track: bool,
    /// The date of its first event.
    pub first_event_on: NaiveDate,
    /// The first date each stage of
    /// [`FUNNEL_STAGES`](crate::domain::funnel::FUNNEL_STAGES) after the enquiry was
    /// reached.
    pub reached: [Option<NaiveDate>; 10],
    pub exit: Option<Exit>,
    /// Its `ON_HOLD` (`true`) and `RESUMED` (`false`) events, in the order recorded.
    pub pauses: Box<[(NaiveDate, bool)]>,
}

impl JourneyRecord {
    fn from_row(row: household_journey::Model, pauses: Vec<(NaiveDate, bool)>) -> JourneyRecord {
        let exit = match (row.exit_on, row.exit_stage_code()) {
            (Some(on), Some(stage)) => Some(Exit {
                stage,
                on,
                reason: row.exit_reason_code(),
            }),
            _ => None,
        };
        JourneyRecord {
            household_id: row.household_id,
            authority_id: row.authority_id,
            channel: row.channel_code(),
            enquiry_on: row.enquiry_on,
            fast_track: row.fast_track,
            first_event_on: row.first_event_on,
            reached: [
                row.information_event_on,
                row.stage_one_started_on,
                row.stage_one_completed_on,
                row.stage_two_started_on,
                row.stage_two_completed_on,
                row.panel_on,
                row.approved_on,
                row.matched_on,
                row.placed_on,
                row.adoption_order_on,
            ],
            exit,
            pauses: pauses.into_boxed_slice(),
        }
    }

    /// The exit, if it had happened by `as_of`.
    fn exit_by(&self, as_of: NaiveDate) -> Option<Exit> {
        self.exit.filter(|e| e.on <= as_of)
    }

    /// Whether the journey counts for `period` as of `as_of`: the household enquired
    /// within it, or first reached a stage or left within it (by `as_of`).
    fn touches(&self, period: &Period, as_of: NaiveDate) -> bool {
        let within = |on: &NaiveDate| *on <= as_of && period.contains(*on);
        period.contains(self.enquiry_on)
            || self.reached.iter().flatten().any(within)
            || self.exit.is_some_and(|e| within(&e.on))
    }

    /// The journey as of `as_of`.
    fn as_of(&self, as_of: NaiveDate) -> Journey {
        let mut reached = [None; 11];
        reached[0] = Some(self.enquiry_on);
        for (slot, on) in reached[1..].iter_mut().zip(self.reached) {
            *slot = on.filter(|on| *on <= as_of);
        }
        Journey {
            household_id: self.household_id,
            authority_id: self.authority_id,
            channel: self.channel,
            enquiry_on: self.enquiry_on,
            fast_track: self.fast_track,
            reached,
            exit: self.exit_by(as_of),
            // The latest pause recorded on or before `as_of` is a hold.
            on_hold: self
                .pauses
                .iter()
                .rfind(|(on, _)| *on <= as_of)
                .is_some_and(|(_, hold)| *hold),
        }
    }
}

/// One consortium's journeys as of `version`, by household id.
#[derive(Debug, Default, PartialEq)]
pub struct JourneySnapshot {
    pub version: i64,
    pub records: Vec<Arc<JourneyRecord>>,
}

impl JourneySnapshot {
    /// The journeys, as of `as_of`, of the households in `scope` that enquired within
    /// `period`, or reached a stage or left within it; of every household in scope when
    /// `period` is `None` (households that left are left out then: they have no journey
    /// to track). Only households with an event on or before `as_of` have a journey.
    pub fn journeys<'a>(
        &'a self,
        scope: &'a JourneyScope,
        period: Option<&'a Period>,
        as_of: NaiveDate,
    ) -> impl Iterator<Item = Journey> + 'a {
        self.records
            .iter()
            .filter(move |r| {
                r.first_event_on <= as_of && scope.authority_ids.contains(&r.authority_id)
            })
            .filter(move |r| match period {
                Some(period) => r.touches(period, as_of),
                None => r.exit_by(as_of).is_none(),
            })
            .map(move |r| r.as_of(as_of))
    }
}

/// This replica's journey snapshots.
pub type JourneyCache = SnapshotCache<JourneySnapshot>;

impl Snapshot for JourneySnapshot {
    const NAME: &'static str = "journeys";

    fn version(&self) -> i64 {
        self.version
    }

    async fn load(db: &DatabaseConnection, consortium_id: i64) -> Result<Self, DbErr> {
        let txn = read_only(db).await?;
        let version = version_in(&txn, consortium_id).await?;
        let mut records = read_records(&txn, consortium_id, None).await?;
        txn.commit().await?;
        records.sort_unstable_by_key(|r| r.household_id);
        Ok(JourneySnapshot { version, records })
    }

    async fn refresh(
        db: &DatabaseConnection,
        consortium_id: i64,
        old: &Self,
    ) -> Result<Self, DbErr> {
        let txn = read_only(db).await?;
        let version = version_in(&txn, consortium_id).await?;
        let written = read_records(&txn, consortium_id, Some(old.version)).await?;
        txn.commit().await?;
        if written.is_empty() {
            return Ok(JourneySnapshot {
                version,
                records: old.records.clone(),
            });
        }
        let written_ids: HashSet<i64> = written.iter().map(|r| r.household_id).collect();
        let mut records: Vec<Arc<JourneyRecord>> = old
            .records
            .iter()
            .filter(|r| !written_ids.contains(&r.household_id))
            .cloned()
            .chain(written)
            .collect();
        records.sort_unstable_by_key(|r| r.household_id);
        Ok(JourneySnapshot { version, records })
    }

    fn size(&self) -> usize {
        self.records.len()
    }
}

/// The consortium's journey records (only those written after version `since`, if given).
/// Rows are streamed, so that reading a consortium whole holds no more than its records.
async fn read_records(
    txn: &DatabaseTransaction,
    consortium_id: i64,
    since: Option<i64>,
) -> Result<Vec<Arc<JourneyRecord>>, DbErr> {
    let mut rows = household_journey::Entity::find().filter(J::ConsortiumId.eq(consortium_id));
    let mut pauses = recruitment_event::Entity::find()
        .select_only()
        .columns([E::HouseholdId, E::OccurredOn])
        .column_as(E::Stage.eq(Stage::OnHold), "hold")
        .filter(E::ConsortiumId.eq(consortium_id))
        .filter(E::Stage.is_in([Stage::OnHold, Stage::Resumed]))
        .order_by_asc(E::HouseholdId)
        .order_by_asc(E::Id);
    if let Some(since) = since {
        rows = rows.filter(J::DataVersion.gt(since));
        pauses = pauses.filter(
            E::HouseholdId.in_subquery(
                Query::select()
                    .column(J::HouseholdId)
                    .from(household_journey::Entity)
                    .and_where(J::ConsortiumId.eq(consortium_id))
                    .and_where(J::DataVersion.gt(since))
                    .to_owned(),
            ),
        );
    }
    let mut by_household: HashMap<i64, Vec<(NaiveDate, bool)>> = HashMap::new();
    let mut stream = pauses
        .into_tuple::<(i64, NaiveDate, bool)>()
        .stream(txn)
        .await?;
    while let Some((household_id, on, hold)) = stream.try_next().await? {
        by_household
            .entry(household_id)
            .or_default()
            .push((on, hold));
    }
    drop(stream);
    let mut records = Vec::new();
    let mut stream = rows.stream(txn).await?;
    while let Some(row) = stream.try_next().await? {
        let pauses = by_household.remove(&row.household_id).unwrap_or_default();
        records.push(Arc::new(JourneyRecord::from_row(row, pauses)));
    }
    Ok(records)
}

/// This replica's snapshot of the consortium's journeys, brought up to date first.
pub async fn snapshot(
    db: &DatabaseConnection,
    cache: &JourneyCache,
    consortium_id: i64,
) -> Result<Arc<JourneySnapshot>, DbErr> {
    cache.get(db, consortium_id).await
}
