//! Reports: scorecard, funnel, flows, sufficiency, tracking, for the audiences the policy
//! admits.
//!
//! This module holds the recruitment reports — the funnel (published with disclosure
//! control by `domain::funnel::publish`, through the report cache) and the adopter tracking
//! alerts — and what every report shares: the checks on its dates, the authorities it covers and
//! the audit action of a run. The board's reports are in [`super::board`].
use std::collections::BTreeMap;

use chrono::NaiveDate;
use entity::household;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Service;
use super::report_cache::{self, Cached, ReportKey};
use crate::auth::Capability;
use crate::auth::policy::ReportView;
use crate::domain::codes::as_graphql;
use crate::domain::disclosure::Audience;
use crate::domain::funnel::{
    self, AdopterAlert, AdopterAlertKind, FunnelFigures, FunnelGroupBy, GroupKey, PublishedGroup,
};
use crate::domain::published::{FunnelBreakdown, Scope};
use crate::domain::scorecard::ChildAlertKind;
use crate::domain::{AuditAction, Period, Role, report_bounds};
use crate::error::{AppError, AppResult};
use crate::store::recruitment::JourneyScope;
use crate::store::{self, Page};

/// The audit action of a report run: `EXPORT` when it feeds a CSV export, else `SEARCH`.
pub fn report_action(svc: &Service<'_>) -> AuditAction {
    if svc.request.export {
        AuditAction::Export
    } else {
        AuditAction::Search
    }
}

/// The audience of a report's figures in the view the policy gives.
pub fn audience(view: ReportView) -> Audience {
    match view {
        ReportView::Unrestricted => Audience::Unrestricted,
        ReportView::Restricted => Audience::Restricted,
    }
}

/// Checks a period against the report bounds (`domain::report_bounds`): a refusal names
/// `field`, or `field.from` / `field.to` when one day is out of range.
pub fn period(from: NaiveDate, to: NaiveDate, field: &str) -> AppResult<Period> {
    report_bounds::report_period(from, to).map_err(|e| {
        let field = match e.part() {
            Some(part) => format!("{field}.{part}"),
            None => field.to_owned(),
        };
        AppError::bad_input(field, e.message())
    })
}

/// Refuses an `asOf` outside the years reports cover (on `field`).
pub fn report_date(date: NaiveDate, field: &str) -> AppResult<NaiveDate> {
    if report_bounds::in_report_range(date) {
        Ok(date)
    } else {
        Err(AppError::bad_input(
            field,
            format!(
                "{field} must fall between {}-01-01 and {}-12-31",
                report_bounds::EARLIEST_REPORT_YEAR,
                report_bounds::LATEST_REPORT_YEAR
            ),
        ))
    }
}

/// `as_of`, by default today, checked: in the report years and not in the future.
pub fn as_of_or_today(svc: &Service<'_>, as_of: Option<NaiveDate>) -> AppResult<NaiveDate> {
    let today = svc.today();
    let as_of = report_date(as_of.unwrap_or(today), "asOf")?;
    if as_of > today {
        return Err(AppError::bad_input("asOf", "asOf cannot be in the future"));
    }
    Ok(as_of)
}

/// The authorities a report names (`authorityIds`): each an id decoded, or the refusal of
/// its decoding; how many is known before any is decoded.
pub trait NamedAuthorities: ExactSizeIterator<Item = AppResult<i64>> {}

impl<I: ExactSizeIterator<Item = AppResult<i64>>> NamedAuthorities for I {}

/// The authorities a report covers: those named (all of the actor's consortium; each item
/// an id decoded for `authorityIds`, or the refusal of its decoding), else the actor's own
/// authorities with `capability`, else (board analysts) the whole consortium.
pub fn report_authorities(
    svc: &Service<'_>,
    named: Option<impl NamedAuthorities>,
    capability: Capability,
) -> AppResult<Vec<i64>> {
    let actor = svc.actor()?;
    let directory = svc.state.directory.current();
    let consortium = directory
        .consortium_by_id(actor.consortium_id)
        .ok_or(AppError::NotFound)?;
    let ids = match named {
        Some(named) if named.len() > report_bounds::MAX_REPORT_AUTHORITIES => {
            return Err(AppError::bad_input(
                "authorityIds",
                format!(
                    "name at most {} authorities",
                    report_bounds::MAX_REPORT_AUTHORITIES
                ),
            ));
        }
        Some(named) => {
            let mut ids = Vec::new();
            for id in named {
                let a = id?;
                if !consortium.authorities.iter().any(|x| x.id == a) {
                    return Err(AppError::NotFound);
                }
                if !ids.contains(&a) {
                    ids.push(a);
                }
            }
            ids
        }
        None => match actor.default_report_authorities(capability)? {
            Some(own) => own,
            None => consortium.authorities.iter().map(|a| a.id).collect(),
        },
    };
    if ids.is_empty() {
        return Err(AppError::bad_input(
            "authorityIds",
            "name at least one authority",
        ));
    }
    Ok(ids)
}

