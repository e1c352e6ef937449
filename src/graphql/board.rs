//! Board reports: the adoption scorecard, the child tracking list and sufficiency.
//!
//! The use cases are in [`crate::service::board`]: they check the arguments, pick the
//! authorities, let the policy decide the view, compute the figures by domain code over
//! compact rows, publish them with disclosure control (in `domain`), cache and audit
//! every run; this module decodes the arguments and maps the published reports to its
//! objects. Staff with the adoption reports capability (MANAGER,
//! DECISION_MAKER) see their own authorities as they are; everything about another
//! authority, and everything a board analyst sees, goes through disclosure control — with
//! the caller's own rows treated as known to them, so that no suppressed figure of another
//! authority can be worked out from a total.
use async_graphql::{Context, ID, Object, SimpleObject};

use super::connection::{Conn, connection};
use super::context::ContextExt;
use super::report_cache;
use super::reports::{
    PeriodInput, SuppressedCount, SuppressedNumber, alert_page, costed_authorities, days,
    named_authorities, report_cost,
};
use super::scalars::Date;
use super::types::{Authority, Child, authorities, authority};
use crate::domain::flows::PublishedTotal;
use crate::domain::report_bounds;
use crate::domain::scorecard::{
    ChildAlertKind, PublishedFigures, PublishedMean, PublishedPeriod, yearly_windows,
};
use crate::domain::sufficiency::Characteristic;
use crate::error::AppResult;
use crate::service::{board, publication};

/// A mean number of days with its cohort and threshold.
#[derive(SimpleObject)]
pub struct ScorecardMean {
    /// Mean days, rounded to the nearest day (halves up).
    pub days: SuppressedCount,
    pub cohort: SuppressedCount,
    pub threshold_days: i64,
    /// Whether the mean is within the threshold; null when the mean is not shown.
    pub met: Option<bool>,
}

/// A3: children placed within 426 days of entering care.
#[derive(SimpleObject)]
pub struct ScorecardShare {
    pub count: SuppressedCount,
    pub percent: SuppressedNumber,
    pub cohort: SuppressedCount,
    pub threshold_days: i64,
}

/// The scorecard of one authority, or of all those asked for together (`authority` null).
#[derive(SimpleObject)]
pub struct ScorecardFigures {
    pub authority: Option<Authority>,
    /// Whether disclosure control applies to these figures.
    pub suppression_applied: bool,
    /// Children adopted in the period.
    pub cohort: SuppressedCount,
    pub a1: ScorecardMean,
    pub a10: ScorecardMean,
    pub a2: ScorecardMean,
    pub a3: ScorecardShare,
}

/// The scorecard over one period.
#[derive(SimpleObject)]
pub struct ScorecardPeriod {
    pub from: Date,
    pub to: Date,
    pub total: ScorecardFigures,
    pub authorities: Vec<ScorecardFigures>,
}

/// The adoption scorecard.
#[derive(SimpleObject)]
pub struct ScorecardReport {
    pub as_of: Date,
    /// The whole period (by default the three years to the latest 31 March).
    pub period: ScorecardPeriod,
    /// The same window year by year (1 April to 31 March), when it is made of whole years.
    pub years: Vec<ScorecardPeriod>,
}

/// A published figure set as its GraphQL object.
fn figures(ctx: &Context<'_>, f: PublishedFigures) -> ScorecardFigures {
    let mean = |m: PublishedMean| ScorecardMean {
        days: m.days.into(),
        cohort: m.cohort.into(),
        threshold_days: m.threshold_days,
        met: m.met,
    };
    ScorecardFigures {
        authority: f.authority.and_then(|a| authority(ctx, a)),
        suppression_applied: f.suppression_applied,
        cohort: f.cohort.into(),
        a1: mean(f.a1),
        a10: mean(f.a10),
        a2: mean(f.a2),
        a3: ScorecardShare {
            count: f.a3.count.into(),
            percent: f.a3.percent.into(),
            cohort: f.a3.cohort.into(),
            threshold_days: f.a3.threshold_days,
        },
    }
}

/// A child past a tracking timescale.
#[derive(SimpleObject)]
pub struct ChildTrackingAlert {
    pub kind: ChildAlertKind,
    pub child: Child,
    pub since: Date,
    pub days_overdue: i64,
    /// Days in care as of the date: the child's A1 figure were they placed that day.
    pub projected_a1_days: Option<i64>,
    /// Whether that projection is over A1's threshold (426 days).
    pub projected_over_threshold: bool,
}

impl From<board::TrackedAlert> for ChildTrackingAlert {
    fn from(a: board::TrackedAlert) -> Self {
        ChildTrackingAlert {
            kind: a.alert.kind,
            projected_over_threshold: a.projected_over_threshold(),
            since: a.alert.since.into(),
            days_overdue: a.alert.days_overdue,
            projected_a1_days: a.projected_a1_days,
            child: Child(a.child),
        }
    }
}

