//! Board reports: the adoption scorecard, the child tracking list and sufficiency.
//!
//! The use cases are in [`crate::service::board`]: they check the arguments, pick the
//! authorities, let the policy decide the view, compute the figures by domain code over
//! compact rows and audit every run; this module decodes, caches and shapes the output
//! with disclosure control. Staff with the adoption reports capability (MANAGER,
//! DECISION_MAKER) see their own authorities as they are; everything about another
//! authority, and everything a board analyst sees, goes through disclosure control — with
//! the caller's own rows treated as known to them, so that no suppressed figure of another
//! authority can be worked out from a total.
use std::collections::BTreeMap;

use async_graphql::{Context, ID, Object, SimpleObject};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::connection::{Conn, connection, page};
use super::context::ContextExt;
use super::report_cache::{self, ReportKey, as_authority, as_graphql};
use super::reports::{
    PeriodInput, SuppressedCount, SuppressedNumber, audience, costed_authorities, days,
    named_authorities, report_cost,
};
use super::scalars::Date;
use super::types::{Authority, Child, authority};
use crate::auth::policy::ReportView;
use crate::domain::disclosure::{self, Audience, Shown};
use crate::domain::scorecard::{
    A1_THRESHOLD_DAYS, A2_THRESHOLD_DAYS, ChildAlertKind, MeanFigure, Scorecard, ScorecardChild,
    yearly_windows,
};
use crate::domain::sufficiency::Characteristic;
use crate::domain::{Period, Role, report_bounds};
use crate::error::AppResult;
use crate::service::board;

/// A mean number of days with its cohort and threshold.
#[derive(SimpleObject, Serialize, Deserialize)]
pub struct ScorecardMean {
    /// Mean days, rounded to the nearest day (halves up).
    pub days: SuppressedCount,
    pub cohort: SuppressedCount,
    pub threshold_days: i64,
    /// Whether the mean is within the threshold; null when the mean is not shown.
    pub met: Option<bool>,
}

/// A3: children placed within 426 days of entering care.
#[derive(SimpleObject, Serialize, Deserialize)]
pub struct ScorecardShare {
    pub count: SuppressedCount,
    pub percent: SuppressedNumber,
    pub cohort: SuppressedCount,
    pub threshold_days: i64,
}

/// The scorecard of one authority, or of all those asked for together (`authority` null).
#[derive(SimpleObject, Serialize, Deserialize)]
pub struct ScorecardFigures {
    #[serde(with = "as_authority")]
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
#[derive(SimpleObject, Serialize, Deserialize)]
pub struct ScorecardPeriod {
    #[serde(with = "as_graphql")]
    pub from: Date,
    #[serde(with = "as_graphql")]
    pub to: Date,
    pub total: ScorecardFigures,
    pub authorities: Vec<ScorecardFigures>,
}

/// The adoption scorecard.
#[derive(SimpleObject, Serialize, Deserialize)]
pub struct ScorecardReport {
    #[serde(with = "as_graphql")]
    pub as_of: Date,
    /// The whole period (by default the three years to the latest 31 March).
    pub period: ScorecardPeriod,
    /// The same window year by year (1 April to 31 March), when it is made of whole years.
    pub years: Vec<ScorecardPeriod>,
}

/// The scorecard figures of every authority, for each window of the report (the years, or
/// the period alone when it is not made of whole years).
struct ScorecardGrid {
    /// `[authority][window]`.
    cells: Vec<Vec<Scorecard>>,
}

/// The count measures of a scorecard, each suppressed as its own breakdown.
const COUNTS: [fn(&Scorecard) -> u64; 6] = [
    |s| s.cohort,
    |s| s.a1.cohort,
    |s| s.a10.cohort,
    |s| s.a2.cohort,
    |s| s.a3_within,
    |s| s.a3_cohort,
];

/// The mean measures.
const MEANS: [fn(&Scorecard) -> &MeanFigure; 3] = [|s| &s.a1, |s| &s.a10, |s| &s.a2];

/// One published figure set: per authority and in total, for the whole period and per
/// window.
struct Published<T> {
    authority_period: Vec<T>,
    total_period: T,
    authority_window: Vec<Vec<T>>,
    total_window: Vec<T>,
}

impl ScorecardGrid {
    /// Suppresses `table` (`[authority][window]`) as one breakdown whose row totals are the
    /// authorities' whole-period figures, whose column totals are the windows' totals, and
    /// whose grand total is the period's total: every additive relation a reader could
    /// subtract along is in the one grid, with the caller's own rows known to them.
    fn publish(table: &[Vec<u64>], known: &[bool]) -> Published<Shown<u64>> {
        let t = disclosure::suppress_table_known(table, known);
        let single = table.first().is_some_and(|r| r.len() == 1);
        Published {
            // With one window the period is that window: its cell and row total coincide.
            authority_period: if single {
                t.cells.iter().map(|r| r[0]).collect()
            } else {
                t.row_totals.clone()
            },
            total_period: if single {
                t.column_totals[0]
            } else {
                t.grand_total
            },
            authority_window: t.cells,
            total_window: t.column_totals,
        }
    }

