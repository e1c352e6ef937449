//! The board's views: tracking alerts and the figures a board paper carries.
//!
//! The adoption scorecard, the child tracking alerts, the cross-boundary flows and
//! sufficiency: each checks its arguments, picks its authorities, lets the policy decide
//! the view, reads compact rows, computes the figures as they are and publishes them to
//! the actor with disclosure control (the `publish` of each report in `domain`); the
//! scorecard and sufficiency go through the [report cache](super::report_cache). Every
//! run is audited. The GraphQL fields and the CSV export call these same functions.
use std::collections::BTreeMap;

use chrono::{Months, NaiveDate};
use entity::child;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Service;
use super::publication;
use super::records::find_visible;
use super::report_cache::{self, Cached, ReportKey};
use super::reports::{
    AlertScope, NamedAuthorities, as_of_or_today, audience, period, report_action,
    report_authorities,
};
use crate::auth::Capability;
use crate::auth::policy::ReportView;
use crate::domain::flows::{self, PublishedFlows};
use crate::domain::published::Scope;
use crate::domain::scorecard::{self, ChildAlert, ChildAlertKind, PublishedPeriod, ScorecardChild};
use crate::domain::sufficiency::{self, SufficiencyRow, Unit, WaitingChild, WaitingHousehold};
use crate::domain::{AuditAction, Ethnicity, NeedLevel, Period, Role};
use crate::error::{AppError, AppResult};
use crate::store::{self, Page};

/// The authorities of an adoption report: those named, else the actor's own, else (board
/// analysts) the whole consortium.
fn scorecard_authorities(
    svc: &Service<'_>,
    named: Option<impl NamedAuthorities>,
) -> AppResult<Vec<i64>> {
    if named.is_none() {
        svc.actor()?
            .require_report_reader(Capability::ReadAdoptionReports)?;
    }
    report_authorities(svc, named, Capability::ReadAdoptionReports)
}

/// A run of the scorecard, its arguments checked and defaulted.
pub struct ScorecardRun {
    pub as_of: NaiveDate,
    pub period: Period,
    pub authorities: Vec<i64>,
    /// Which of the authorities the actor sees as they are (its own rows, known to it).
    pub known: Vec<bool>,
}

/// Checks the scorecard's arguments (the period defaults to the three years to the latest
/// 31 March), picks its authorities and which of them the actor knows.
pub fn scorecard_run(
    svc: &Service<'_>,
    as_of: Option<NaiveDate>,
    period: Option<(NaiveDate, NaiveDate)>,
    named: Option<impl NamedAuthorities>,
) -> AppResult<ScorecardRun> {
    let actor = svc.actor()?;
    let as_of = as_of_or_today(svc, as_of)?;
    let period = match period {
        Some((from, to)) => self::period(from, to, "period")?,
        None => Period::years_to_march(as_of, 3),
    };
    let authorities = scorecard_authorities(svc, named)?;
    let known = actor.report_known_rows(Capability::ReadAdoptionReports, &authorities)?;
    Ok(ScorecardRun {
        as_of,
        period,
        authorities,
        known,
    })
}

/// The children of the scorecard's authorities adopted in its period, by authority.
pub async fn scorecard_children(
    svc: &Service<'_>,
    run: &ScorecardRun,
) -> AppResult<BTreeMap<i64, Vec<ScorecardChild>>> {
    let actor = svc.actor()?;
    let children = store::reports::adopted_children(
        svc.db(),
        actor.consortium_id,
        &run.authorities,
        &run.period,
    )
    .await?;
    let mut by_authority: BTreeMap<i64, Vec<ScorecardChild>> = BTreeMap::new();
    for c in children {
        by_authority.entry(c.authority_id).or_default().push(c);
    }
    Ok(by_authority)
}

/// Audits a scorecard run.
pub fn audit_scorecard(svc: &Service<'_>, run: &ScorecardRun) {
    svc.audit(
        report_action(svc),
        "Scorecard",
        None,
        None,
        json!({ "from": run.period.from(), "to": run.period.to(), "asOf": run.as_of,
                "authorities": run.authorities.len(),
                "suppressed": run.known.iter().any(|k| !k) }),
    );
}

/// The adoption scorecard as published to the actor.
#[derive(Serialize, Deserialize)]
pub struct ScorecardReport {
    pub as_of: NaiveDate,
    /// The whole period (by default the three years to the latest 31 March).
    pub period: PublishedPeriod,
    /// The same window year by year (1 April to 31 March), when it is made of whole years.
    pub years: Vec<PublishedPeriod>,
}