/// The authorities of a list of records (tracking alerts): those named, which must all be
/// the actor's own with `capability`, else all of the actor's own.
pub fn own_report_authorities(
    svc: &Service<'_>,
    named: Option<impl NamedAuthorities>,
    capability: Capability,
) -> AppResult<Vec<i64>> {
    let own = svc.actor()?.require_anywhere(capability)?;
    match named {
        Some(named) => {
            let ids = report_authorities(svc, Some(named), capability)?;
            if ids.iter().any(|a| !own.contains(a)) {
                return Err(AppError::forbidden(
                    "tracking alerts are for your own authorities only",
                ));
            }
            Ok(ids)
        }
        None => Ok(own),
    }
}

/// Each kind once: the list is matched against every alert.
pub fn distinct_kinds<K: Ord>(kinds: Option<Vec<K>>) -> Option<Vec<K>> {
    kinds.map(|mut k| {
        k.sort();
        k.dedup();
        k
    })
}

/// A run of the recruitment funnel, its arguments checked and defaulted.
pub struct FunnelRun {
    pub period: Period,
    pub as_of: NaiveDate,
    pub group_by: Vec<FunnelGroupBy>,
    pub authorities: Vec<i64>,
    pub view: ReportView,
}

impl FunnelRun {
    /// The breakdowns, as the cache key and the audit name them.
    pub fn grouping(&self) -> Vec<String> {
        self.group_by.iter().map(|g| format!("{g:?}")).collect()
    }
}

/// Checks the funnel's arguments, picks its authorities and decides the view.
pub fn funnel_run(
    svc: &Service<'_>,
    (from, to): (NaiveDate, NaiveDate),
    as_of: Option<NaiveDate>,
    named: Option<impl NamedAuthorities>,
    group_by: Vec<FunnelGroupBy>,
) -> AppResult<FunnelRun> {
    let actor = svc.actor()?;
    let period = self::period(from, to, "period")?;
    for (i, g) in group_by.iter().enumerate() {
        if group_by[..i].contains(g) {
            return Err(AppError::bad_input(
                "groupBy",
                "name each breakdown at most once",
            ));
        }
    }
    if group_by.contains(&FunnelGroupBy::EnquiryMonth)
        && report_bounds::calendar_months(&period) > report_bounds::MAX_ENQUIRY_MONTHS
    {
        return Err(AppError::bad_input(
            "period",
            format!(
                "a breakdown by ENQUIRY_MONTH covers at most {} calendar months; this \
                 period touches {}",
                report_bounds::MAX_ENQUIRY_MONTHS,
                report_bounds::calendar_months(&period)
            ),
        ));
    }
    let as_of = as_of_or_today(svc, as_of)?;
    if as_of < period.from() {
        return Err(AppError::bad_input(
            "asOf",
            "asOf cannot be before the period starts",
        ));
    }
    let authorities = report_authorities(svc, named, Capability::ReadRecruitmentReports)?;
    let view = actor.report_view(Capability::ReadRecruitmentReports, &authorities)?;
    Ok(FunnelRun {
        period,
        as_of,
        group_by,
        authorities,
        view,
    })
}

/// The funnel's figures, by group and in total, as they are (disclosure control is applied
/// to them as a whole breakdown when they are shown).
pub async fn funnel_figures(
    svc: &Service<'_>,
    run: &FunnelRun,
) -> AppResult<(BTreeMap<GroupKey, FunnelFigures>, FunnelFigures)> {
    let actor = svc.actor()?;
    let scope = JourneyScope {
        consortium_id: actor.consortium_id,
        authority_ids: run.authorities.clone(),
    };
    let journeys =
        store::recruitment::snapshot(svc.db(), &svc.state.journeys, scope.consortium_id).await?;
    Ok(funnel::funnel(
        journeys.journeys(&scope, Some(&run.period), run.as_of),
        &run.period,
        &run.group_by,
    ))
}

