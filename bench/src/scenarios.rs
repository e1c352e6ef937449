//! The scenarios: what each one asks, as whom, with which arguments.
//!
//! Read scenarios pick their records with the client's seeded RNG from the
//! [`Fixture`]. The report scenarios come in pairs: *warm* repeats one set of arguments,
//! which the report cache answers after the first time (`extensions.reportCache` must say
//! `HIT`); *cold* gives every request arguments no earlier request used (its own period and
//! `asOf`), so each is computed afresh (`MISS`). A response with another status counts as a
//! `WRONG_CACHE_STATUS` error.
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{Datelike, Months, NaiveDate, TimeDelta, Utc};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};

use super::discovery::Fixture;

/// A benchmark scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scenario {
    /// `matchSuggestions(childId, first: 20)` for a random waiting child, as a family
    /// finder of the child's authority.
    MatchSuggestions,
    /// `childSuggestions(householdId, first: 20)` for a random approved household, as a
    /// family finder of its authority.
    ChildSuggestions,
    /// `recruitmentFunnel` over one year by authority, as a manager of every authority,
    /// never cached.
    FunnelCold,
    /// The same, always the same year: served by the report cache.
    FunnelWarm,
    /// The consortium's `scorecard` as a manager of every authority, never cached.
    ScorecardCold,
    /// The same, always the same period: served by the report cache.
    ScorecardWarm,
    /// `child(id)`, a full record, as a family finder of the child's authority.
    Child,
    /// A random page of 50 `children` (the fixture's `CHILDREN_PAGE`) as a family finder.
    Children,
    /// The write mix (see [`super::writes`]).
    Writes,
}

impl Scenario {
    /// Every scenario, in the order a full run takes them (writes last: they invalidate
    /// the report cache).
    pub const ALL: [Scenario; 9] = [
        Scenario::MatchSuggestions,
        Scenario::ChildSuggestions,
        Scenario::FunnelCold,
        Scenario::FunnelWarm,
        Scenario::ScorecardCold,
        Scenario::ScorecardWarm,
        Scenario::Child,
        Scenario::Children,
        Scenario::Writes,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::MatchSuggestions => "matchSuggestions",
            Scenario::ChildSuggestions => "childSuggestions",
            Scenario::FunnelCold => "funnel-cold",
            Scenario::FunnelWarm => "funnel-warm",
            Scenario::ScorecardCold => "scorecard-cold",
            Scenario::ScorecardWarm => "scorecard-warm",
            Scenario::Child => "child",
            Scenario::Children => "children",
            Scenario::Writes => "writes",
        }
    }

    /// Concurrent clients unless `--clients` says otherwise: the issue's 32 for the record
    /// reads and 8 for the write mix; 4 for the suggestions and reports, whose requests
    /// are CPU-bound on the server, so that more clients would mostly measure queueing on
    /// a small machine rather than the latency of one request.
    pub fn default_clients(self) -> usize {
        match self {
            Scenario::Child | Scenario::Children => 32,
            Scenario::Writes => 8,
            Scenario::MatchSuggestions
            | Scenario::ChildSuggestions
            | Scenario::FunnelCold
            | Scenario::FunnelWarm
            | Scenario::ScorecardCold
            | Scenario::ScorecardWarm => 4,
        }
    }

    /// The report cache status every response must carry, if any.
    pub fn expected_cache(self) -> Option<&'static str> {
        match self {
            Scenario::FunnelCold | Scenario::ScorecardCold => Some("MISS"),
            Scenario::FunnelWarm | Scenario::ScorecardWarm => Some("HIT"),
            _ => None,
        }
    }

    /// The scenarios `names` stand for, in the order given, each once; all of them for
    /// none. `recruitmentFunnel` and `scorecard` stand for their cold and warm runs.
    pub fn parse_list(names: &[String]) -> anyhow::Result<Vec<Scenario>> {
        if names.is_empty() {
            return Ok(Scenario::ALL.to_vec());
        }
        let mut chosen = Vec::new();
        for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
            let named: Vec<Scenario> = match name {
                "recruitmentFunnel" | "funnel" => vec![Scenario::FunnelCold, Scenario::FunnelWarm],
                "scorecard" => vec![Scenario::ScorecardCold, Scenario::ScorecardWarm],
                "all" => Scenario::ALL.to_vec(),
                _ => match Scenario::ALL.iter().find(|s| s.name() == name) {
                    Some(s) => vec![*s],
                    None => anyhow::bail!(
                        "unknown scenario {name}; known: {}, recruitmentFunnel, scorecard, all",
                        Scenario::ALL.map(Scenario::name).join(", ")
                    ),
                },
            };
            for s in named {
                if !chosen.contains(&s) {
                    chosen.push(s);
                }
            }
        }
        Ok(chosen)
    }
}

