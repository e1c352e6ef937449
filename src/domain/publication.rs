//! The publication of one consortium at one quarter end: every table a protected audience
//! can receive (DESIGN §5), as the cells and relations of a [`suppression::Model`], so that
//! the withheld cells are decided once, jointly, over all of them.
//!
//! **The tables.** For a completed quarter ending on 30 June, 30 September, 31 December or
//! 31 March:
//! - the **scorecard** over the three years to the latest 31 March on or before the quarter
//!   end, and each of those years: per authority and for the consortium, the cohort, the
//!   children placed (A1's, A10's and A3's cases), A1's and A10's days, A2's cases and days,
//!   and A3's children placed within 426 days;
//! - the **recruitment funnel** for the quarter and for the latest financial year ended by
//!   the quarter end (1 April to 31 March), as at the quarter end, for the consortium, by authority and by channel (one breakdown at a
//!   time): households reaching each stage, the cohort (its size, fast track, each stage
//!   reached and its eligible population, approved, left before approval, in progress, on
//!   hold, exits by stage and reason, left after each stage) and each step's count, days and
//!   count within target;
//! - the **cross-boundary flows** of the quarter and of that financial year: the
//!   matrix of placements child's authority × household's authority, its fees, both margins,
//!   the whole, and the placements across the boundary;
//! - **sufficiency** as at the quarter end, per authority and for the consortium: children,
//!   placement units and households, for every characteristic.
//!
//! **The relations** are every linear tie a reader could subtract along: authorities (and
//! channels) add up to the consortium; years add up to the three-year window; the quarter
//! and the rest of the year add up to the year; a cohort is approved + left before approval
//! + in progress; in progress is on hold + the rest; the exits and the "left after" figures
//!   add up to those who left; a stage's eligible population is the cohort figure it is
//!   defined by; a percentage's base is its numerator and the rest; a matrix's rows, columns
//!   and cross-boundary share add up; a mean's sum of days is over its count. (The quarter
//!   ending 31 March is the last of its year: the year is that quarter and a hidden rest.) Figures that no
//!   table shows but that these ties imply (the rest of a base, the earlier quarters of a
//!   year) are hidden cells, and counts of 1–5 among them are protected as well.
//!
//! Each authority's own figures (and the flows it is on either side of) are known to its
//! members; the audit checks the publication for them too.
use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Months, NaiveDate};
use strum::IntoEnumIterator;

use super::flows::{self, Flow, Placement};
use super::funnel::{self, FUNNEL_STAGES, FunnelFigures, FunnelGroupBy, Journey, Step};
use super::scorecard::{self, Scorecard, ScorecardChild};
use super::sufficiency::{Characteristic, SufficiencyRow};
use super::suppression::{Kind, Model};
use super::{EnquiryChannel, Period, RecruitmentReason, Stage};

/// The periods of the publication at a quarter end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Periods {
    pub quarter_end: NaiveDate,
    /// The three years to the latest 31 March on or before the quarter end.
    pub scorecard: Period,
    /// The quarter.
    pub quarter: Period,
    /// The latest financial year (1 April to 31 March) ended by the quarter end.
    pub year: Period,
}

impl Periods {
    /// The periods of a quarter end; `None` when the date does not end a quarter.
    pub fn at(quarter_end: NaiveDate) -> Option<Periods> {
        if !is_quarter_end(quarter_end) {
            return None;
        }
        let quarter_start =
            (quarter_end + chrono::Days::new(1)).checked_sub_months(Months::new(3))?;
        Some(Periods {
            quarter_end,
            scorecard: Period::years_to_march(quarter_end, 3),
            quarter: Period::new(quarter_start, quarter_end)?,
            year: Period::years_to_march(quarter_end, 1),
        })
    }

    /// The scorecard window's years, oldest first.
    pub fn scorecard_years(&self) -> Vec<Period> {
        scorecard::yearly_windows(&self.scorecard)
    }
}

/// Whether the date is 30 June, 30 September, 31 December or 31 March.
pub fn is_quarter_end(d: NaiveDate) -> bool {
    matches!((d.month(), d.day()), (6, 30) | (9, 30) | (12, 31) | (3, 31))
}

/// The latest quarter end strictly before `today`: the latest completed quarter.
pub fn latest_quarter_end(today: NaiveDate) -> NaiveDate {
    let mut d = today.pred_opt().unwrap_or(today);
    while !is_quarter_end(d) {
        d = d.pred_opt().unwrap_or(d);
    }
    d
}

/// The funnel of one period: for the consortium, by authority and by channel.
#[derive(Clone, Debug, Default)]
pub struct FunnelTables {
    pub total: FunnelFigures,
    pub authorities: BTreeMap<i64, FunnelFigures>,
    pub channels: BTreeMap<EnquiryChannel, FunnelFigures>,
}

/// Everything a publication shows, as computed (nothing withheld yet).
#[derive(Clone, Debug)]
pub struct Figures {
    pub periods: Periods,
    /// The consortium's authorities, in order.
    pub authorities: Vec<i64>,
    /// The scorecard, `[window][authority]`: the whole window first, then its years.
    pub scorecard: Vec<Vec<Scorecard>>,
    /// The funnel of the quarter, then of the year.
    pub funnel: [FunnelTables; 2],
    /// The flows of the quarter, then of the year, `[child's][household's]`.
    pub flows: [Vec<Vec<Flow>>; 2],
    /// Sufficiency per authority (in order), then for the consortium.
    pub sufficiency: Vec<Vec<SufficiencyRow>>,
}