/// Audits a funnel run (a cached result is audited like a computed one).
pub fn audit_funnel(svc: &Service<'_>, run: &FunnelRun) {
    svc.audit(
        report_action(svc),
        "RecruitmentFunnel",
        None,
        None,
        json!({ "from": run.period.from(), "to": run.period.to(), "asOf": run.as_of,
                "authorities": run.authorities.len(), "groupBy": run.grouping(),
                "suppressed": run.view == ReportView::Restricted }),
    );
}

/// The recruitment funnel as published to the actor.
#[derive(Serialize, Deserialize)]
pub struct FunnelReport {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub as_of: NaiveDate,
    #[serde(with = "as_graphql")]
    pub group_by: Vec<FunnelGroupBy>,
    pub authorities: Vec<i64>,
    /// Whether disclosure control was applied (the actor is not a member of the
    /// authorities the figures are about).
    pub suppression_applied: bool,
    pub total: PublishedGroup,
    pub groups: Vec<PublishedGroup>,
}

/// The recruitment funnel: its arguments checked, its authorities picked, the view
/// decided, the figures computed (or found in the report cache) and published, the run
/// audited.
pub async fn funnel(
    svc: &Service<'_>,
    period: (NaiveDate, NaiveDate),
    as_of: Option<NaiveDate>,
    named: Option<impl NamedAuthorities>,
    group_by: Vec<FunnelGroupBy>,
) -> AppResult<Cached<FunnelReport>> {
    let actor = svc.actor()?;
    let mut run = funnel_run(svc, period, as_of, named, group_by)?;
    if run.view == ReportView::Restricted {
        return published_funnel(svc, period, as_of, &mut run).await;
    }
    // The key holds everything the result depends on besides the data.
    let key = ReportKey::new(
        "recruitmentFunnel",
        actor.consortium_id,
        json!({ "from": run.period.from(), "to": run.period.to(), "asOf": run.as_of,
                "authorities": run.authorities, "groupBy": run.grouping(),
                "restricted": run.view == ReportView::Restricted,
                "boardAnalyst": actor.has_consortium_role(Role::BoardAnalyst) }),
    );
    let report = report_cache::cached(svc, key, async {
        let (groups, total) = funnel_figures(svc, &run).await?;
        let (total, groups) = funnel::publish(&groups, &total, audience(run.view));
        Ok(FunnelReport {
            from: run.period.from(),
            to: run.period.to(),
            as_of: run.as_of,
            group_by: run.group_by.clone(),
            authorities: run.authorities.clone(),
            suppression_applied: run.view == ReportView::Restricted,
            total,
            groups,
        })
    })
    .await?;
    audit_funnel(svc, &run);
    Ok(report)
}

/// The funnel for a protected audience, from the consortium's publication: its quarter or
/// year as at its quarter end, for the consortium or one authority, by authority or by
/// channel (one breakdown at a time).
async fn published_funnel(
    svc: &Service<'_>,
    period: (NaiveDate, NaiveDate),
    as_of: Option<NaiveDate>,
    run: &mut FunnelRun,
) -> AppResult<Cached<FunnelReport>> {
    let actor = svc.actor()?;
    let breakdown = match run.group_by.as_slice() {
        [] => FunnelBreakdown::None,
        [FunnelGroupBy::Authority] => FunnelBreakdown::Authority,
        [FunnelGroupBy::Channel] => FunnelBreakdown::Channel,
        _ => {
            return Err(AppError::bad_input(
                "groupBy",
                "the funnel beyond your own authorities is published in total, by AUTHORITY \
                 or by CHANNEL, one breakdown at a time",
            ));
        }
    };
    let (published, period) = super::publication::choose(
        svc,
        as_of,
        Some(period),
        super::publication::quarter_and_year,
    )
    .await?;
    let scope = super::publication::scope(&published, &run.authorities)?;
    if breakdown == FunnelBreakdown::Channel && scope != Scope::Consortium {
        return Err(AppError::bad_input(
            "groupBy",
            "the funnel by CHANNEL is published for the whole consortium only",
        ));
    }
    let knows = actor.authorities_with(Capability::ReadRecruitmentReports);
    let (total, groups) = published.read_by(&knows).funnel(&period, scope, breakdown);
    run.period = period;
    run.as_of = published.quarter_end;
    audit_funnel(svc, run);
    Ok(Cached::published(
        "recruitmentFunnel",
        FunnelReport {
            from: period.from(),
            to: period.to(),
            as_of: run.as_of,
            group_by: run.group_by.clone(),
            authorities: run.authorities.clone(),
            suppression_applied: true,
            total,
            groups,
        },
    ))
}