const MATCH_SUGGESTIONS: &str = r#"query BenchMatchSuggestions($child: ID!) {
  matchSuggestions(childId: $child, first: 20) {
    poolSize
    eligible
    excluded { rule count }
    suggestions {
      score
      household {
        ... on Household { id profileName waitingDays }
        ... on HouseholdProfile { id profileName waitingDays }
      }
      criteria { criterion score weight reason }
    }
  }
}"#;

const CHILD_SUGGESTIONS: &str = r#"query BenchChildSuggestions($household: ID!) {
  childSuggestions(householdId: $household, first: 20) {
    poolSize
    eligible
    excluded { rule count }
    suggestions {
      score
      siblingGroupId
      children {
        ... on Child { id profileName waitingDays }
        ... on ChildProfile { id profileName waitingDays }
      }
      criteria { criterion score weight reason }
    }
  }
}"#;

const FUNNEL: &str = r#"query BenchFunnel($from: Date!, $to: Date!, $asOf: Date) {
  recruitmentFunnel(period: { from: $from, to: $to }, asOf: $asOf, groupBy: [AUTHORITY]) {
    asOf
    suppressionApplied
    total { ...funnelGroup }
    groups { authority { code } ...funnelGroup }
  }
}
fragment funnelGroup on FunnelGroup {
  stageCounts { stage count { value suppressed } }
  cohort {
    size { value suppressed }
    approved { value suppressed }
    leftBeforeApproval { value suppressed }
    inProgress { value suppressed }
  }
  timeliness {
    step
    count { value suppressed }
    meanDays { value suppressed }
    medianDays { value suppressed }
    withinTarget { value suppressed }
  }
}"#;

const SCORECARD: &str = r#"query BenchScorecard($from: Date!, $to: Date!, $asOf: Date) {
  scorecard(period: { from: $from, to: $to }, asOf: $asOf) {
    asOf
    period { from to total { ...figures } authorities { authority { code } ...figures } }
    years { from to total { ...figures } }
  }
}
fragment figures on ScorecardFigures {
  suppressionApplied
  cohort { value suppressed }
  a1 { days { value suppressed } cohort { value suppressed } met }
  a10 { days { value suppressed } cohort { value suppressed } met }
  a2 { days { value suppressed } cohort { value suppressed } met }
  a3 { count { value suppressed } percent { value suppressed } cohort { value suppressed } }
}"#;

const CHILD: &str = r#"query BenchChild($id: ID!) {
  child(id: $id) {
    id
    version
    authority { code }
    legalName
    dateOfBirth
    age { years months }
    profileName
    gender
    ethnicity
    needs {
      physicalHealth disability learning developmentalUncertainty
      emotionalBehavioural prenatalExposure
    }
    requiresEarlyPermanence
    status
    waitingDays
    inPool
    milestones {
      enteredCareOn adoptionPlanOn shobpaDecisionOn placementOrderOn matchDecisionOn
      placedOn adoptionOrderOn
    }
    siblingGroup { id mustStayTogether }
  }
}"#;

const CHILDREN: &str = r#"query BenchChildren($after: String) {
  children(first: 50, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      version
      profileName
      dateOfBirth
      gender
      status
      waitingDays
      age { years months }
      milestones { enteredCareOn placementOrderOn matchDecisionOn placedOn }
    }
  }
}"#;

/// One request to make: as whom, what, with which variables.
pub struct Operation<'a> {
    pub bearer: &'a str,
    pub query: &'static str,
    pub variables: Value,
}

/// The read scenarios' requests.
pub struct Reads {
    fixture: std::sync::Arc<Fixture>,
    /// The end of the latest reporting year on or before today (a 31 March).
    year_end: NaiveDate,
    today: NaiveDate,
    /// Next cold request number, shared by every client; starts at a clock-derived
    /// offset so that the cold keys of consecutive runs differ.
    cold: AtomicU64,
}