/// One row of the sufficiency report.
#[derive(SimpleObject)]
pub struct SufficiencyFigure {
    pub characteristic: Characteristic,
    /// Waiting children in placement units with the characteristic.
    pub children: SuppressedCount,
    /// Placement units (a sibling group placed together counts once).
    pub units: SuppressedCount,
    /// Approved households waiting that accept it.
    pub households: SuppressedCount,
    /// Households less units; null when either is not shown.
    pub gap: Option<i64>,
}

/// Sufficiency as of a date.
#[derive(SimpleObject)]
pub struct SufficiencyReport {
    pub as_of: Date,
    pub authorities: Vec<Authority>,
    pub suppression_applied: bool,
    pub rows: Vec<SufficiencyFigure>,
}

/// Children placed (and fees) for one pair of authorities.
#[derive(SimpleObject)]
pub struct FlowCell {
    pub child_authority: Option<Authority>,
    pub household_authority: Option<Authority>,
    pub children: SuppressedCount,
    /// Inter-agency fees, in pence; withheld with the placements they belong to.
    pub fees_pence: SuppressedCount,
}

/// Children placed (and fees) in total for one authority, or for all.
#[derive(SimpleObject)]
pub struct FlowTotal {
    pub authority: Option<Authority>,
    pub children: SuppressedCount,
    pub fees_pence: SuppressedCount,
}

/// Placements in a period across authority boundaries.
#[derive(SimpleObject)]
pub struct CrossBoundaryFlows {
    pub from: Date,
    pub to: Date,
    /// Whether disclosure control applies to any figure of the report.
    pub suppression_applied: bool,
    /// Every pair shown: the child's authority (row) by the household's authority
    /// (column). For staff, every pair with an authority of the report on either side; for
    /// board analysts, every pair of the authorities of the report.
    pub cells: Vec<FlowCell>,
    /// Children of each authority of the report placed, wherever.
    pub by_child_authority: Vec<FlowTotal>,
    /// Children placed with the households of each authority of the report, whoever's
    /// they were.
    pub by_household_authority: Vec<FlowTotal>,
    /// Children placed in the pairs shown.
    pub total: FlowTotal,
    /// Children placed with another authority's household, in the pairs shown.
    pub cross_boundary_children: SuppressedCount,
    pub cross_boundary_percent: SuppressedNumber,
    pub cross_boundary_fees_pence: SuppressedCount,
}

/// The cost of `scorecard`: a figure set per authority and in total, for the period and for
/// each of its years (the default period has three). The selection counts four: `period`
/// and `years`, each with `total` and `authorities`.
fn scorecard_cost(
    period: &Option<PeriodInput>,
    authority_ids: &Option<Vec<ID>>,
    child_complexity: usize,
) -> usize {
    let years = match period {
        None => 3,
        Some(p) => report_bounds::report_period(p.from.0, p.to.0)
            .map(|p| yearly_windows(&p).len())
            .unwrap_or(0),
    };
    let rows = (years + 1).saturating_mul(costed_authorities(authority_ids) + 1);
    report_cost(rows, 4, child_complexity)
}

/// The cost of `crossBoundaryFlows`: a cell per pair of authorities, a total per authority
/// both ways and the grand total; the selection counts four (`cells`, the two totals lists,
/// `total`).
fn flows_cost(authority_ids: &Option<Vec<ID>>, child_complexity: usize) -> usize {
    let n = costed_authorities(authority_ids);
    report_cost((n + 1).saturating_mul(n + 1), 4, child_complexity)
}

/// Board report queries.
#[derive(Default)]
pub struct BoardQuery;

#[Object]
impl BoardQuery {
    /// The quarter ends the caller's consortium has published its figures at (its kept
    /// quarterly publications), the latest first: the dates a board analyst may ask the
    /// scorecard, funnel, flows and sufficiency as at. Empty until the first publication is
    /// made. Any authenticated caller of the consortium may ask (they are only dates).
    async fn published_quarter_ends(&self, ctx: &Context<'_>) -> AppResult<Vec<Date>> {
        let svc = ctx.service();
        let ends = publication::published_quarter_ends(&svc).await?;
        Ok(ends.into_iter().map(Date::from).collect())
    }

    /// The adoption scorecard (A1, A10, A2, A3) per authority and in total, over a period
    /// (default: the three years ending on the latest 31 March on or before `asOf`), and
    /// year by year. MANAGER and DECISION_MAKER see their own authorities as they are, for
    /// any period; asking for others as well (all of the consortium, or one other), they
    /// and BOARD_ANALYST are served the consortium's quarterly publication under disclosure
    /// control: `asOf` a published quarter end (by default the latest), the period its
    /// three-year window or one of its years, one authority or all (their own rows as they
    /// are). The period is at most 10 years, dates in 1900–2199.
    #[graphql(complexity = "scorecard_cost(&period, &authority_ids, child_complexity)")]
    async fn scorecard(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
        period: Option<PeriodInput>,
        authority_ids: Option<Vec<ID>>,
    ) -> AppResult<ScorecardReport> {
        let svc = ctx.service();
        let report = board::scorecard(
            &svc,
            as_of.map(|d| d.0),
            period.as_ref().map(days),
            named_authorities(&authority_ids),
        )
        .await?;
        let report = report_cache::note(ctx, report);
        let period = |p: PublishedPeriod| ScorecardPeriod {
            from: p.from.into(),
            to: p.to.into(),
            total: figures(ctx, p.total),
            authorities: p.authorities.into_iter().map(|f| figures(ctx, f)).collect(),
        };
        Ok(ScorecardReport {
            as_of: report.as_of.into(),
            period: period(report.period),
            years: report.years.into_iter().map(period).collect(),
        })
    }

