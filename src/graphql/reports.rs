//! Reports: the recruitment funnel and the adopter tracking alerts (board reports join
//! them here). The use cases are in [`crate::service::reports`]: they check the arguments,
//! pick the authorities, decide the view (as they are, or with disclosure control), compute
//! the figures by domain code from compact rows the store aggregates, and audit every run;
//! this module decodes the arguments, caches the results and shapes the output, with
//! disclosure control.
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::json;
use strum::IntoEnumIterator;

use super::connection::{Conn, connection, page};
use super::context::ContextExt;
use super::ids::{IdKind, decode};
use super::report_cache::{self, ReportKey, as_authority, as_graphql};
use super::scalars::Date;
use super::types::{Authority, authority};
use crate::auth::policy::ReportView;
use crate::domain::disclosure::{self, Audience, Shown};
use crate::domain::funnel::{
    AdopterAlertKind, FUNNEL_STAGES, FunnelFigures, FunnelGroupBy, GroupKey, Step,
};
use crate::domain::{EnquiryChannel, RecruitmentReason, Role, Stage, report_bounds};
use crate::error::AppResult;
use crate::service::reports;

/// A count after disclosure control: `value` is null when `suppressed`.
#[derive(SimpleObject, Clone, Copy, Serialize, Deserialize)]
pub struct SuppressedCount {
    pub value: Option<u64>,
    pub suppressed: bool,
}

impl From<Shown<u64>> for SuppressedCount {
    fn from(s: Shown<u64>) -> Self {
        SuppressedCount {
            value: s.value,
            suppressed: s.suppressed,
        }
    }
}

/// A percentage, mean or median after disclosure control, rounded to one decimal place;
/// null when `suppressed` (or when there is nothing to compute it over).
#[derive(SimpleObject, Clone, Copy, Serialize, Deserialize)]
pub struct SuppressedNumber {
    pub value: Option<f64>,
    pub suppressed: bool,
}

impl From<Shown<f64>> for SuppressedNumber {
    fn from(s: Shown<f64>) -> Self {
        let s = s.map(|v| (v * 10.0).round() / 10.0);
        SuppressedNumber {
            value: s.value,
            suppressed: s.suppressed,
        }
    }
}

/// A period, both days included.
#[derive(InputObject, Clone, Copy)]
pub struct PeriodInput {
    pub from: Date,
    pub to: Date,
}

/// The period input's days, for the report services to check.
pub fn days(input: &PeriodInput) -> (NaiveDate, NaiveDate) {
    (input.from.0, input.to.0)
}

/// The `authorityIds` of a report, each decoded when the service reads it (so that the
/// checks run in their order: how many, then each id, then whether it is of the
/// consortium).
pub fn named_authorities(
    ids: &Option<Vec<ID>>,
) -> Option<impl ExactSizeIterator<Item = AppResult<i64>> + '_> {
    ids.as_ref().map(|ids| {
        ids.iter()
            .map(|id| decode(id, "authorityIds", &[IdKind::Authority]))
    })
}

/// The cost of a report field (its `complexity`): `child_complexity` counts each figure set
/// the selection names once — `counted` of them — while the report answers with up to
/// `rows`, so it is scaled by `rows / counted` (rounded up, at least 1), plus 1 for the field.
pub fn report_cost(rows: usize, counted: usize, child_complexity: usize) -> usize {
    rows.div_ceil(counted.max(1))
        .max(1)
        .saturating_mul(child_complexity)
        .saturating_add(1)
}

/// The authorities a report's cost is reckoned over: the named ones (refused above
/// [`report_bounds::MAX_REPORT_AUTHORITIES`], so then 1), or, when none are named,
/// [`COSTED_UNNAMED_AUTHORITIES`].
pub fn costed_authorities(named: &Option<Vec<ID>>) -> usize {
    match named {
        Some(ids) if ids.len() > report_bounds::MAX_REPORT_AUTHORITIES => 1,
        Some(ids) => ids.len().max(1),
        None => COSTED_UNNAMED_AUTHORITIES,
    }
}

/// How many authorities a report naming none is costed as. The complexity is reckoned
/// before the actor and the consortium are read, and the default is the actor's own
/// authorities — one for most staff — or, for a board analyst, the consortium, which
/// operators configure with a handful of members. The bounds on periods, not this, are what
/// keep a report small.
pub const COSTED_UNNAMED_AUTHORITIES: usize = 1;