/// Computes every figure of a publication from the rows it is over: the children adopted in
/// the scorecard's window, the journeys as at the quarter end of the households that touch
/// the quarter or the year, the placements of the quarter and of the year, and sufficiency
/// per authority (in order) then for the consortium.
pub fn figures(
    periods: Periods,
    authorities: &[i64],
    children: &[ScorecardChild],
    journeys: &[Journey],
    placements: [&[Placement]; 2],
    sufficiency: Vec<Vec<SufficiencyRow>>,
) -> Figures {
    let windows: Vec<Period> = std::iter::once(periods.scorecard)
        .chain(periods.scorecard_years())
        .collect();
    let scorecard = windows
        .iter()
        .map(|w| {
            authorities
                .iter()
                .map(|a| Scorecard::of(children.iter().filter(|c| c.authority_id == *a), w))
                .collect()
        })
        .collect();
    let funnel_of = |period: &Period| {
        let by = |group_by: FunnelGroupBy| funnel::funnel(journeys, period, &[group_by]);
        let (by_authority, total) = by(FunnelGroupBy::Authority);
        let (by_channel, _) = by(FunnelGroupBy::Channel);
        FunnelTables {
            total,
            authorities: by_authority
                .into_iter()
                .filter_map(|(k, f)| Some((k.authority_id?, f)))
                .collect(),
            channels: by_channel
                .into_iter()
                .filter_map(|(k, f)| Some((k.channel?, f)))
                .collect(),
        }
    };
    Figures {
        periods,
        authorities: authorities.to_vec(),
        scorecard,
        funnel: [funnel_of(&periods.quarter), funnel_of(&periods.year)],
        flows: [
            flows::matrix(placements[0], authorities),
            flows::matrix(placements[1], authorities),
        ],
        sufficiency,
    }
}

/// The medians of the funnel's steps, by the key of the step's count: the one figure of
/// the tables that is not a cell (it is not linear in anything published).
pub fn medians(f: &Figures) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (tables, period) in f.funnel.iter().zip([f.periods.quarter, f.periods.year]) {
        let prefix = format!("funnel/{}", span(&period));
        let groups = std::iter::once(("all".to_owned(), &tables.total))
            .chain(
                tables
                    .authorities
                    .iter()
                    .map(|(a, t)| (format!("authority:{a}"), t)),
            )
            .chain(
                tables
                    .channels
                    .iter()
                    .map(|(c, t)| (format!("channel:{}", c.code()), t)),
            );
        for (name, figures) in groups {
            for (step, s) in &figures.steps {
                if let Some(m) = s.median() {
                    out.insert(format!("{prefix}/{name}/step/{}", step.code()), m);
                }
            }
        }
    }
    out
}

/// Where a group of figures sits: an authority (known to its members) or the consortium.
#[derive(Clone, Copy)]
struct Group<'a> {
    name: &'a str,
    known: &'a [i64],
}

/// Builds the model of a publication.
pub fn model(f: &Figures) -> Model {
    let mut m = Model::default();
    scorecard_cells(&mut m, f);
    let (quarter, year) = (f.periods.quarter, f.periods.year);
    for (p, period) in [quarter, year].iter().enumerate() {
        funnel_cells(&mut m, f, p, period);
        flow_cells(&mut m, f, p, period);
    }
    // The quarter ending 31 March is the last of its year.
    if year.contains(quarter.from()) {
        for report in ["funnel", "flows"] {
            relate_quarter_to_year(
                &mut m,
                &format!("{report}/{}/", span(&quarter)),
                &format!("{report}/{}/", span(&year)),
            );
        }
    }
    sufficiency_cells(&mut m, f);
    m.close_knowledge();
    m
}

/// The key of a period, by its dates.
pub fn span(p: &Period) -> String {
    format!("{}..{}", p.from(), p.to())
}

fn authority_names(f: &Figures) -> Vec<(String, [i64; 1])> {
    f.authorities
        .iter()
        .map(|a| (format!("authority:{a}"), [*a]))
        .collect()
}

