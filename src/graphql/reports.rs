//! Reports: the recruitment funnel and the adopter tracking alerts (board reports join
//! them here). The use cases are in [`crate::service::reports`]: they check the arguments,
//! pick the authorities, decide the view (as they are, or with disclosure control), compute
//! the figures by domain code from compact rows the store aggregates, publish them to the
//! caller (in `domain`), cache and audit every run; this module decodes the arguments and
//! maps the published reports to its objects.
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use chrono::NaiveDate;
use strum::IntoEnumIterator;

use super::connection::{Conn, connection, page};
use super::context::ContextExt;
use super::ids::{IdKind, decode};
use super::report_cache;
use super::scalars::Date;
use super::types::{Authority, authorities, authority};
use crate::domain::disclosure::{self, Shown};
use crate::domain::funnel::{AdopterAlertKind, FunnelGroupBy, PublishedGroup, Step};
use crate::domain::{EnquiryChannel, RecruitmentReason, Stage, report_bounds};
use crate::error::AppResult;
use crate::service::reports::{self, AlertKind, AlertScope, NamedAuthorities};
use crate::service::{Page, Service};

/// A count after disclosure control: `value` is null when `suppressed`.
#[derive(SimpleObject, Clone, Copy)]
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
#[derive(SimpleObject, Clone, Copy)]
pub struct SuppressedNumber {
    pub value: Option<f64>,
    pub suppressed: bool,
}

impl From<Shown<f64>> for SuppressedNumber {
    fn from(s: Shown<f64>) -> Self {
        let s = s.map(disclosure::one_decimal);
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
pub fn named_authorities(ids: &Option<Vec<ID>>) -> Option<impl NamedAuthorities + '_> {
    ids.as_ref().map(|ids| {
        ids.iter()
            .map(|id| decode(id, "authorityIds", &[IdKind::Authority]))
    })
}

/// The checked scope and the page of a list of tracking alerts, from the field's arguments.
pub fn alert_page<K: AlertKind>(
    svc: &Service<'_>,
    as_of: Option<Date>,
    kinds: Option<Vec<K>>,
    authority_ids: &Option<Vec<ID>>,
    first: Option<i32>,
    after: Option<String>,
) -> AppResult<(AlertScope<K>, Page)> {
    let named = named_authorities(authority_ids);
    let scope = reports::alert_scope(svc, as_of.map(|d| d.0), kinds, named)?;
    Ok((scope, page(first, after)?))
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

/// A stage and how many households reached it.
#[derive(SimpleObject)]
pub struct FunnelStageCount {
    pub stage: Stage,
    pub count: SuppressedCount,
}

/// A cohort stage: reached by `asOf`, and the conversion rates into it.
#[derive(SimpleObject)]
pub struct FunnelCohortStage {
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
#[derive(SimpleObject)]
pub struct FunnelExit {
    pub stage: Stage,
    pub reason: Option<RecruitmentReason>,
    pub count: SuppressedCount,
}

/// Households that left after reaching a stage (and no later one).
#[derive(SimpleObject)]
pub struct FunnelLeftAfter {
    pub stage: Stage,
    pub count: SuppressedCount,
}

/// Households whose enquiry is in the period, followed to `asOf`.
#[derive(SimpleObject)]
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
#[derive(SimpleObject)]
pub struct FunnelStep {
    pub step: Step,
    pub target_months: Option<u32>,
    pub count: SuppressedCount,
    pub mean_days: SuppressedNumber,
    pub median_days: SuppressedNumber,
    /// Percentage completed within the target (null where the step has no target).
    pub within_target: SuppressedNumber,
}

/// The figures of one group of the breakdown (or of the whole).
#[derive(SimpleObject)]
pub struct FunnelGroup {
    pub authority: Option<Authority>,
    pub channel: Option<EnquiryChannel>,
    /// `YYYY-MM` of the enquiry.
    pub enquiry_month: Option<String>,
    pub stage_counts: Vec<FunnelStageCount>,
    pub cohort: FunnelCohort,
    pub timeliness: Vec<FunnelStep>,
}

/// The recruitment funnel.
#[derive(SimpleObject)]
pub struct RecruitmentFunnel {
    pub from: Date,
    pub to: Date,
    pub as_of: Date,
    pub group_by: Vec<FunnelGroupBy>,
    pub authorities: Vec<Authority>,
    /// Whether disclosure control was applied (the actor is not a member of the
    /// authorities the figures are about).
    pub suppression_applied: bool,
    pub total: FunnelGroup,
    pub groups: Vec<FunnelGroup>,
}

/// A published funnel group as its GraphQL object.
fn funnel_group(ctx: &Context<'_>, g: PublishedGroup) -> FunnelGroup {
    let c = g.cohort;
    FunnelGroup {
        authority: g.authority.and_then(|a| authority(ctx, a)),
        channel: g.channel,
        enquiry_month: g.enquiry_month,
        stage_counts: g
            .stage_counts
            .into_iter()
            .map(|s| FunnelStageCount {
                stage: s.stage,
                count: s.count.into(),
            })
            .collect(),
        cohort: FunnelCohort {
            size: c.size.into(),
            fast_track: c.fast_track.into(),
            stages: c
                .stages
                .into_iter()
                .map(|s| FunnelCohortStage {
                    stage: s.stage,
                    reached: s.reached.into(),
                    eligible: s.eligible.into(),
                    from_previous: s.from_previous.into(),
                    from_enquiry: s.from_enquiry.into(),
                })
                .collect(),
            approved: c.approved.into(),
            left_before_approval: c.left_before_approval.into(),
            in_progress: c.in_progress.into(),
            on_hold: c.on_hold.into(),
            exits: c
                .exits
                .into_iter()
                .map(|e| FunnelExit {
                    stage: e.stage,
                    reason: e.reason,
                    count: e.count.into(),
                })
                .collect(),
            left_after: c
                .left_after
                .into_iter()
                .map(|l| FunnelLeftAfter {
                    stage: l.stage,
                    count: l.count.into(),
                })
                .collect(),
        },
        timeliness: g
            .timeliness
            .into_iter()
            .map(|t| FunnelStep {
                step: t.step,
                target_months: t.target_months,
                count: t.count.into(),
                mean_days: t.mean_days.into(),
                median_days: t.median_days.into(),
                within_target: t.within_target.into(),
            })
            .collect(),
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
    /// are; BOARD_ANALYST is served the consortium's quarterly publication under
    /// disclosure control: `asOf` a published quarter end (by default the latest offering
    /// the period), the period its quarter or financial year, one authority or all, in
    /// total, by AUTHORITY or by CHANNEL.
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
        let report = reports::funnel(
            &svc,
            days(&period),
            as_of.map(|d| d.0),
            named_authorities(&authority_ids),
            group_by,
        )
        .await?;
        let report = report_cache::note(ctx, report);
        Ok(RecruitmentFunnel {
            from: report.from.into(),
            to: report.to.into(),
            as_of: report.as_of.into(),
            group_by: report.group_by,
            authorities: authorities(ctx, &report.authorities),
            suppression_applied: report.suppression_applied,
            total: funnel_group(ctx, report.total),
            groups: report
                .groups
                .into_iter()
                .map(|g| funnel_group(ctx, g))
                .collect(),
        })
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
        let (scope, page) = alert_page(&svc, as_of, kinds, &authority_ids, first, after)?;
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