/// The cost of `recruitmentFunnel`: the total and one group per combination of the
/// breakdown — authorities, the six channels, the calendar months of the period — at most.
pub fn funnel_cost(
    period: &PeriodInput,
    authority_ids: &Option<Vec<ID>>,
    group_by: &[FunnelGroupBy],
    child_complexity: usize,
) -> usize {
    let mut groups = 1usize;
    let mut distinct = group_by.to_vec();
    distinct.sort_by_key(|g| *g as u8);
    distinct.dedup();
    for g in distinct {
        groups = groups.saturating_mul(match g {
            FunnelGroupBy::Authority => costed_authorities(authority_ids),
            FunnelGroupBy::Channel => EnquiryChannel::iter().count(),
            FunnelGroupBy::EnquiryMonth => report_bounds::report_period(period.from.0, period.to.0)
                .map(|p| report_bounds::calendar_months(&p) as usize)
                .unwrap_or(1),
        });
    }
    // `total` and `groups` are each counted once in `child_complexity`.
    report_cost(groups.saturating_add(1), 2, child_complexity)
}

/// The audience of a report's figures in the view the policy gives.
pub fn audience(view: ReportView) -> Audience {
    match view {
        ReportView::Unrestricted => Audience::Unrestricted,
        ReportView::Restricted => Audience::Restricted,
    }
}

/// A stage and how many households reached it.
#[derive(SimpleObject, Serialize, Deserialize)]
pub struct FunnelStageCount {
    #[serde(with = "as_graphql")]
    pub stage: Stage,
    pub count: SuppressedCount,
}

/// A cohort stage: reached by `asOf`, and the conversion rates into it.
#[derive(SimpleObject, Serialize, Deserialize)]
pub struct FunnelCohortStage {
    #[serde(with = "as_graphql")]
    pub stage: Stage,
    pub reached: SuppressedCount,
    /// The population the stage could be reached from (see the README's funnel section).
    pub eligible: SuppressedCount,
    /// Percentage of `eligible` that reached the stage.
    pub from_previous: SuppressedNumber,
    /// Percentage of the cohort that reached the stage.
    pub from_enquiry: SuppressedNumber,
}

/// Households that left, by exit and reason.
#[derive(SimpleObject, Serialize, Deserialize)]
pub struct FunnelExit {
    #[serde(with = "as_graphql")]
    pub stage: Stage,
    #[serde(with = "as_graphql")]
    pub reason: Option<RecruitmentReason>,
    pub count: SuppressedCount,
}

/// Households that left after reaching a stage (and no later one).
#[derive(SimpleObject, Serialize, Deserialize)]
pub struct FunnelLeftAfter {
    #[serde(with = "as_graphql")]
    pub stage: Stage,
    pub count: SuppressedCount,
}

/// Households whose enquiry is in the period, followed to `asOf`.
#[derive(SimpleObject, Serialize, Deserialize)]
pub struct FunnelCohort {
    pub size: SuppressedCount,
    pub fast_track: SuppressedCount,
    pub stages: Vec<FunnelCohortStage>,
    pub approved: SuppressedCount,
    pub left_before_approval: SuppressedCount,
    pub in_progress: SuppressedCount,
    pub on_hold: SuppressedCount,
    pub exits: Vec<FunnelExit>,
    pub left_after: Vec<FunnelLeftAfter>,
}

/// How long a step took, for steps completed in the period.
#[derive(SimpleObject, Serialize, Deserialize)]
pub struct FunnelStep {
    #[serde(with = "as_graphql")]
    pub step: Step,
    pub target_months: Option<u32>,
    pub count: SuppressedCount,
    pub mean_days: SuppressedNumber,
    pub median_days: SuppressedNumber,
    /// Percentage completed within the target (null where the step has no target).
    pub within_target: SuppressedNumber,
}

/// The figures of one group of the breakdown (or of the whole).
#[derive(SimpleObject, Serialize, Deserialize)]
pub struct FunnelGroup {
    #[serde(with = "as_authority")]
    pub authority: Option<Authority>,
    #[serde(with = "as_graphql")]
    pub channel: Option<EnquiryChannel>,
    /// `YYYY-MM` of the enquiry.
    pub enquiry_month: Option<String>,
    pub stage_counts: Vec<FunnelStageCount>,
    pub cohort: FunnelCohort,
    pub timeliness: Vec<FunnelStep>,
}