fn scorecard_cells(m: &mut Model, f: &Figures) {
    let windows: Vec<Period> = std::iter::once(f.periods.scorecard)
        .chain(f.periods.scorecard_years())
        .collect();
    let names = authority_names(f);
    // Per window: the consortium's cells and each authority's, measure by measure.
    for (w, window) in windows.iter().enumerate() {
        let Some(row) = f.scorecard.get(w) else {
            continue;
        };
        let prefix = format!("scorecard/{}", span(window));
        let mut per_measure: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
        for (a, (name, known)) in names.iter().enumerate() {
            let s = row.get(a).copied().unwrap_or_default();
            for (measure, cell) in scorecard_group(m, &prefix, Group { name, known }, &s) {
                per_measure.entry(measure).or_default().push(cell);
            }
        }
        let total = row.iter().fold(Scorecard::default(), |mut acc, s| {
            acc += s;
            acc
        });
        let totals = scorecard_group(
            m,
            &prefix,
            Group {
                name: "all",
                known: &[],
            },
            &total,
        );
        for (measure, cell) in totals {
            m.sum(cell, &per_measure[measure]);
        }
    }
    // The window is its years.
    if windows.len() > 1 {
        let measures = [
            "cohort", "placed", "a1Days", "a10Days", "a2", "a2Days", "a3Within",
        ];
        let groups: Vec<String> = names
            .iter()
            .map(|(n, _)| n.clone())
            .chain(["all".to_owned()])
            .collect();
        for g in &groups {
            for measure in measures {
                let key = |p: &Period| format!("scorecard/{}/{g}/{measure}", span(p));
                let Some(whole) = m.find(&key(&windows[0])) else {
                    continue;
                };
                let parts: Vec<usize> = windows[1..]
                    .iter()
                    .filter_map(|p| m.find(&key(p)))
                    .collect();
                m.sum(whole, &parts);
            }
        }
    }
}

/// One group's scorecard cells, by measure. A1's, A10's and A3's cases are the same
/// children (placed, both dates known): one cell.
fn scorecard_group(
    m: &mut Model,
    prefix: &str,
    g: Group<'_>,
    s: &Scorecard,
) -> Vec<(&'static str, usize)> {
    let key = |measure: &str| format!("{prefix}/{}/{measure}", g.name);
    let cohort = m.count(key("cohort"), s.cohort, g.known);
    let placed = m.count(key("placed"), s.a1.cohort, g.known);
    let a1 = m.days(key("a1Days"), s.a1.total_days, placed, g.known);
    let a10 = m.days(key("a10Days"), s.a10.total_days, placed, g.known);
    let a2 = m.count(key("a2"), s.a2.cohort, g.known);
    let a2_days = m.days(key("a2Days"), s.a2.total_days, a2, g.known);
    let within = m.count(key("a3Within"), s.a3_within, g.known);
    m.remainder(key("notPlaced"), placed, cohort);
    m.remainder(key("a3Over"), within, placed);
    m.remainder(key("notA2"), a2, cohort);
    vec![
        ("cohort", cohort),
        ("placed", placed),
        ("a1Days", a1),
        ("a10Days", a10),
        ("a2", a2),
        ("a2Days", a2_days),
        ("a3Within", within),
    ]
}

/// The funnel figures of one group as `(figure, cell)`, the within-group ties made.
fn funnel_group(
    m: &mut Model,
    prefix: &str,
    g: Group<'_>,
    f: &FunnelFigures,
) -> Vec<(String, usize)> {
    let key = |figure: &str| format!("{prefix}/{}/{figure}", g.name);
    let mut out: Vec<(String, usize)> = Vec::new();
    let put = |m: &mut Model, out: &mut Vec<(String, usize)>, figure: String, value: u64| {
        let cell = m.count(key(&figure), value, g.known);
        out.push((figure, cell));
        cell
    };
    for stage in Stage::iter().filter(|s| !matches!(s, Stage::OnHold | Stage::Resumed)) {
        let n = f.stage_counts.get(&stage).copied().unwrap_or(0);
        put(m, &mut out, format!("stage/{}", stage.code()), n);
    }
    let size = put(m, &mut out, "cohort".into(), f.cohort_size);
    let fast = put(m, &mut out, "fastTrack".into(), f.fast_track);
    let approved = put(m, &mut out, "approved".into(), f.approved);
    let left = put(
        m,
        &mut out,
        "leftBeforeApproval".into(),
        f.left_before_approval,
    );
    let in_progress = put(m, &mut out, "inProgress".into(), f.in_progress);
    let on_hold = put(m, &mut out, "onHold".into(), f.on_hold);
    m.sum(size, &[approved, left, in_progress]);
    m.remainder(key("notOnHold"), on_hold, in_progress);
    m.remainder(key("notFastTrack"), fast, size);
    let mut reached = Vec::new();
    for (i, stage) in FUNNEL_STAGES.iter().enumerate() {
        let r = put(
            m,
            &mut out,
            format!("reached/{}", stage.code()),
            f.cohort_stages[i].reached,
        );
        let e = put(
            m,
            &mut out,
            format!("eligible/{}", stage.code()),
            f.cohort_stages[i].eligible,
        );
        reached.push(r);
        // A stage's rates are over its eligible population and over the cohort.
        m.remainder(key(&format!("notReached/{}", stage.code())), r, e);
        m.remainder(
            key(&format!("notReachedOfCohort/{}", stage.code())),
            r,
            size,
        );
    }
    // Each eligible population is the cohort figure it is defined by.
    let at = |s: Stage| FUNNEL_STAGES.iter().position(|x| *x == s).unwrap_or(0);
    for (i, stage) in FUNNEL_STAGES.iter().enumerate() {
        let e = m
            .find(&key(&format!("eligible/{}", stage.code())))
            .unwrap_or(size);
        let mut terms = vec![(e, -1)];
        match stage {
            Stage::Enquiry | Stage::InformationEvent => terms.push((size, 1)),
            Stage::StageOneStarted => terms.extend([(size, 1), (fast, -1)]),
            Stage::StageTwoStarted => {
                terms.extend([(reached[at(Stage::StageOneCompleted)], 1), (fast, 1)])
            }
            Stage::StageOneCompleted => terms.push((reached[at(Stage::StageOneStarted)], 1)),
            Stage::StageTwoCompleted => terms.push((reached[at(Stage::StageTwoStarted)], 1)),
            _ => terms.push((reached[i - 1], 1)),
        }
        m.relate(terms);
    }
    // Exits: those who left before approval, and approved households that left since.
    let mut exits = Vec::new();
    for stage in [Stage::Withdrawn, Stage::EndedByAgency] {
        for reason in std::iter::once(None).chain(RecruitmentReason::iter().map(Some)) {
            let n = f.exits.get(&(stage, reason)).copied().unwrap_or(0);
            let name = reason.map(|r| r.code()).unwrap_or("NONE");
            exits.push(put(m, &mut out, format!("exit/{}/{name}", stage.code()), n));
        }
    }
    let approved_left: u64 = f.exits.values().sum::<u64>() - f.left_before_approval;
    let approved_left = m.hidden_count(key("approvedThenLeft"), approved_left, g.known);
    let mut terms: Vec<(usize, i64)> = exits.iter().map(|c| (*c, 1)).collect();
    terms.extend([(left, -1), (approved_left, -1)]);
    m.relate(terms);
    m.remainder(key("approvedStayed"), approved_left, approved);
    let mut after = Vec::new();
    for stage in FUNNEL_STAGES {
        let n = f.left_after.get(&stage).copied().unwrap_or(0);
        after.push(put(m, &mut out, format!("leftAfter/{}", stage.code()), n));
    }
    m.sum(left, &after);
    for step in Step::ALL {
        let figures = f.steps.get(&step).cloned().unwrap_or_default();
        let count = put(
            m,
            &mut out,
            format!("step/{}", step.code()),
            figures.count(),
        );
        let days = m.days(
            key(&format!("step/{}/days", step.code())),
            figures.days.iter().sum(),
            count,
            g.known,
        );
        out.push((format!("step/{}/days", step.code()), days));
        if step.target_months().is_some() {
            let within = put(
                m,
                &mut out,
                format!("step/{}/within", step.code()),
                figures.within_target,
            );
            m.remainder(key(&format!("step/{}/over", step.code())), within, count);
        }
    }
    out
}