    fn counts(&self, measure: fn(&Scorecard) -> u64, known: &[bool]) -> Published<Shown<u64>> {
        let table: Vec<Vec<u64>> = self
            .cells
            .iter()
            .map(|r| r.iter().map(measure).collect())
            .collect();
        Self::publish(&table, known)
    }

    /// Which means may be shown: a restricted mean over 10 cases or fewer is withheld, and
    /// more are withheld wherever a withheld mean could be worked back from the others
    /// through the case counts and day totals along a row or column. Each case count is
    /// mapped to 1 when it is 1–10 (so the table's "small" rule is the mean rule) and the
    /// grid's suppression then protects it like a count.
    fn means(
        &self,
        measure: fn(&Scorecard) -> &MeanFigure,
        known: &[bool],
    ) -> Published<Shown<i64>> {
        let small = |n: u64| if (1..=10).contains(&n) { 1 } else { n };
        let table: Vec<Vec<u64>> = self
            .cells
            .iter()
            .map(|r| r.iter().map(|s| small(measure(s).cohort)).collect())
            .collect();
        let pattern = Self::publish(&table, known);
        let sum = |figures: &mut dyn Iterator<Item = &Scorecard>| {
            figures.fold(MeanFigure::default(), |mut acc, s| {
                acc.cohort += measure(s).cohort;
                acc.total_days += measure(s).total_days;
                acc
            })
        };
        let show = |m: MeanFigure, shown: Shown<u64>| match m.mean_days() {
            None => Shown::absent(),
            Some(_) if shown.suppressed => Shown::withheld(),
            Some(days) => Shown::visible(days),
        };
        let windows = self.cells.first().map(Vec::len).unwrap_or(0);
        Published {
            authority_period: self
                .cells
                .iter()
                .zip(&pattern.authority_period)
                .map(|(row, p)| show(sum(&mut row.iter()), *p))
                .collect(),
            total_period: show(sum(&mut self.cells.iter().flatten()), pattern.total_period),
            authority_window: self
                .cells
                .iter()
                .zip(&pattern.authority_window)
                .map(|(row, p)| {
                    row.iter()
                        .zip(p)
                        .map(|(s, p)| show(*measure(s), *p))
                        .collect()
                })
                .collect(),
            total_window: (0..windows)
                .map(|w| {
                    show(
                        sum(&mut self.cells.iter().map(|r| &r[w])),
                        pattern.total_window[w],
                    )
                })
                .collect(),
        }
    }
}

/// Which figure of a published set: an authority or the total, the period or a window.
#[derive(Clone, Copy)]
enum At {
    Period(Option<usize>),
    Window(Option<usize>, usize),
}

fn pick<T: Copy>(p: &Published<T>, at: At) -> T {
    match at {
        At::Period(Some(a)) => p.authority_period[a],
        At::Period(None) => p.total_period,
        At::Window(Some(a), w) => p.authority_window[a][w],
        At::Window(None, w) => p.total_window[w],
    }
}

/// The scorecard report: the period, and the years when the period is made of them.
fn scorecard_report(
    ctx: &Context<'_>,
    authorities: &[i64],
    children: &BTreeMap<i64, Vec<ScorecardChild>>,
    period: &Period,
    known: &[bool],
) -> (ScorecardPeriod, Vec<ScorecardPeriod>) {
    let years = yearly_windows(period);
    let windows = if years.is_empty() {
        vec![*period]
    } else {
        years.clone()
    };
    let grid = ScorecardGrid {
        cells: authorities
            .iter()
            .map(|a| {
                windows
                    .iter()
                    .map(|w| Scorecard::of(children.get(a).into_iter().flatten(), w))
                    .collect()
            })
            .collect(),
    };
    let counts: Vec<Published<Shown<u64>>> =
        COUNTS.iter().map(|m| grid.counts(*m, known)).collect();
    let means: Vec<Published<Shown<i64>>> = MEANS.iter().map(|m| grid.means(*m, known)).collect();
    let figures = |authority: Option<usize>, at: At| -> ScorecardFigures {
        let c: Vec<Shown<u64>> = counts.iter().map(|p| pick(p, at)).collect();
        let m: Vec<Shown<i64>> = means.iter().map(|p| pick(p, at)).collect();
        let restricted = authority
            .map(|a| !known[a])
            .unwrap_or_else(|| known.iter().any(|k| !k));
        // A3's percentage is shown only with both its counts, and by the rate rule.
        let percent = disclosure::share_of_shown(
            c[4],
            c[5],
            if restricted {
                Audience::Restricted
            } else {
                Audience::Unrestricted
            },
        );
        ScorecardFigures {
            authority: authority.and_then(|a| self::authority(ctx, authorities[a])),
            suppression_applied: restricted,
            cohort: c[0].into(),
            a1: mean_figure(m[0], c[1], A1_THRESHOLD_DAYS),
            a10: mean_figure(m[1], c[2], A1_THRESHOLD_DAYS),
            a2: mean_figure(m[2], c[3], A2_THRESHOLD_DAYS),
            a3: ScorecardShare {
                count: c[4].into(),
                percent: percent.into(),
                cohort: c[5].into(),
                threshold_days: A1_THRESHOLD_DAYS,
            },
        }
    };
    let whole = ScorecardPeriod {
        from: period.from().into(),
        to: period.to().into(),
        total: figures(None, At::Period(None)),
        authorities: (0..authorities.len())
            .map(|a| figures(Some(a), At::Period(Some(a))))
            .collect(),
    };
    let by_year = years
        .iter()
        .enumerate()
        .map(|(w, y)| ScorecardPeriod {
            from: y.from().into(),
            to: y.to().into(),
            total: figures(None, At::Window(None, w)),
            authorities: (0..authorities.len())
                .map(|a| figures(Some(a), At::Window(Some(a), w)))
                .collect(),
        })
        .collect();
    (whole, by_year)
}

fn mean_figure(mean: Shown<i64>, cohort: Shown<u64>, threshold: i64) -> ScorecardMean {
    ScorecardMean {
        days: SuppressedCount {
            value: mean.value.map(|d| d.max(0) as u64),
            suppressed: mean.suppressed,
        },
        cohort: cohort.into(),
        threshold_days: threshold,
        met: mean.value.map(|d| d <= threshold),
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

/// One row of the sufficiency report.
#[derive(SimpleObject, Serialize, Deserialize)]
pub struct SufficiencyFigure {
    #[serde(with = "as_graphql")]
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
#[derive(SimpleObject, Serialize, Deserialize)]
pub struct SufficiencyReport {
    #[serde(with = "as_graphql")]
    pub as_of: Date,
    #[serde(with = "as_authority")]
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
    pub suppression_applied: bool,
    /// Every pair: the child's authority (row) by the household's authority (column).
    pub cells: Vec<FlowCell>,
    /// Children of each authority placed, wherever.
    pub by_child_authority: Vec<FlowTotal>,
    /// Children placed with each authority's households, whoever's they were.
    pub by_household_authority: Vec<FlowTotal>,
    pub total: FlowTotal,
    /// Children placed with another authority's household.
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
    /// The adoption scorecard (A1, A10, A2, A3) per authority and in total, over a period
    /// (default: the three years ending on the latest 31 March on or before `asOf`), and
    /// year by year. MANAGER and DECISION_MAKER see their own authorities as they are and
    /// others with disclosure control; BOARD_ANALYST sees every authority with it. The
    /// period is at most 10 years, dates in 1900–2199.
    #[graphql(complexity = "scorecard_cost(&period, &authority_ids, child_complexity)")]
    async fn scorecard(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
        period: Option<PeriodInput>,
        authority_ids: Option<Vec<ID>>,
    ) -> AppResult<ScorecardReport> {
        let svc = ctx.service();
        let actor = ctx.actor()?;
        let run = board::scorecard_run(
            &svc,
            as_of.map(|d| d.0),
            period.as_ref().map(days),
            named_authorities(&authority_ids),
        )?;
        // Report cache: the key holds everything the result depends on besides the data.
        let key = ReportKey::new(
            "scorecard",
            actor.consortium_id,
            json!({ "from": run.period.from(), "to": run.period.to(), "asOf": run.as_of,
                    "authorities": run.authorities, "known": run.known,
                    "boardAnalyst": actor.has_consortium_role(Role::BoardAnalyst) }),
        );
        let report = report_cache::cached(ctx, key, async {
            let by_authority = board::scorecard_children(&svc, &run).await?;
            let (whole, years) = scorecard_report(
                ctx,
                &run.authorities,
                &by_authority,
                &run.period,
                &run.known,
            );
            Ok(ScorecardReport {
                as_of: run.as_of.into(),
                period: whole,
                years,
            })
        })
        .await?;
        board::audit_scorecard(&svc, &run);
        Ok(report)
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
        let scope = board::tracking_scope(
            &svc,
            as_of.map(|d| d.0),
            kinds,
            named_authorities(&authority_ids),
        )?;
        let page = page(first, after)?;
        let (alerts, total) = board::tracking_alerts(&svc, &scope, page).await?;
        let items = alerts
            .into_iter()
            .map(|a| ChildTrackingAlert {
                kind: a.alert.kind,
                child: Child(a.child),
                since: a.alert.since.into(),
                days_overdue: a.alert.days_overdue,
                projected_a1_days: a.projected_a1_days,
                projected_over_threshold: a
                    .projected_a1_days
                    .is_some_and(|d| d > A1_THRESHOLD_DAYS),
            })
            .collect();
        Ok(connection(items, page, total))
    }

    /// Placements in a period as a matrix of the child's authority by the household's
    /// authority, with the cross-boundary share and inter-agency fees. Staff with the
    /// adoption reports capability in every authority asked for see it as it is; board
    /// analysts with disclosure control (a placement in a cell counts each child placed).
    /// The period is at most 10 years, dates in 1900–2199.
    #[graphql(complexity = "flows_cost(&authority_ids, child_complexity)")]
    async fn cross_boundary_flows(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        authority_ids: Option<Vec<ID>>,
    ) -> AppResult<CrossBoundaryFlows> {
        let svc = ctx.service();
        let flows =
            board::cross_boundary_flows(&svc, days(&period), named_authorities(&authority_ids))
                .await?;
        let (period, authorities, view, m) =
            (flows.period, flows.authorities, flows.view, flows.matrix);
        let audience = audience(view);
        let table: Vec<Vec<u64>> = m
            .iter()
            .map(|r| r.iter().map(|f| f.children).collect())
            .collect();
        let t = disclosure::suppress_table(&table, audience);
        let n = authorities.len();
        let name = |i: usize| authority(ctx, authorities[i]);
        let mut cells = Vec::with_capacity(n * n);
        for (r, row) in m.iter().enumerate() {
            for (c, flow) in row.iter().enumerate() {
                cells.push(FlowCell {
                    child_authority: name(r),
                    household_authority: name(c),
                    children: t.cells[r][c].into(),
                    fees_pence: fee(t.cells[r][c], flow.fees_pence),
                });
            }
        }
        let row_fees = |r: usize| m[r].iter().map(|f| f.fees_pence).sum::<u64>();
        let col_fees = |c: usize| m.iter().map(|row| row[c].fees_pence).sum::<u64>();
        let all_fees: u64 = (0..n).map(row_fees).sum();
        let total_children: u64 = table.iter().flatten().sum();
        let diagonal: u64 = (0..n).map(|i| table[i][i]).sum();
        let diagonal_fees: u64 = (0..n).map(|i| m[i][i].fees_pence).sum();
        // The cross-boundary figure is the total less the diagonal: shown only when every
        // figure it is made of is.
        let parts_shown = !t.grand_total.suppressed && (0..n).all(|i| !t.cells[i][i].suppressed);
        let cross = if parts_shown {
            Shown::visible(total_children - diagonal)
        } else {
            Shown::withheld()
        };
        let cross_percent = match cross.value {
            Some(x) => disclosure::rate(x, total_children, audience),
            None => Shown::withheld(),
        };
        Ok(CrossBoundaryFlows {
            from: period.from().into(),
            to: period.to().into(),
            suppression_applied: view == ReportView::Restricted,
            cells,
            by_child_authority: (0..n)
                .map(|r| FlowTotal {
                    authority: name(r),
                    children: t.row_totals[r].into(),
                    fees_pence: fee(t.row_totals[r], row_fees(r)),
                })
                .collect(),
            by_household_authority: (0..n)
                .map(|c| FlowTotal {
                    authority: name(c),
                    children: t.column_totals[c].into(),
                    fees_pence: fee(t.column_totals[c], col_fees(c)),
                })
                .collect(),
            total: FlowTotal {
                authority: None,
                children: t.grand_total.into(),
                fees_pence: fee(t.grand_total, all_fees),
            },
            cross_boundary_children: cross.into(),
            cross_boundary_percent: cross_percent.into(),
            cross_boundary_fees_pence: fee(cross, all_fees - diagonal_fees),
        })
    }

    /// Children waiting and placement units by characteristic (age 5+, sibling group,
    /// ethnic minority, disability) against approved households waiting that accept
    /// each, as of a date. Own authorities as they are (MANAGER, DECISION_MAKER); board
    /// analysts any authorities with disclosure control.
    async fn sufficiency(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
        authority_ids: Option<Vec<ID>>,
    ) -> AppResult<SufficiencyReport> {
        let svc = ctx.service();
        let actor = ctx.actor()?;
        let run =
            board::sufficiency_run(&svc, as_of.map(|d| d.0), named_authorities(&authority_ids))?;
        let audience = audience(run.view);
        // Report cache: the key holds everything the result depends on besides the data.
        let key = ReportKey::new(
            "sufficiency",
            actor.consortium_id,
            json!({ "asOf": run.as_of, "authorities": run.authorities,
                    "restricted": run.view == ReportView::Restricted,
                    "boardAnalyst": actor.has_consortium_role(Role::BoardAnalyst) }),
        );
        let report = report_cache::cached(ctx, key, async {
            let rows = board::sufficiency_rows(&svc, &run)
                .await?
                .into_iter()
                .map(|r| {
                    let units = disclosure::count(r.units, audience);
                    let households = disclosure::count(r.households, audience);
                    SufficiencyFigure {
                        characteristic: r.characteristic,
                        children: disclosure::count(r.children, audience).into(),
                        gap: (units.value.is_some() && households.value.is_some()).then(|| r.gap()),
                        units: units.into(),
                        households: households.into(),
                    }
                })
                .collect();
            Ok(SufficiencyReport {
                as_of: run.as_of.into(),
                authorities: run
                    .authorities
                    .iter()
                    .filter_map(|a| authority(ctx, *a))
                    .collect(),
                suppression_applied: run.view == ReportView::Restricted,
                rows,
            })
        })
        .await?;
        board::audit_sufficiency(&svc, &run);
        Ok(report)
    }
}

/// A fee shown only where the placements it belongs to are shown.
fn fee(children: Shown<u64>, fees: u64) -> SuppressedCount {
    if children.suppressed {
        Shown::<u64>::withheld().into()
    } else {
        Shown::visible(fees).into()
    }
}