/// The recruitment funnel.
#[derive(SimpleObject, Serialize, Deserialize)]
pub struct RecruitmentFunnel {
    #[serde(with = "as_graphql")]
    pub from: Date,
    #[serde(with = "as_graphql")]
    pub to: Date,
    #[serde(with = "as_graphql")]
    pub as_of: Date,
    #[serde(with = "as_graphql")]
    pub group_by: Vec<FunnelGroupBy>,
    #[serde(with = "as_authority")]
    pub authorities: Vec<Authority>,
    /// Whether disclosure control was applied (the actor is not a member of the
    /// authorities the figures are about).
    pub suppression_applied: bool,
    pub total: FunnelGroup,
    pub groups: Vec<FunnelGroup>,
}

const EXIT_STAGES: [Stage; 2] = [Stage::Withdrawn, Stage::EndedByAgency];

/// Counts of several groups and their total, suppressed as one breakdown: the groups are
/// the rows, the figures the columns, and the total row holds the column totals.
struct Breakdown {
    rows: Vec<Vec<Shown<u64>>>,
    total: Vec<Shown<u64>>,
}

fn breakdown(rows: &[Vec<u64>], total: &[u64], audience: Audience) -> Breakdown {
    if rows.is_empty() {
        let table = disclosure::suppress_table(&[total.to_vec()], audience);
        return Breakdown {
            rows: Vec::new(),
            total: table.cells.into_iter().next().unwrap_or_default(),
        };
    }
    let table = disclosure::suppress_table(rows, audience);
    Breakdown {
        rows: table.cells,
        total: table.column_totals,
    }
}

/// The counts of a funnel group, in a fixed column order shared by all groups.
struct Columns {
    exits: Vec<(Stage, Option<RecruitmentReason>)>,
    left_after: Vec<Stage>,
}

impl Columns {
    fn of(figures: &[&FunnelFigures]) -> Columns {
        let mut exits: Vec<_> = figures
            .iter()
            .flat_map(|f| f.exits.keys().copied())
            .collect();
        exits.sort();
        exits.dedup();
        let mut left_after: Vec<_> = figures
            .iter()
            .flat_map(|f| f.left_after.keys().copied())
            .collect();
        left_after.sort();
        left_after.dedup();
        Columns { exits, left_after }
    }

    /// Every count of `f`, in column order.
    fn counts(&self, f: &FunnelFigures) -> Vec<u64> {
        let mut v = Vec::new();
        for stage in FUNNEL_STAGES.iter().chain(EXIT_STAGES.iter()) {
            v.push(f.stage_counts.get(stage).copied().unwrap_or(0));
        }
        v.extend(f.cohort_stages.iter().map(|s| s.reached));
        v.extend([
            f.cohort_size,
            f.fast_track,
            f.approved,
            f.left_before_approval,
            f.in_progress,
            f.on_hold,
        ]);
        v.extend(
            self.exits
                .iter()
                .map(|k| f.exits.get(k).copied().unwrap_or(0)),
        );
        v.extend(
            self.left_after
                .iter()
                .map(|k| f.left_after.get(k).copied().unwrap_or(0)),
        );
        v.extend(
            Step::ALL
                .iter()
                .map(|s| f.steps.get(s).map(|x| x.count()).unwrap_or(0)),
        );
        v
    }