fn funnel_cells(m: &mut Model, f: &Figures, p: usize, period: &Period) {
    let tables = &f.funnel[p];
    let prefix = format!("funnel/{}", span(period));
    let total = funnel_group(
        m,
        &prefix,
        Group {
            name: "all",
            known: &[],
        },
        &tables.total,
    );
    let names = authority_names(f);
    let mut by_authority: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let empty = FunnelFigures::default();
    for (a, (name, known)) in f.authorities.iter().zip(&names) {
        let figures = tables.authorities.get(a).unwrap_or(&empty);
        for (figure, cell) in funnel_group(m, &prefix, Group { name, known }, figures) {
            by_authority.entry(figure).or_default().push(cell);
        }
    }
    let mut by_channel: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for channel in EnquiryChannel::iter() {
        let figures = tables.channels.get(&channel).unwrap_or(&empty);
        let name = format!("channel:{}", channel.code());
        let g = Group {
            name: &name,
            known: &[],
        };
        for (figure, cell) in funnel_group(m, &prefix, g, figures) {
            by_channel.entry(figure).or_default().push(cell);
        }
    }
    for (figure, cell) in total {
        m.sum(cell, &by_authority[&figure]);
        m.sum(cell, &by_channel[&figure]);
    }
}

fn flow_cells(m: &mut Model, f: &Figures, p: usize, period: &Period) {
    let matrix = &f.flows[p];
    let prefix = format!("flows/{}", span(period));
    let n = f.authorities.len();
    let flow = |i: usize, j: usize| -> Flow {
        matrix
            .get(i)
            .and_then(|r| r.get(j))
            .copied()
            .unwrap_or_default()
    };
    let mut cells = vec![vec![(0, 0); n]; n];
    for (i, a) in f.authorities.iter().enumerate() {
        for (j, b) in f.authorities.iter().enumerate() {
            let known: Vec<i64> = BTreeSet::from([*a, *b]).into_iter().collect();
            let fl = flow(i, j);
            let c = m.count(format!("{prefix}/{a}->{b}"), fl.children, &known);
            let fee = m.amount(
                format!("{prefix}/{a}->{b}/fees"),
                fl.fees_pence as i64,
                c,
                &known,
            );
            cells[i][j] = (c, fee);
        }
    }
    let total = |m: &mut Model, key: String, parts: &[(usize, usize)], known: &[i64]| {
        let children: u64 = parts.iter().map(|(c, _)| m.cells[*c].value as u64).sum();
        let fees: i64 = parts.iter().map(|(_, f)| m.cells[*f].value).sum();
        let c = m.count(key.clone(), children, known);
        let fee = m.amount(format!("{key}/fees"), fees, c, known);
        let cs: Vec<usize> = parts.iter().map(|(c, _)| *c).collect();
        let fs: Vec<usize> = parts.iter().map(|(_, f)| *f).collect();
        m.sum(c, &cs);
        m.sum(fee, &fs);
        (c, fee)
    };
    let mut rows = Vec::new();
    let mut columns = Vec::new();
    for (i, a) in f.authorities.iter().enumerate() {
        rows.push(total(m, format!("{prefix}/from:{a}"), &cells[i], &[*a]));
        let column: Vec<(usize, usize)> = (0..n).map(|r| cells[r][i]).collect();
        columns.push(total(m, format!("{prefix}/to:{a}"), &column, &[*a]));
    }
    let grand = total(m, format!("{prefix}/all"), &rows, &[]);
    let (grand_c, grand_f) = grand;
    let columns_c: Vec<usize> = columns.iter().map(|(c, _)| *c).collect();
    let columns_f: Vec<usize> = columns.iter().map(|(_, f)| *f).collect();
    m.sum(grand_c, &columns_c);
    m.sum(grand_f, &columns_f);
    // Across the boundary: the whole less the diagonal (which no table shows as one figure).
    let diagonal: Vec<(usize, usize)> = (0..n).map(|i| cells[i][i]).collect();
    let within: u64 = diagonal.iter().map(|(c, _)| m.cells[*c].value as u64).sum();
    let within_c = m.hidden_count(format!("{prefix}/within"), within, &[]);
    m.sum(
        within_c,
        &diagonal.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
    );
    let cross = m.count(
        format!("{prefix}/cross"),
        (m.cells[grand_c].value as u64).saturating_sub(within),
        &[],
    );
    m.sum(grand_c, &[cross, within_c]);
    // It is also the pairs off the diagonal, each known to both its authorities.
    let off: Vec<usize> = (0..n)
        .flat_map(|i| (0..n).filter(move |j| *j != i).map(move |j| (i, j)))
        .map(|(i, j)| cells[i][j].0)
        .collect();
    m.sum(cross, &off);
}

