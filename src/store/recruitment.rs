//! Recruitment journeys for the funnel and the adopter tracking alerts: one compact row
//! per household — the first date it reached each stage, its exit, whether it is on hold —
//! computed by the database from the append-only events, as of a date.
use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, DbBackend, DbErr, FromQueryResult, Statement, Value};

use crate::domain::funnel::{Exit, FUNNEL_STAGES, Journey};
use crate::domain::{EnquiryChannel, Period, RecruitmentReason, Stage};

/// Which households' journeys to read.
#[derive(Clone, Debug)]
pub struct JourneyScope {
    pub consortium_id: i64,
    pub authority_ids: Vec<i64>,
}

#[derive(FromQueryResult)]
struct JourneyRow {
    household_id: i64,
    authority_id: i64,
    enquiry_channel: String,
    enquiry_on: NaiveDate,
    fast_track: bool,
    s1: Option<NaiveDate>,
    s2: Option<NaiveDate>,
    s3: Option<NaiveDate>,
    s4: Option<NaiveDate>,
    s5: Option<NaiveDate>,
    s6: Option<NaiveDate>,
    s7: Option<NaiveDate>,
    s8: Option<NaiveDate>,
    s9: Option<NaiveDate>,
    s10: Option<NaiveDate>,
    exit_on: Option<NaiveDate>,
    exit_stage: Option<String>,
    exit_reason: Option<String>,
    hold_id: Option<i64>,
    resume_id: Option<i64>,
}

impl JourneyRow {
    fn into_journey(self) -> Journey {
        let reached = [
            Some(self.enquiry_on),
            self.s1,
            self.s2,
            self.s3,
            self.s4,
            self.s5,
            self.s6,
            self.s7,
            self.s8,
            self.s9,
            self.s10,
        ];
        let exit = match (
            self.exit_on,
            self.exit_stage.as_deref().and_then(Stage::from_code),
        ) {
            (Some(on), Some(stage)) => Some(Exit {
                stage,
                on,
                reason: self
                    .exit_reason
                    .as_deref()
                    .and_then(RecruitmentReason::from_code),
            }),
            _ => None,
        };
        Journey {
            household_id: self.household_id,
            authority_id: self.authority_id,
            channel: EnquiryChannel::from_code(&self.enquiry_channel)
                .unwrap_or(EnquiryChannel::Other),
            enquiry_on: self.enquiry_on,
            fast_track: self.fast_track,
            reached,
            exit,
            on_hold: match (self.hold_id, self.resume_id) {
                (Some(hold), Some(resume)) => hold > resume,
                (Some(_), None) => true,
                _ => false,
            },
        }
    }
}

/// Numbered placeholders for PostgreSQL, `?` for SQLite.
struct Params {
    backend: DbBackend,
    values: Vec<Value>,
}

impl Params {
    fn push(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => format!("${}", self.values.len()),
            _ => "?".to_owned(),
        }
    }
}

/// The journeys, as of `as_of`, of the households in `scope` that enquired within
/// `period` or recorded any event in it; of every household in scope when `period` is
/// `None` (households that left are left out then: they have no journey to track).
pub async fn journeys(
    db: &impl ConnectionTrait,
    scope: &JourneyScope,
    period: Option<&Period>,
    as_of: NaiveDate,
) -> Result<Vec<Journey>, DbErr> {
    if scope.authority_ids.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let mut p = Params {
        backend,
        values: Vec::new(),
    };
    let mut stage_columns = String::new();
    for (i, stage) in FUNNEL_STAGES.iter().enumerate().skip(1) {
        stage_columns.push_str(&format!(
            "MIN(CASE WHEN e.stage = '{}' THEN e.occurred_on END) AS s{i},\n",
            stage.code()
        ));
    }
    let exits = format!(
        "('{}', '{}')",
        Stage::Withdrawn.code(),
        Stage::EndedByAgency.code()
    );
    let consortium = p.push(scope.consortium_id);
    let authorities: Vec<String> = scope.authority_ids.iter().map(|a| p.push(*a)).collect();
    let authorities = authorities.join(", ");
    let as_of_p = p.push(as_of);
    let relevant = match period {
        Some(period) => {
            let (from_a, to_a) = (p.push(period.from()), p.push(period.to()));
            let (consortium_b, from_b, to_b) = (
                p.push(scope.consortium_id),
                p.push(period.from()),
                p.push(period.to()),
            );
            format!(
                "AND (h.enquiry_on BETWEEN {from_a} AND {to_a}
                      OR e.household_id IN (SELECT x.household_id FROM recruitment_event x
                                            WHERE x.consortium_id = {consortium_b}
                                              AND x.occurred_on BETWEEN {from_b} AND {to_b}))"
            )
        }
        None => {
            // Placeholders are positional on SQLite: each use takes its own value.
            let again: Vec<String> = scope.authority_ids.iter().map(|a| p.push(*a)).collect();
            let as_of_again = p.push(as_of);
            format!(
                "AND e.household_id NOT IN (SELECT x.household_id FROM recruitment_event x
                                            WHERE x.authority_id IN ({}) AND x.stage IN {exits}
                                              AND x.occurred_on <= {as_of_again})",
                again.join(", ")
            )
        }
    };
    let sql = format!(
        "SELECT e.household_id, h.authority_id, h.enquiry_channel, h.enquiry_on, h.fast_track,
                {stage_columns}
                MIN(CASE WHEN e.stage IN {exits} THEN e.occurred_on END) AS exit_on,
                MAX(CASE WHEN e.stage IN {exits} THEN e.stage END) AS exit_stage,
                MAX(CASE WHEN e.stage IN {exits} THEN e.reason END) AS exit_reason,
                MAX(CASE WHEN e.stage = 'ON_HOLD' THEN e.id END) AS hold_id,
                MAX(CASE WHEN e.stage = 'RESUMED' THEN e.id END) AS resume_id
         FROM recruitment_event e JOIN household h ON h.id = e.household_id
         WHERE e.consortium_id = {consortium} AND e.authority_id IN ({authorities})
           AND e.occurred_on <= {as_of_p}
           {relevant}
         GROUP BY e.household_id, h.authority_id, h.enquiry_channel, h.enquiry_on, h.fast_track"
    );
    let rows =
        JourneyRow::find_by_statement(Statement::from_sql_and_values(backend, sql, p.values))
            .all(db)
            .await?;
    Ok(rows.into_iter().map(JourneyRow::into_journey).collect())
}