    /// Children past a tracking timescale as of a date (placement order and no match
    /// after 90 and after 121 days, in care over 426 days and not placed, 18 months since
    /// entering care), most overdue first, each with its projected A1 were it placed that
    /// day. Own authorities only: these are children's records.
    #[graphql(complexity = "crate::graphql::limits::connection_cost(first, child_complexity)")]
    async fn tracking_alerts(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
        kinds: Option<Vec<ChildAlertKind>>,
        authority_ids: Option<Vec<ID>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<Conn<ChildTrackingAlert>> {
        let svc = ctx.service();
        let (scope, page) = alert_page(&svc, as_of, kinds, &authority_ids, first, after)?;
        let (alerts, total) = board::tracking_alerts(&svc, &scope, page).await?;
        let items = alerts.into_iter().map(ChildTrackingAlert::from).collect();
        Ok(connection(items, page, total))
    }

    /// Placements in a period as a matrix of the child's authority by the household's
    /// authority, with the cross-boundary share and inter-agency fees (a placement in a
    /// cell counts each child placed). Staff with the adoption reports capability in every
    /// authority asked for (by default their own) see every placement involving those
    /// authorities on either side — children they placed anywhere, children their
    /// households took from anywhere: their own figures as they are, each pair with
    /// another authority with disclosure control (unless they read that one too); pairs
    /// between other authorities and other authorities' totals are not shown. Board
    /// analysts are served the whole consortium's matrix from its quarterly publication,
    /// under disclosure control: the period a published quarter or financial year. The
    /// period is at most 10 years, dates in 1900–2199.
    #[graphql(complexity = "flows_cost(&authority_ids, child_complexity)")]
    async fn cross_boundary_flows(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        authority_ids: Option<Vec<ID>>,
    ) -> AppResult<CrossBoundaryFlows> {
        let svc = ctx.service();
        let report =
            board::cross_boundary_flows(&svc, days(&period), named_authorities(&authority_ids))
                .await?;
        let f = report.flows;
        let name = |id: Option<i64>| id.and_then(|a| authority(ctx, a));
        let total = |t: PublishedTotal| FlowTotal {
            authority: name(t.authority),
            children: t.children.into(),
            fees_pence: t.fees_pence.into(),
        };
        Ok(CrossBoundaryFlows {
            from: report.period.from().into(),
            to: report.period.to().into(),
            suppression_applied: report.suppression_applied,
            cells: f
                .cells
                .iter()
                .map(|c| FlowCell {
                    child_authority: name(Some(c.child_authority)),
                    household_authority: name(Some(c.household_authority)),
                    children: c.children.into(),
                    fees_pence: c.fees_pence.into(),
                })
                .collect(),
            by_child_authority: f.by_child_authority.into_iter().map(total).collect(),
            by_household_authority: f.by_household_authority.into_iter().map(total).collect(),
            total: total(f.total),
            cross_boundary_children: f.cross_boundary_children.into(),
            cross_boundary_percent: f.cross_boundary_percent.into(),
            cross_boundary_fees_pence: f.cross_boundary_fees_pence.into(),
        })
    }

    /// Children waiting and placement units by characteristic (age 5+, sibling group,
    /// ethnic minority, disability) against approved households waiting that accept
    /// each, as of a date. Own authorities as they are (MANAGER, DECISION_MAKER); board
    /// analysts are served the consortium's quarterly publication under disclosure control:
    /// `asOf` a published quarter end (by default the latest), one authority or all.
    async fn sufficiency(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
        authority_ids: Option<Vec<ID>>,
    ) -> AppResult<SufficiencyReport> {
        let svc = ctx.service();
        let report =
            board::sufficiency(&svc, as_of.map(|d| d.0), named_authorities(&authority_ids)).await?;
        let report = report_cache::note(ctx, report);
        Ok(SufficiencyReport {
            as_of: report.as_of.into(),
            authorities: authorities(ctx, &report.authorities),
            suppression_applied: report.suppression_applied,
            rows: report
                .rows
                .into_iter()
                .map(|r| SufficiencyFigure {
                    characteristic: r.characteristic,
                    children: r.children.into(),
                    units: r.units.into(),
                    households: r.households.into(),
                    gap: r.gap,
                })
                .collect(),
        })
    }
}