/// The year is its last quarter and the quarters before it: every figure of the year
/// (`year` keys) is the quarter's (`quarter` keys) and a hidden rest. This holds for the
/// cohorts' figures too, being over the enquiries of each period as at the same date. A sum
/// of days' rest is over the rest of its count.
fn relate_quarter_to_year(m: &mut Model, quarter: &str, year: &str) {
    let pairs: Vec<(usize, usize, String)> = m
        .cells
        .iter()
        .enumerate()
        .filter(|(_, c)| c.published)
        .filter_map(|(q, c)| {
            let tail = c.key.strip_prefix(quarter)?;
            let y = m.find(&format!("{year}{tail}"))?;
            Some((q, y, format!("{year}{tail}/earlierQuarters")))
        })
        .collect();
    let mut rest_of: BTreeMap<usize, usize> = BTreeMap::new();
    // Counts first, so that each sum can be put over the rest of its count.
    for (q, y, key) in &pairs {
        if m.cells[*q].kind != Kind::Count {
            continue;
        }
        let value = (m.cells[*y].value - m.cells[*q].value).max(0) as u64;
        let known = m.cells[*q].known_to.clone();
        let rest = m.hidden_count(key.clone(), value, &known);
        rest_of.insert(*q, rest);
        m.sum(*y, &[*q, rest]);
    }
    for (q, y, key) in &pairs {
        let Kind::Sum { cases, per_case } = m.cells[*q].kind else {
            continue;
        };
        let Some(rest_cases) = rest_of.get(&cases).copied() else {
            continue;
        };
        let value = m.cells[*y].value - m.cells[*q].value;
        let known = m.cells[*q].known_to.clone();
        let kind = Kind::Sum {
            cases: rest_cases,
            per_case,
        };
        let rest = m.hidden(key.clone(), value, kind, &known);
        m.sum(*y, &[*q, rest]);
    }
}