/// A kind of tracking alert, and the capability that lists the records it is raised on.
pub trait AlertKind: Ord {
    /// What the actor needs in each authority whose alerts it lists.
    const CAPABILITY: Capability;
}

impl AlertKind for AdopterAlertKind {
    const CAPABILITY: Capability = Capability::ReadRecruitmentReports;
}

impl AlertKind for ChildAlertKind {
    const CAPABILITY: Capability = Capability::ReadChildren;
}

/// The tracking alerts asked for, checked: the adopter alerts
/// (`AlertScope<AdopterAlertKind>`) or the child ones (`AlertScope<ChildAlertKind>`).
pub struct AlertScope<K> {
    pub as_of: NaiveDate,
    pub kinds: Option<Vec<K>>,
    pub authorities: Vec<i64>,
}

/// Checks the arguments of a list of tracking alerts: own authorities only (with the
/// kind's capability), each kind once, `as_of` by default today.
pub fn alert_scope<K: AlertKind>(
    svc: &Service<'_>,
    as_of: Option<NaiveDate>,
    kinds: Option<Vec<K>>,
    named: Option<impl NamedAuthorities>,
) -> AppResult<AlertScope<K>> {
    let authorities = own_report_authorities(svc, named, K::CAPABILITY)?;
    let kinds = distinct_kinds(kinds);
    let as_of = as_of_or_today(svc, as_of)?;
    Ok(AlertScope {
        as_of,
        kinds,
        authorities,
    })
}

/// One page of the adopter alerts, most overdue first, each with its household (audited as
/// viewed), and how many there are in all.
pub async fn adopter_alerts(
    svc: &Service<'_>,
    scope: &AlertScope<AdopterAlertKind>,
    page: Page,
) -> AppResult<(Vec<(AdopterAlert, household::Model)>, u64)> {
    let actor = svc.actor()?;
    let as_of = scope.as_of;
    let journey_scope = JourneyScope {
        consortium_id: actor.consortium_id,
        authority_ids: scope.authorities.clone(),
    };
    let journeys =
        store::recruitment::snapshot(svc.db(), &svc.state.journeys, journey_scope.consortium_id)
            .await?;
    let mut alerts: Vec<_> = journeys
        .journeys(&journey_scope, None, as_of)
        .filter_map(|j| funnel::adopter_alert(&j, as_of))
        .filter(|a| scope.kinds.as_ref().is_none_or(|k| k.contains(&a.kind)))
        .collect();
    alerts.sort_by_key(|a| (std::cmp::Reverse(a.days_overdue), a.household_id));
    let total = alerts.len() as u64;
    let window: Vec<_> = alerts
        .into_iter()
        .skip(page.offset as usize)
        .take(page.limit as usize)
        .collect();
    let ids: Vec<i64> = window.iter().map(|a| a.household_id).collect();
    let households: BTreeMap<i64, household::Model> =
        store::households::find_many(svc.db(), actor.consortium_id, &ids)
            .await?
            .into_iter()
            .map(|h| (h.id, h))
            .collect();
    svc.audit(
        report_action(svc),
        "AdopterAlert",
        None,
        None,
        json!({ "asOf": as_of, "kinds": scope.kinds.as_ref().map(|k| k.len()) }),
    );
    let mut items = Vec::with_capacity(window.len());
    for a in window {
        let Some(h) = households.get(&a.household_id) else {
            continue;
        };
        svc.audit(
            AuditAction::View,
            "Household",
            Some(h.id),
            Some(h.authority_id),
            json!({ "via": "adopterAlerts" }),
        );
        items.push((a, h.clone()));
    }
    Ok((items, total))
}