/// The adoption scorecard: its arguments checked, its authorities picked with which of
/// them the actor knows, the figures computed (or found in the report cache) and
/// published, the run audited.
pub async fn scorecard(
    svc: &Service<'_>,
    as_of: Option<NaiveDate>,
    period: Option<(NaiveDate, NaiveDate)>,
    named: Option<impl NamedAuthorities>,
) -> AppResult<Cached<ScorecardReport>> {
    let actor = svc.actor()?;
    let mut run = scorecard_run(svc, as_of, period, named)?;
    if run.known.iter().any(|k| !k) {
        // Beyond the actor's own authorities: the publication answers.
        let (published, window) =
            publication::choose(svc, as_of, period, publication::scorecard_periods).await?;
        let scope = publication::scope(&published, &run.authorities)?;
        let knows = actor.authorities_with(Capability::ReadAdoptionReports);
        let (whole, years) = published.read_by(&knows).scorecard(&window, scope);
        run.as_of = published.quarter_end;
        run.period = window;
        audit_scorecard(svc, &run);
        return Ok(Cached::published(
            "scorecard",
            ScorecardReport {
                as_of: run.as_of,
                period: whole,
                years,
            },
        ));
    }
    // The key holds everything the result depends on besides the data.
    let key = ReportKey::new(
        "scorecard",
        actor.consortium_id,
        json!({ "from": run.period.from(), "to": run.period.to(), "asOf": run.as_of,
                "authorities": run.authorities, "known": run.known,
                "boardAnalyst": actor.has_consortium_role(Role::BoardAnalyst) }),
    );
    let report = report_cache::cached(svc, key, async {
        let by_authority = scorecard_children(svc, &run).await?;
        let (whole, years) =
            scorecard::publish(&run.authorities, &by_authority, &run.period, &run.known);
        Ok(ScorecardReport {
            as_of: run.as_of,
            period: whole,
            years,
        })
    })
    .await?;
    audit_scorecard(svc, &run);
    Ok(report)
}

/// A child past a tracking timescale.
pub struct TrackedAlert {
    pub alert: ChildAlert,
    pub child: child::Model,
    /// Days in care as of the date: the child's A1 figure were it placed that day.
    pub projected_a1_days: Option<i64>,
}

impl TrackedAlert {
    /// Whether the projected A1 figure is over A1's threshold.
    pub fn projected_over_threshold(&self) -> bool {
        self.projected_a1_days
            .is_some_and(|d| d > scorecard::A1_THRESHOLD_DAYS)
    }
}

/// One page of the tracking alerts, most overdue first, each child seen in full (and
/// audited as viewed), and how many there are in all.
pub async fn tracking_alerts(
    svc: &Service<'_>,
    scope: &AlertScope<ChildAlertKind>,
    page: Page,
) -> AppResult<(Vec<TrackedAlert>, u64)> {
    let actor = svc.actor()?;
    let as_of = scope.as_of;
    let rows =
        store::reports::unplaced_children(svc.db(), actor.consortium_id, &scope.authorities, as_of)
            .await?;
    let mut alerts: Vec<(i64, ChildAlert, Option<i64>)> = rows
        .iter()
        .flat_map(|r| {
            let tracked = r.tracked();
            let days = tracked.days_in_care(as_of);
            tracked
                .alerts(as_of)
                .into_iter()
                .map(move |a| (r.id, a, days))
        })
        .filter(|(_, a, _)| scope.kinds.as_ref().is_none_or(|k| k.contains(&a.kind)))
        .collect();
    alerts.sort_by_key(|(id, a, _)| (std::cmp::Reverse(a.days_overdue), *id, a.kind));
    let total = alerts.len() as u64;
    svc.audit(
        report_action(svc),
        "TrackingAlert",
        None,
        None,
        json!({ "asOf": as_of, "authorities": scope.authorities.len() }),
    );
    let mut items = Vec::new();
    for (id, alert, days) in alerts
        .into_iter()
        .skip(page.offset as usize)
        .take(page.limit as usize)
    {
        let child = find_visible::<child::Entity>(svc.db(), svc.actor()?, id).await?;
        svc.audit(
            AuditAction::View,
            "Child",
            Some(child.id),
            Some(child.authority_id),
            json!({ "via": "trackingAlerts" }),
        );
        items.push(TrackedAlert {
            alert,
            child,
            projected_a1_days: days,
        });
    }
    Ok((items, total))
}

/// The cross-boundary flows of a period, as published to the actor: between the
/// authorities of the report for a board analyst; for staff, every placement involving
/// one of the report's authorities, whoever the other authority is.
pub struct FlowsReport {
    pub period: Period,
    pub authorities: Vec<i64>,
    /// Whether disclosure control was applied.
    pub suppression_applied: bool,
    pub flows: PublishedFlows,
}