impl Reads {
    /// Reads over `fixture`.
    pub fn new(fixture: std::sync::Arc<Fixture>) -> Self {
        let today = Utc::now().date_naive();
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
            % 1_000_003;
        Reads {
            fixture,
            year_end: year_end_on_or_before(today),
            today,
            cold: AtomicU64::new(start),
        }
    }

    /// Whether `scenario` has what it needs in the fixture; the reason if not.
    pub fn check(&self, scenario: Scenario) -> Result<(), String> {
        let f = &self.fixture;
        match scenario {
            Scenario::MatchSuggestions if f.waiting.is_empty() => Err("no waiting children".into()),
            Scenario::ChildSuggestions if f.approved.is_empty() => {
                Err("no approved households".into())
            }
            Scenario::Child if f.children.is_empty() => Err("no children".into()),
            Scenario::Children if f.child_pages.is_empty() => Err("no children".into()),
            _ => Ok(()),
        }
    }

    /// The next request of `scenario` (a read scenario) for a client drawing from `rng`.
    pub fn next(&self, scenario: Scenario, rng: &mut impl Rng) -> Operation<'_> {
        let f = &*self.fixture;
        match scenario {
            Scenario::MatchSuggestions => {
                let child = &f.children[*f.waiting.choose(rng).expect("checked")];
                Operation {
                    bearer: &f.family_finders[&child.authority].bearer,
                    query: MATCH_SUGGESTIONS,
                    variables: json!({ "child": child.id }),
                }
            }
            Scenario::ChildSuggestions => {
                let household = f.approved.choose(rng).expect("checked");
                Operation {
                    bearer: &f.family_finders[&household.authority].bearer,
                    query: CHILD_SUGGESTIONS,
                    variables: json!({ "household": household.id }),
                }
            }
            Scenario::FunnelWarm => self.report(FUNNEL, 1, None),
            Scenario::FunnelCold => self.report(FUNNEL, 1, Some(self.next_cold())),
            Scenario::ScorecardWarm => self.report(SCORECARD, 3, None),
            Scenario::ScorecardCold => self.report(SCORECARD, 3, Some(self.next_cold())),
            Scenario::Child => {
                let child = f.children.choose(rng).expect("checked");
                Operation {
                    bearer: &f.family_finders[&child.authority].bearer,
                    query: CHILD,
                    variables: json!({ "id": child.id }),
                }
            }
            Scenario::Children => {
                let codes: Vec<&String> = f.child_pages.keys().collect();
                let code = *codes.choose(rng).expect("checked");
                let after = f.child_pages[code].choose(rng).expect("non-empty");
                Operation {
                    bearer: &f.family_finders[code].bearer,
                    query: CHILDREN,
                    variables: json!({ "after": after }),
                }
            }
            Scenario::Writes => unreachable!("the write mix has its own driver"),
        }
    }

    fn next_cold(&self) -> u64 {
        self.cold.fetch_add(1, Ordering::Relaxed)
    }

    /// A report over `years` whole years as the manager of every authority: the latest reporting years
    /// (1 April to 31 March) as of their last day for the warm run (`cold: None`); for cold
    /// request number `n`, a window of as many years and an `asOf` no other request of the
    /// run uses (see [`cold_key`]).
    fn report(&self, query: &'static str, years: u32, cold: Option<u64>) -> Operation<'_> {
        let (end, as_of) = match cold {
            None => (self.year_end, self.year_end),
            Some(n) => cold_key(n, self.year_end, self.today),
        };
        let from = window_start(end, years);
        Operation {
            bearer: &self.fixture.manager.bearer,
            query,
            variables: json!({ "from": from, "to": end, "asOf": as_of }),
        }
    }
}

/// How many days the cold windows slide back from the latest reporting year end.
const COLD_SLIDE_DAYS: u64 = 365;