    fn group(
        &self,
        ctx: &Context<'_>,
        key: Option<&GroupKey>,
        f: &FunnelFigures,
        counts: &[Shown<u64>],
        audience: Audience,
    ) -> FunnelGroup {
        let mut next = counts.iter().copied();
        let mut take = || SuppressedCount::from(next.next().unwrap_or_else(Shown::absent));
        let stage_counts = FUNNEL_STAGES
            .iter()
            .chain(EXIT_STAGES.iter())
            .map(|stage| FunnelStageCount {
                stage: *stage,
                count: take(),
            })
            .collect();
        let reached: Vec<SuppressedCount> = FUNNEL_STAGES.iter().map(|_| take()).collect();
        let [
            size,
            fast_track,
            approved,
            left_before_approval,
            in_progress,
            on_hold,
        ] = std::array::from_fn(|_| take());
        // `eligible` and the rates are derived from counts of the suppressed breakdown, so
        // they are withheld wherever a count they are made of is: a figure withheld next to
        // a small one must not show through a population or a percentage.
        let derived = |parts: &[SuppressedCount], value: u64| {
            if parts.iter().any(|p| p.suppressed) {
                SuppressedCount {
                    value: None,
                    suppressed: true,
                }
            } else {
                SuppressedCount {
                    value: Some(value),
                    suppressed: false,
                }
            }
        };
        let at = |stage: Stage| FUNNEL_STAGES.iter().position(|s| *s == stage).unwrap_or(0);
        let rate = |reached: SuppressedCount,
                    of: SuppressedCount,
                    numerator: u64,
                    denominator: u64|
         -> SuppressedNumber {
            if (reached.suppressed || of.suppressed) && denominator > 0 {
                Shown::<f64>::withheld().into()
            } else {
                disclosure::rate(numerator, denominator, audience).into()
            }
        };
        let stages = FUNNEL_STAGES
            .iter()
            .enumerate()
            .zip(f.cohort_stages.iter())
            .map(|((i, stage), raw)| {
                let eligible = match stage {
                    Stage::Enquiry | Stage::InformationEvent => size,
                    Stage::StageOneStarted => derived(&[size, fast_track], raw.eligible),
                    Stage::StageOneCompleted => reached[at(Stage::StageOneStarted)],
                    Stage::StageTwoStarted => derived(
                        &[reached[at(Stage::StageOneCompleted)], fast_track],
                        raw.eligible,
                    ),
                    _ => reached[i - 1],
                };
                FunnelCohortStage {
                    stage: *stage,
                    reached: reached[i],
                    eligible,
                    from_previous: rate(reached[i], eligible, raw.reached, raw.eligible),
                    from_enquiry: rate(reached[i], size, raw.reached, f.cohort_size),
                }
            })
            .collect();
        let exits = self
            .exits
            .iter()
            .map(|(stage, reason)| FunnelExit {
                stage: *stage,
                reason: *reason,
                count: take(),
            })
            .collect();
        let left_after = self
            .left_after
            .iter()
            .map(|stage| FunnelLeftAfter {
                stage: *stage,
                count: take(),
            })
            .collect();
        let timeliness = Step::ALL
            .iter()
            .map(|step| {
                let count = take();
                let figures = f.steps.get(step).cloned().unwrap_or_default();
                let n = figures.count();
                // Nothing about a step whose count is withheld.
                let hide = count.suppressed && n > 0;
                FunnelStep {
                    step: *step,
                    target_months: step.target_months(),
                    count,
                    mean_days: match figures.mean() {
                        Some(_) if hide => Shown::withheld(),
                        Some(m) => disclosure::mean(n, m, audience),
                        None => Shown::absent(),
                    }
                    .into(),
                    median_days: match figures.median() {
                        Some(_) if hide => Shown::withheld(),
                        Some(m) => disclosure::median(n, m, audience),
                        None => Shown::absent(),
                    }
                    .into(),
                    within_target: match step.target_months() {
                        Some(_) if hide => Shown::withheld(),
                        Some(_) => disclosure::rate(figures.within_target, n, audience),
                        None => Shown::absent(),
                    }
                    .into(),
                }
            })
            .collect();
        FunnelGroup {
            authority: key
                .and_then(|k| k.authority_id)
                .and_then(|a| authority(ctx, a)),
            channel: key.and_then(|k| k.channel),
            enquiry_month: key
                .and_then(|k| k.enquiry_month)
                .map(|(y, m)| format!("{y:04}-{m:02}")),
            stage_counts,
            cohort: FunnelCohort {
                size,
                fast_track,
                stages,
                approved,
                left_before_approval,
                in_progress,
                on_hold,
                exits,
                left_after,
            },
            timeliness,
        }
    }
}

/// A household past a recruitment timescale.
#[derive(SimpleObject)]
pub struct AdopterAlert {
    pub kind: AdopterAlertKind,
    pub household: super::types::Household,
    pub since: Date,
    pub days_overdue: i64,
    pub on_hold: bool,
}

/// Report queries.
#[derive(Default)]
pub struct ReportQuery;