/// The cross-boundary flows of a period (audited).
///
/// The policy decides the view as for every board report. Restricted (a board analyst):
/// the matrix over the report's authorities, every figure under disclosure control.
/// Unrestricted (staff who read every authority of the report): every placement involving
/// one of them on either side, the other authority of such a pair identified only as far
/// as disclosure control allows unless the actor reads it in full as well; pairs and
/// totals of the other authorities alone are not shown ([`flows::publish_involving`]).
pub async fn cross_boundary_flows(
    svc: &Service<'_>,
    (from, to): (NaiveDate, NaiveDate),
    named: Option<impl NamedAuthorities>,
) -> AppResult<FlowsReport> {
    let actor = svc.actor()?;
    let period = self::period(from, to, "period")?;
    let authorities = scorecard_authorities(svc, named)?;
    let view = actor.report_view(Capability::ReadAdoptionReports, &authorities)?;
    let (flows, suppression_applied) = match view {
        ReportView::Restricted => {
            // The publication answers: the consortium's matrix of its quarter or year.
            let (published, _) =
                publication::choose(svc, None, Some((from, to)), publication::quarter_and_year)
                    .await?;
            if publication::scope(&published, &authorities)? != Scope::Consortium {
                return Err(AppError::bad_input(
                    "authorityIds",
                    "flows beyond your own authorities are published for the whole \
                     consortium: name all of its authorities, or none",
                ));
            }
            let knows = actor.authorities_with(Capability::ReadAdoptionReports);
            (published.read_by(&knows).flows(&period), true)
        }
        ReportView::Unrestricted => {
            let placements =
                store::reports::placements(svc.db(), actor.consortium_id, &period).await?;
            let directory = svc.state.directory.current();
            let consortium = directory
                .consortium_by_id(actor.consortium_id)
                .ok_or(AppError::NotFound)?;
            let others: Vec<i64> = consortium
                .authorities
                .iter()
                .map(|a| a.id)
                .filter(|a| !authorities.contains(a))
                .collect();
            let known: Vec<bool> = others
                .iter()
                .map(|a| actor.can(Capability::ReadAdoptionReports, *a))
                .collect();
            let flows = flows::publish_involving(&placements, &authorities, &others, &known);
            (flows, known.iter().any(|k| !k))
        }
    };
    svc.audit(
        report_action(svc),
        "CrossBoundaryFlows",
        None,
        None,
        json!({ "from": period.from(), "to": period.to(), "authorities": authorities.len(),
                "suppressed": suppression_applied }),
    );
    Ok(FlowsReport {
        period,
        authorities,
        suppression_applied,
        flows,
    })
}

/// A run of the sufficiency report, its arguments checked and defaulted.
pub struct SufficiencyRun {
    pub as_of: NaiveDate,
    pub authorities: Vec<i64>,
    pub view: ReportView,
}

/// Checks the arguments of the sufficiency report, picks its authorities and decides the
/// view.
pub fn sufficiency_run(
    svc: &Service<'_>,
    as_of: Option<NaiveDate>,
    named: Option<impl NamedAuthorities>,
) -> AppResult<SufficiencyRun> {
    let actor = svc.actor()?;
    let as_of = as_of_or_today(svc, as_of)?;
    let authorities = scorecard_authorities(svc, named)?;
    let view = actor.report_view(Capability::ReadAdoptionReports, &authorities)?;
    Ok(SufficiencyRun {
        as_of,
        authorities,
        view,
    })
}

/// Sufficiency by characteristic, as it is: waiting children in placement units (a
/// sibling group placed together is one unit) against approved households waiting.
pub async fn sufficiency_rows(
    svc: &Service<'_>,
    run: &SufficiencyRun,
) -> AppResult<Vec<SufficiencyRow>> {
    let actor = svc.actor()?;
    sufficiency_of(svc.db(), actor.consortium_id, &run.authorities, run.as_of).await
}