/// The window end and `asOf` of cold request `n`, for a window of whole years ending on
/// `end` (so shaped like the warm one: as long, as much data, the same yearly breakdown):
/// `end` slides back day by day from `year_end` over [`COLD_SLIDE_DAYS`], and `asOf` runs
/// from `end` to today. All windows are taken with `asOf` on their last day first, then
/// with `asOf` a day later, and so on; the warm pair (`year_end` as of itself) is left
/// out. Tens of thousands of pairs, so a run's requests never repeat one (and consecutive
/// runs, starting at clock-derived offsets, rarely share one).
pub fn cold_key(n: u64, year_end: NaiveDate, today: NaiveDate) -> (NaiveDate, NaiveDate) {
    let gap = (today - year_end).num_days().max(0) as u64;
    // Windows ending `slide` days before `year_end` can have `asOf` up to `gap + slide`
    // days after their end; at level `a` (days from the end to `asOf`), the windows from
    // `a - gap` days back take part.
    let level_size = |a: u64| COLD_SLIDE_DAYS.saturating_sub(a.saturating_sub(gap));
    let total: u64 = (0..gap + COLD_SLIDE_DAYS).map(level_size).sum();
    // Skip index 0: the warm pair.
    let mut i = 1 + n % (total - 1).max(1);
    for a in 0..gap + COLD_SLIDE_DAYS {
        let size = level_size(a);
        if i < size {
            let slide = a.saturating_sub(gap) + i;
            let end = year_end - TimeDelta::days(slide as i64);
            return (end, end + TimeDelta::days(a as i64));
        }
        i -= size;
    }
    (year_end, today)
}

/// The latest 31 March on or before `day`.
pub fn year_end_on_or_before(day: NaiveDate) -> NaiveDate {
    let this_year = NaiveDate::from_ymd_opt(day.year(), 3, 31).expect("31 March exists");
    if this_year <= day {
        this_year
    } else {
        NaiveDate::from_ymd_opt(day.year() - 1, 3, 31).expect("31 March exists")
    }
}

/// The first day of the window of `years` whole years ending on `end` (for a 31 March,
/// 1 April `years` years before).
fn window_start(end: NaiveDate, years: u32) -> NaiveDate {
    end.checked_sub_months(Months::new(12 * years))
        .map(|d| d + TimeDelta::days(1))
        .unwrap_or(end)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn names_parse_and_groups_expand() {
        let all = Scenario::parse_list(&[]).expect("all");
        assert_eq!(all, Scenario::ALL.to_vec());
        let some =
            Scenario::parse_list(&["scorecard".into(), "child".into(), "scorecard-warm".into()])
                .expect("parsed");
        assert_eq!(
            some,
            vec![
                Scenario::ScorecardCold,
                Scenario::ScorecardWarm,
                Scenario::Child
            ]
        );
        assert!(Scenario::parse_list(&["nonsense".into()]).is_err());
        for s in Scenario::ALL {
            assert_eq!(
                Scenario::parse_list(&[s.name().into()]).expect("own name"),
                vec![s]
            );
        }
    }

    #[test]
    fn the_reporting_year_ends_on_the_latest_31_march() {
        assert_eq!(year_end_on_or_before(d("2026-11-23")), d("2026-03-31"));
        assert_eq!(year_end_on_or_before(d("2026-03-31")), d("2026-03-31"));
        assert_eq!(year_end_on_or_before(d("2026-03-30")), d("2025-03-31"));
        assert_eq!(window_start(d("2026-03-31"), 1), d("2025-04-01"));
        assert_eq!(window_start(d("2026-03-31"), 3), d("2023-04-01"));
    }

    #[test]
    fn cold_keys_never_repeat_within_a_run_nor_hit_the_warm_key() {
        for today in [d("2026-11-23"), d("2026-03-31"), d("2026-04-01")] {
            let year_end = year_end_on_or_before(today);
            let mut seen = HashSet::new();
            for n in 10_000..60_000 {
                let (end, as_of) = cold_key(n, year_end, today);
                assert!(as_of <= today && as_of >= end, "{end} {as_of}");
                assert!(
                    end <= year_end && (year_end - end).num_days() < 365,
                    "{end}"
                );
                assert_ne!((end, as_of), (year_end, year_end), "the warm key");
                assert!(seen.insert((end, as_of)), "repeated at {n} for {today}");
            }
        }
        // Consecutive requests take different windows.
        let year_end = d("2026-03-31");
        let (a, _) = cold_key(7, year_end, d("2026-11-23"));
        let (b, _) = cold_key(8, year_end, d("2026-11-23"));
        assert_ne!(a, b);
    }
}