fn sufficiency_cells(m: &mut Model, f: &Figures) {
    let prefix = format!("sufficiency/{}", f.periods.quarter_end);
    let names = authority_names(f);
    let groups: Vec<Group<'_>> = names
        .iter()
        .map(|(n, k)| Group { name: n, known: k })
        .chain([Group {
            name: "all",
            known: &[],
        }])
        .collect();
    let mut cells: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (g, rows) in groups.iter().zip(&f.sufficiency) {
        let by: BTreeMap<Characteristic, &SufficiencyRow> =
            rows.iter().map(|r| (r.characteristic, r)).collect();
        let mut group_cells: BTreeMap<(Characteristic, &str), usize> = BTreeMap::new();
        for characteristic in Characteristic::iter() {
            let row = by.get(&characteristic);
            for (measure, value) in [
                ("children", row.map_or(0, |r| r.children)),
                ("units", row.map_or(0, |r| r.units)),
                ("households", row.map_or(0, |r| r.households)),
            ] {
                let figure = format!("{}/{measure}", characteristic.code());
                let cell = m.count(format!("{prefix}/{}/{figure}", g.name), value, g.known);
                group_cells.insert((characteristic, measure), cell);
                cells.entry(figure).or_default().push(cell);
            }
            let key = |what: &str| format!("{prefix}/{}/{}/{what}", g.name, characteristic.code());
            let units = group_cells[&(characteristic, "units")];
            let children = group_cells[&(characteristic, "children")];
            m.remainder(key("childrenBeyondUnits"), units, children);
        }
        // Each characteristic is a part of everyone.
        for characteristic in Characteristic::iter().filter(|c| *c != Characteristic::All) {
            for measure in ["children", "units", "households"] {
                let part = group_cells[&(characteristic, measure)];
                let all = group_cells[&(Characteristic::All, measure)];
                let key = format!(
                    "{prefix}/{}/{}/{measure}/without",
                    g.name,
                    characteristic.code()
                );
                m.remainder(key, part, all);
            }
        }
    }
    // The consortium's cells are the last of each figure; the others add up to them.
    for parts in cells.values() {
        if let Some((total, rest)) = parts.split_last() {
            m.sum(*total, rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::funnel::Exit;
    use crate::domain::suppression::{Decision, audit, suppress};
    use crate::domain::{MilestoneDates, MilestoneDraft};

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_periods_of_a_quarter_end() {
        let p = Periods::at(d("2026-09-30")).unwrap();
        assert_eq!(
            p.quarter,
            Period::new(d("2026-07-01"), d("2026-09-30")).unwrap()
        );
        assert_eq!(
            p.year,
            Period::new(d("2025-04-01"), d("2026-03-31")).unwrap()
        );
        assert_eq!(
            p.scorecard,
            Period::new(d("2023-04-01"), d("2026-03-31")).unwrap()
        );
        assert_eq!(p.scorecard_years().len(), 3);
        let march = Periods::at(d("2026-03-31")).unwrap();
        assert_eq!(
            march.quarter,
            Period::new(d("2026-01-01"), d("2026-03-31")).unwrap()
        );
        assert_eq!(
            march.year,
            Period::new(d("2025-04-01"), d("2026-03-31")).unwrap()
        );
        let december = Periods::at(d("2025-12-31")).unwrap();
        assert_eq!(december.quarter.from(), d("2025-10-01"));
        assert!(Periods::at(d("2026-09-29")).is_none());
        assert!(Periods::at(d("2026-04-01")).is_none());
        assert_eq!(latest_quarter_end(d("2026-12-06")), d("2026-09-30"));
        assert_eq!(latest_quarter_end(d("2026-10-01")), d("2026-09-30"));
        assert_eq!(latest_quarter_end(d("2026-09-30")), d("2026-06-30"));
        assert_eq!(latest_quarter_end(d("2026-01-01")), d("2025-12-31"));
    }

    fn adopted(authority: i64, entered: &str, placed: &str, adopted: &str) -> ScorecardChild {
        ScorecardChild {
            child_id: 1,
            authority_id: authority,
            milestones: MilestoneDates::recorded(MilestoneDraft {
                entered_care_on: Some(d(entered)),
                placed_on: Some(d(placed)),
                adoption_order_on: Some(d(adopted)),
                ..Default::default()
            }),
        }
    }

    /// Two authorities' adopted children: authority 1 placed 12, 9 of them within 426 days
    /// (both counts over 5, their difference 3); authority 2 placed 15, all within.
    fn scorecard_children() -> Vec<ScorecardChild> {
        let mut children = Vec::new();
        for i in 0..12 {
            let placed = if i < 9 { "2024-09-01" } else { "2025-09-01" };
            children.push(adopted(1, "2024-01-01", placed, "2025-12-01"));
        }
        for _ in 0..15 {
            children.push(adopted(2, "2024-01-01", "2024-10-01", "2025-12-01"));
        }
        children
    }

    /// Children adopted per authority (1, 2, 3) in each financial year from 2023-24 to
    /// 2026-27: authority 1's 2 of 2024-25 between larger years.
    fn adoptions_by_year() -> Vec<ScorecardChild> {
        let per_year: [[usize; 4]; 3] = [[20, 2, 8, 6], [7, 12, 9, 6], [9, 12, 14, 11]];
        let mut children = Vec::new();
        for (a, years) in per_year.iter().enumerate() {
            for (y, n) in years.iter().enumerate() {
                for i in 0..*n {
                    let year = 2023 + y as i32;
                    let placed = if i % 3 == 0 { "07-01" } else { "11-01" };
                    children.push(adopted(
                        a as i64 + 1,
                        &format!("{}-01-01", year - 1),
                        &format!("{year}-{placed}"),
                        &format!("{}-01-15", year + 1),
                    ));
                }
            }
        }
        children
    }

    fn scorecard_publication(quarter_end: &str, children: &[ScorecardChild]) -> Model {
        let periods = Periods::at(d(quarter_end)).unwrap();
        model(&figures(
            periods,
            &[1, 2, 3],
            children,
            &[],
            [&[], &[]],
            vec![vec![]; 4],
        ))
    }

    #[test]
    fn publications_sharing_figures_are_decided_alike_and_audited_together() {
        use crate::domain::published::{Published, joint};
        use crate::domain::suppression::suppress_decided;
        let children = adoptions_by_year();
        // The windows to March 2026 and to March 2027 share the years 2024-25 and 2025-26.
        let (m1, m2) = (
            scorecard_publication("2026-06-30", &children),
            scorecard_publication("2027-06-30", &children),
        );
        let first = Published {
            quarter_end: d("2026-06-30"),
            authorities: vec![1, 2, 3],
            decision: suppress(&m1),
            model: m1,
            medians: BTreeMap::new(),
        };
        assert!(first.audit().passes());
        let j = joint(&m2, &[&first]);
        let shared: Vec<usize> = (0..j.own).filter(|i| j.decided[*i].is_some()).collect();
        assert!(
            shared.iter().any(|i| m2.cells[*i]
                .key
                .starts_with("scorecard/2024-04-01..2025-03-31/")),
            "the years are shared"
        );
        // Decided on its own, the second publication passes its own audit.
        let alone = suppress(&m2);
        assert!(audit(&m2, &alone).passes());
        // Decided jointly: every shared figure as the first publication decided it, and no
        // withheld figure of either can be worked out from both together.
        let decision = suppress_decided(&j.model, &j.decided).first(j.own);
        for i in &shared {
            assert_eq!(
                Some(decision.withheld[*i]),
                j.decided[*i],
                "{}",
                m2.cells[*i].key
            );
        }
        let together = audit(&j.model, &j.decision(&decision));
        assert!(
            together.passes(),
            "{:?}",
            together.failures().take(3).collect::<Vec<_>>()
        );
        // Each on its own decision, the two publications show a shared figure in one and
        // withhold it in the other (with these figures, means of 2024-25: the secondary
        // suppressions around authority 1's 2 adoptions of that year follow each window).
        let inconsistent: Vec<&str> = shared
            .iter()
            .filter(|i| Some(alone.withheld[**i]) != j.decided[**i])
            .map(|i| m2.cells[*i].key.as_str())
            .collect();
        assert!(!inconsistent.is_empty());
        assert!(
            inconsistent
                .iter()
                .all(|k| k.starts_with("scorecard/2024-04-01..2025-03-31/")),
            "{inconsistent:?}"
        );
    }

    #[test]
    fn the_per_query_scorecard_fails_the_audit_and_the_joint_decision_passes() {
        let periods = Periods::at(d("2026-06-30")).unwrap();
        let children = scorecard_children();
        let f = figures(
            periods,
            &[1, 2],
            &children,
            &[],
            [&[], &[]],
            vec![vec![]; 3],
        );
        let m = model(&f);
        // The scorecard as each query published it before: every count measure suppressed
        // as its own grid, a board analyst knowing no row.
        let mut by_authority: BTreeMap<i64, Vec<ScorecardChild>> = BTreeMap::new();
        for c in children {
            by_authority.entry(c.authority_id).or_default().push(c);
        }
        let (whole, years) = scorecard::publish(
            &[1, 2],
            &by_authority,
            &f.periods.scorecard,
            &[false, false],
        );
        let mut per_query = Decision::none(&m);
        for period in std::iter::once(&whole).chain(&years) {
            let prefix = format!("scorecard/{}..{}", period.from, period.to);
            let groups = std::iter::once(("all".to_owned(), &period.total)).chain(
                period
                    .authorities
                    .iter()
                    .map(|a| (format!("authority:{}", a.authority.unwrap()), a)),
            );
            for (g, p) in groups {
                for (figure, suppressed) in [
                    ("cohort", p.cohort.suppressed),
                    ("placed", p.a1.cohort.suppressed || p.a3.cohort.suppressed),
                    ("a1Days", p.a1.days.suppressed),
                    ("a10Days", p.a10.days.suppressed),
                    ("a2", p.a2.cohort.suppressed),
                    ("a2Days", p.a2.days.suppressed),
                    ("a3Within", p.a3.count.suppressed),
                ] {
                    let cell = m.find(&format!("{prefix}/{g}/{figure}")).unwrap();
                    per_query.withheld[cell] = suppressed;
                }
            }
        }
        let before = audit(&m, &per_query);
        let pinned: Vec<&str> = before.failures().map(|i| i.key.as_str()).collect();
        assert!(
            pinned.iter().any(|k| k.ends_with("authority:1/a3Over")),
            "{pinned:?}"
        );
        let decision = suppress(&m);
        let after = audit(&m, &decision);
        assert!(after.passes(), "{:?}", after.failures().collect::<Vec<_>>());
    }

    /// A small consortium's rows, generated: few authorities, small numbers, so that small
    /// cells are common.
    fn consortium() -> impl Strategy<Value = Figures> {
        // Three or four authorities: with two, a member knows the other's every figure from
        // the consortium's, and nearly everything is withheld.
        let authorities = 3..=4usize;
        authorities
            .prop_flat_map(|n| {
                let ids: Vec<i64> = (1..=n as i64).collect();
                let child = (
                    1..=n as i64,
                    0..900i64,
                    0..700i64,
                    0..1000i64,
                    any::<bool>(),
                );
                let journey = (
                    1..=n as i64,
                    0..6usize,
                    0..600i64,
                    0..=11usize,
                    prop::option::of((0..2usize, 0..3usize)),
                    any::<bool>(),
                );
                let placement = (1..=n as i64, 1..=n as i64, 1..=3u64, 0..400i64);
                let row = (0..12u64, 0..4u64, 0..20u64);
                (
                    Just(ids),
                    prop::collection::vec(child, 0..30),
                    prop::collection::vec(journey, 0..40),
                    prop::collection::vec(placement, 0..20),
                    prop::collection::vec(prop::collection::vec(row, 5), n),
                )
            })
            .prop_map(|(ids, children, journeys, placements, sufficiency)| {
                let periods = Periods::at(d("2026-03-31")).unwrap();
                let start = d("2023-04-01");
                let day = |n: i64| start + chrono::Days::new(n as u64);
                let children: Vec<ScorecardChild> = children
                    .into_iter()
                    .map(|(a, entered, wait, adopted_after, a2)| {
                        let entered = day(entered);
                        let placed = entered + chrono::Days::new(wait as u64);
                        let adopted = placed + chrono::Days::new(100 + adopted_after as u64 / 3);
                        ScorecardChild {
                            child_id: 1,
                            authority_id: a,
                            milestones: MilestoneDates::recorded(MilestoneDraft {
                                entered_care_on: Some(entered),
                                placement_order_on: a2.then_some(entered),
                                match_decision_on: a2.then_some(placed),
                                placed_on: Some(placed),
                                adoption_order_on: Some(adopted),
                                ..Default::default()
                            }),
                        }
                    })
                    .collect();
                let channels: Vec<EnquiryChannel> = EnquiryChannel::iter().collect();
                let reasons: Vec<RecruitmentReason> = RecruitmentReason::iter().collect();
                let journeys: Vec<Journey> = journeys
                    .into_iter()
                    .enumerate()
                    .map(|(i, (a, channel, enquiry, reached, exit, fast))| {
                        let enquiry_on = d("2025-04-01") + chrono::Days::new(enquiry as u64 / 2);
                        let mut dates = [None; 11];
                        for (s, date) in dates.iter_mut().enumerate().take(reached) {
                            *date = Some(enquiry_on + chrono::Days::new(20 * s as u64));
                        }
                        dates[0] = Some(enquiry_on);
                        let last = dates.iter().flatten().last().copied().unwrap_or(enquiry_on);
                        Journey {
                            household_id: i as i64,
                            authority_id: a,
                            channel: channels[channel % channels.len()],
                            enquiry_on,
                            fast_track: fast && reached <= 1,
                            reached: dates,
                            exit: exit.map(|(stage, reason)| Exit {
                                stage: [Stage::Withdrawn, Stage::EndedByAgency][stage],
                                on: last + chrono::Days::new(5),
                                reason: Some(reasons[reason % reasons.len()]),
                            }),
                            on_hold: false,
                        }
                    })
                    .filter(|j| j.reached.iter().flatten().all(|x| *x <= d("2026-03-31")))
                    .collect();
                let placements: Vec<Placement> = placements
                    .into_iter()
                    .map(|(from, to, children, fee)| Placement {
                        child_authority_id: from,
                        household_authority_id: to,
                        children,
                        fee_pence: (from != to).then_some(fee as u64 * 1000),
                    })
                    .collect();
                let characteristics: Vec<Characteristic> = Characteristic::iter().collect();
                let mut per_authority: Vec<Vec<SufficiencyRow>> = sufficiency
                    .into_iter()
                    .map(|rows| {
                        let all = rows[0];
                        rows.iter()
                            .zip(&characteristics)
                            .map(|((children, beyond, households), c)| {
                                let children = (*children).min(all.0);
                                SufficiencyRow {
                                    characteristic: *c,
                                    children,
                                    units: children
                                        .saturating_sub(*beyond)
                                        .min(all.0 - all.1.min(all.0)),
                                    households: (*households).min(all.2),
                                }
                            })
                            .collect()
                    })
                    .collect();
                let total: Vec<SufficiencyRow> = characteristics
                    .iter()
                    .enumerate()
                    .map(|(k, c)| SufficiencyRow {
                        characteristic: *c,
                        children: per_authority.iter().map(|r| r[k].children).sum(),
                        units: per_authority.iter().map(|r| r[k].units).sum(),
                        households: per_authority.iter().map(|r| r[k].households).sum(),
                    })
                    .collect();
                per_authority.push(total);
                // Every placement of the quarter is one of the year's (it ends the year).
                let quarter: Vec<Placement> = placements.iter().step_by(3).copied().collect();
                figures(
                    periods,
                    &ids,
                    &children,
                    &journeys,
                    [&quarter, &placements],
                    per_authority,
                )
            })
    }

    proptest! {
        // A fixed seed: the same consortia every run.
        #![proptest_config(ProptestConfig {
            cases: 3,
            rng_seed: proptest::test_runner::RngSeed::Fixed(20261206),
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        #[test]
        fn generated_small_consortia_pass_the_audit(f in consortium()) {
            let m = model(&f);
            let decision = suppress(&m);
            let result = audit(&m, &decision);
            prop_assert!(result.passes(), "{:?}", result.failures().take(5).collect::<Vec<_>>());
            for i in 0..m.cells.len() {
                if m.cells[i].published && m.sensitive(i) {
                    prop_assert!(decision.withheld[i], "{} shown", m.cells[i].key);
                }
            }
        }
    }
}