/// Sufficiency of some authorities of a consortium as of a date, as it is.
pub async fn sufficiency_of(
    db: &impl sea_orm::ConnectionTrait,
    consortium_id: i64,
    authorities: &[i64],
    as_of: NaiveDate,
) -> AppResult<Vec<SufficiencyRow>> {
    let children = store::reports::unplaced_children(db, consortium_id, authorities, as_of).await?;
    let waiting: Vec<_> = children
        .iter()
        .filter(|c| waiting_for_match(c, as_of))
        .collect();
    let group_ids: Vec<i64> = waiting.iter().filter_map(|c| c.sibling_group_id).collect();
    let together = store::reports::together_groups(db, group_ids).await?;
    let mut units: BTreeMap<(bool, i64), Unit> = BTreeMap::new();
    for c in waiting {
        let key = match c.sibling_group_id.filter(|g| together.contains(g)) {
            Some(group) => (true, group),
            None => (false, c.id),
        };
        let five = as_of
            .checked_sub_months(Months::new(60))
            .is_some_and(|d| c.date_of_birth <= d);
        units.entry(key).or_default().children.push(WaitingChild {
            aged_five_plus: five,
            ethnic_minority: Ethnicity::from_code(&c.ethnicity).is_some_and(|e| e.is_minority()),
            disability: NeedLevel::from_rank(c.need_disability) > NeedLevel::None,
        });
    }
    let households: Vec<WaitingHousehold> =
        store::reports::waiting_households(db, consortium_id, authorities, as_of)
            .await?
            .into_iter()
            .map(|h| WaitingHousehold {
                accepts_aged_five_plus: h.age_max_months >= 60,
                accepts_sibling_group: h.accepts_siblings && h.capacity >= 2,
                ethnic_minority: Ethnicity::from_code(&h.ethnicity)
                    .is_some_and(|e| e.is_minority()),
                accepts_disability: NeedLevel::from_rank(h.accepts_disability) > NeedLevel::None,
            })
            .collect();
    let units: Vec<Unit> = units.into_values().collect();
    Ok(sufficiency::sufficiency(&units, &households))
}

/// Audits a sufficiency run.
pub fn audit_sufficiency(svc: &Service<'_>, run: &SufficiencyRun) {
    svc.audit(
        report_action(svc),
        "Sufficiency",
        None,
        None,
        json!({ "asOf": run.as_of, "authorities": run.authorities.len(),
                "suppressed": run.view == ReportView::Restricted }),
    );
}

/// Sufficiency as of a date, as published to the actor.
#[derive(Serialize, Deserialize)]
pub struct SufficiencyReport {
    pub as_of: NaiveDate,
    pub authorities: Vec<i64>,
    /// Whether disclosure control was applied.
    pub suppression_applied: bool,
    pub rows: Vec<sufficiency::PublishedRow>,
}

/// The sufficiency report: its arguments checked, its authorities picked, the view
/// decided, the rows computed (or found in the report cache) and published, the run
/// audited.
pub async fn sufficiency(
    svc: &Service<'_>,
    as_of: Option<NaiveDate>,
    named: Option<impl NamedAuthorities>,
) -> AppResult<Cached<SufficiencyReport>> {
    let actor = svc.actor()?;
    let mut run = sufficiency_run(svc, as_of, named)?;
    if run.view == ReportView::Restricted {
        // The publication answers, as at its quarter end.
        let (published, _) =
            publication::choose(svc, as_of, None, publication::quarter_and_year).await?;
        let scope = publication::scope(&published, &run.authorities)?;
        let knows = actor.authorities_with(Capability::ReadAdoptionReports);
        run.as_of = published.quarter_end;
        audit_sufficiency(svc, &run);
        return Ok(Cached::published(
            "sufficiency",
            SufficiencyReport {
                as_of: run.as_of,
                authorities: run.authorities.clone(),
                suppression_applied: true,
                rows: published.read_by(&knows).sufficiency(scope),
            },
        ));
    }
    // The key holds everything the result depends on besides the data.
    let key = ReportKey::new(
        "sufficiency",
        actor.consortium_id,
        json!({ "asOf": run.as_of, "authorities": run.authorities,
                "restricted": run.view == ReportView::Restricted,
                "boardAnalyst": actor.has_consortium_role(Role::BoardAnalyst) }),
    );
    let report = report_cache::cached(svc, key, async {
        let rows = sufficiency_rows(svc, &run).await?;
        Ok(SufficiencyReport {
            as_of: run.as_of,
            authorities: run.authorities.clone(),
            suppression_applied: run.view == ReportView::Restricted,
            rows: sufficiency::publish(&rows, audience(run.view)),
        })
    })
    .await?;
    audit_sufficiency(svc, &run);
    Ok(report)
}

/// Whether a child not yet placed was waiting for a match as of the date
/// ([`MilestoneDates::is_waiting_on`](crate::domain::MilestoneDates::is_waiting_on)).
fn waiting_for_match(c: &store::reports::UnplacedRow, as_of: NaiveDate) -> bool {
    c.milestones().is_waiting_on(as_of)
}