#[Object]
impl ReportQuery {
    /// The recruitment funnel over a period: stage counts, cohort conversion and
    /// timeliness, in total and by authority, channel or month of enquiry.
    /// RECRUITMENT_OFFICER, DECISION_MAKER and MANAGER see their own authorities as they
    /// are; BOARD_ANALYST sees any authorities of the consortium with disclosure control.
    /// The period is at most 10 years (60 calendar months with `ENQUIRY_MONTH`), dates in
    /// 1900–2199; `groupBy` names each breakdown once.
    #[graphql(complexity = "funnel_cost(&period, &authority_ids, &group_by, child_complexity)")]
    async fn recruitment_funnel(
        &self,
        ctx: &Context<'_>,
        period: PeriodInput,
        as_of: Option<Date>,
        authority_ids: Option<Vec<ID>>,
        #[graphql(default)] group_by: Vec<FunnelGroupBy>,
    ) -> AppResult<RecruitmentFunnel> {
        let svc = ctx.service();
        let actor = ctx.actor()?;
        let run = reports::funnel_run(
            &svc,
            days(&period),
            as_of.map(|d| d.0),
            named_authorities(&authority_ids),
            group_by,
        )?;
        let audience = audience(run.view);
        // Report cache: the key holds everything the result depends on besides the data.
        let key = ReportKey::new(
            "recruitmentFunnel",
            actor.consortium_id,
            json!({ "from": run.period.from(), "to": run.period.to(), "asOf": run.as_of,
                    "authorities": run.authorities, "groupBy": run.grouping(),
                    "restricted": run.view == ReportView::Restricted,
                    "boardAnalyst": actor.has_consortium_role(Role::BoardAnalyst) }),
        );
        let report = report_cache::cached(ctx, key, async {
            let (groups, total) = reports::funnel_figures(&svc, &run).await?;
            let all: Vec<&FunnelFigures> = groups.values().chain(std::iter::once(&total)).collect();
            let columns = Columns::of(&all);
            let rows: Vec<Vec<u64>> = groups.values().map(|f| columns.counts(f)).collect();
            let suppressed = breakdown(&rows, &columns.counts(&total), audience);
            let group_views = groups
                .iter()
                .zip(suppressed.rows.iter())
                .map(|((key, f), counts)| columns.group(ctx, Some(key), f, counts, audience))
                .collect();
            Ok(RecruitmentFunnel {
                from: run.period.from().into(),
                to: run.period.to().into(),
                as_of: run.as_of.into(),
                group_by: run.group_by.clone(),
                authorities: run
                    .authorities
                    .iter()
                    .filter_map(|a| authority(ctx, *a))
                    .collect(),
                suppression_applied: run.view == ReportView::Restricted,
                total: columns.group(ctx, None, &total, &suppressed.total, audience),
                groups: group_views,
            })
        })
        .await?;
        reports::audit_funnel(&svc, &run);
        Ok(report)
    }

    /// Households past a recruitment timescale as of a date (Stage One over 2 months, over
    /// 6 months between the stages, Stage Two over 4 months, approved and unmatched over 3
    /// months), most overdue first. Own authorities only (RECRUITMENT_OFFICER,
    /// DECISION_MAKER, MANAGER): these are records, never shown to others.
    #[graphql(complexity = "crate::graphql::limits::connection_cost(first, child_complexity)")]
    async fn adopter_alerts(
        &self,
        ctx: &Context<'_>,
        as_of: Option<Date>,
        kinds: Option<Vec<AdopterAlertKind>>,
        authority_ids: Option<Vec<ID>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> AppResult<Conn<AdopterAlert>> {
        let svc = ctx.service();
        let scope = reports::adopter_alert_scope(
            &svc,
            as_of.map(|d| d.0),
            kinds,
            named_authorities(&authority_ids),
        )?;
        let page = page(first, after)?;
        let (alerts, total) = reports::adopter_alerts(&svc, &scope, page).await?;
        let items = alerts
            .into_iter()
            .map(|(a, h)| AdopterAlert {
                kind: a.kind,
                household: super::types::Household(h),
                since: a.since.into(),
                days_overdue: a.days_overdue,
                on_hold: a.on_hold,
            })
            .collect();
        Ok(connection(items, page, total))
    }
}
