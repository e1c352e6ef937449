//! What a protected audience is shown: the tables of a consortium's publication at a quarter
//! end ([`super::publication`]), read cell by cell from the one decision made over all of
//! them, so that a figure is shown or withheld alike in every report and export.
//!
//! A cell is shown when the decision shows it, or when the reader already knows it (a
//! member reading its own authority's figures: the audit accounts for that knowledge). A
//! figure derived from cells — a mean from its sum of days and its cases, a percentage
//! from its numerator and base — is shown only when every cell it is made of is, and then
//! by the rules of [`disclosure`] (means and percentages over 10 cases or fewer withheld).
//! A median is not a linear figure: it is shown with its mean and by the same rule.
use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use strum::IntoEnumIterator;

use super::disclosure::{self, Audience, Shown};
use super::flows::{PublishedCell, PublishedFlows, PublishedTotal};
use super::funnel::{
    EXIT_STAGES, FUNNEL_STAGES, PublishedCohort, PublishedCohortStage, PublishedExit,
    PublishedGroup, PublishedLeftAfter, PublishedStageCount, PublishedStep, Step,
};
use super::publication::{Periods, span};
use super::scorecard::{
    self, A1_THRESHOLD_DAYS, A2_THRESHOLD_DAYS, PublishedFigures, PublishedPeriod, PublishedShare,
    round_half_up,
};
use super::sufficiency::{Characteristic, PublishedRow};
use super::suppression::{self, Audit, Decision, Model};
use super::{EnquiryChannel, Period, RecruitmentReason};

/// A consortium's publication at a quarter end as it is kept: the cells and relations, the
/// decision, and the medians of the funnel's steps (by the key of the step's count).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Published {
    pub quarter_end: NaiveDate,
    /// The consortium's authorities when it was made, in order.
    pub authorities: Vec<i64>,
    pub model: Model,
    pub decision: Decision,
    pub medians: BTreeMap<String, f64>,
}

/// The size of a publication: its cells (published and implied), relations, readers (the
/// outsider and each authority), and withheld figures (small ones, and those withheld to
/// protect them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub cells: usize,
    pub published: usize,
    pub relations: usize,
    pub readers: usize,
    pub withheld: usize,
    pub primary: usize,
}

/// A publication's model joined with other kept publications' models: its own cells
/// first, a figure the others hold with the same value being the same cell; then the
/// others' other cells (a figure revised since keyed `key@quarter end`) and all their
/// relations. What the others decided binds: a cell one of them shows is public (it stays
/// shown), one they all withhold stays withheld. Deciding and auditing over the joint model
/// makes a figure shown or withheld alike in every publication, and proves no withheld
/// figure can be worked out from several publications together.
pub struct Joint {
    pub model: Model,
    /// The decision the others made, per cell of the joint model.
    pub decided: Vec<Option<bool>>,
    /// How many cells are the publication's own (the first ones).
    pub own: usize,
}

/// Joins `own` (a new publication's model) with `others`.
pub fn joint(own: &Model, others: &[&Published]) -> Joint {
    let mut model = own.clone();
    model.reindex();
    let n = model.cells.len();
    let mut decided: Vec<Option<bool>> = vec![None; n];
    for p in others {
        let mut at = Vec::with_capacity(p.model.cells.len());
        for cell in &p.model.cells {
            let i = match model.find(&cell.key) {
                Some(i) if model.cells[i].value == cell.value => i,
                // A figure revised since: another quantity.
                Some(_) => model.push(suppression::Cell {
                    key: format!("{}@{}", cell.key, p.quarter_end),
                    ..cell.clone()
                }),
                None => model.push(cell.clone()),
            };
            at.push(i);
        }
        for (j, cell) in p.model.cells.iter().enumerate() {
            let i = at[j];
            if i >= n
                && let suppression::Kind::Sum { cases, per_case } = cell.kind
            {
                model.cells[i].kind = suppression::Kind::Sum {
                    cases: at[cases],
                    per_case,
                };
            }
            if i >= decided.len() {
                decided.resize(i + 1, None);
            }
            if cell.published {
                let withheld = p.decision.withheld[j];
                decided[i] = Some(decided[i].unwrap_or(true) && withheld);
            }
        }
        for terms in &p.model.relations {
            model.relate(terms.iter().map(|(c, k)| (at[*c], *k)).collect());
        }
    }
    decided.resize(model.cells.len(), None);
    model.close_knowledge();
    Joint {
        model,
        decided,
        own: n,
    }
}

impl Joint {
    /// The joint decision with `own` as the publication's own part.
    pub fn decision(&self, own: &Decision) -> Decision {
        let decided: Vec<Option<bool>> = (0..self.model.cells.len())
            .map(|i| {
                if i < self.own {
                    own.withheld.get(i).copied()
                } else {
                    self.decided[i]
                }
            })
            .collect();
        Decision::decided(&self.model, &decided)
    }
}

/// Which rows of a published table: one authority's, or the consortium's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Consortium,
    Authority(i64),
}

/// The breakdown of a published funnel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FunnelBreakdown {
    None,
    Authority,
    Channel,
}

/// A publication as one reader sees it: what the reader knows (the authorities it reads
/// in full) is shown as it is.
pub struct Reading<'a> {
    pub published: &'a Published,
    pub knows: &'a [i64],
}

impl Published {
    /// Its periods.
    pub fn periods(&self) -> Periods {
        Periods::at(self.quarter_end).expect("a publication is made at a quarter end")
    }

    /// The audit of its decision ([`suppression::audit`]).
    pub fn audit(&self) -> Audit {
        suppression::audit(&self.model, &self.decision)
    }

    /// How many cells, relations, readers and withheld figures it has.
    pub fn summary(&self) -> Summary {
        let m = &self.model;
        let withheld = |i: &usize| self.decision.withheld[*i];
        Summary {
            cells: m.cells.len(),
            published: m.cells.iter().filter(|c| c.published).count(),
            relations: m.relations.len(),
            readers: m.members().len() + 1,
            withheld: (0..m.cells.len()).filter(withheld).count(),
            primary: (0..m.cells.len())
                .filter(withheld)
                .filter(|i| m.sensitive(*i))
                .count(),
        }
    }

    /// Rebuilds what is not kept (the key index).
    pub fn loaded(mut self) -> Published {
        self.model.reindex();
        self
    }

    /// The publication as `knows` reads it.
    pub fn read_by<'a>(&'a self, knows: &'a [i64]) -> Reading<'a> {
        Reading {
            published: self,
            knows,
        }
    }
}

fn group_name(scope: Scope) -> String {
    match scope {
        Scope::Consortium => "all".to_owned(),
        Scope::Authority(a) => format!("authority:{a}"),
    }
}

impl Reading<'_> {
    /// Whether the reader knows every figure about `scope`.
    fn knows_scope(&self, scope: Scope) -> bool {
        match scope {
            Scope::Consortium => self
                .published
                .authorities
                .iter()
                .all(|a| self.knows.contains(a)),
            Scope::Authority(a) => self.knows.contains(&a),
        }
    }

    fn audience(&self, scope: Scope) -> Audience {
        if self.knows_scope(scope) {
            Audience::Unrestricted
        } else {
            Audience::Restricted
        }
    }

    /// A published cell as the reader sees it; absent when the publication has no such
    /// cell.
    pub fn cell(&self, key: &str) -> Shown<i64> {
        let p = self.published;
        let Some(i) = p.model.find(key) else {
            return Shown::absent();
        };
        let c = &p.model.cells[i];
        if !c.published {
            return Shown::absent();
        }
        let known = c.known_to.iter().any(|a| self.knows.contains(a));
        if p.decision.withheld[i] && !known {
            Shown::withheld()
        } else {
            Shown::visible(c.value)
        }
    }

    fn count(&self, key: &str) -> Shown<u64> {
        self.cell(key).map(|v| v.max(0) as u64)
    }

    /// A mean of a sum over its cases, both shown; rounded by `round`.
    fn mean<T>(
        sum: Shown<i64>,
        cases: Shown<u64>,
        audience: Audience,
        round: impl FnOnce(i64, u64) -> T,
    ) -> Shown<T> {
        match (sum.value, cases.value) {
            (_, Some(0)) => Shown::absent(),
            (Some(s), Some(n)) => disclosure::mean(n, round(s, n), audience),
            _ => Shown::withheld(),
        }
    }

    /// The scorecard over `window` (the publication's three-year window, or one of its
    /// years) for `scope`: the window, then its years (the year alone for a year).
    pub fn scorecard(
        &self,
        window: &Period,
        scope: Scope,
    ) -> (PublishedPeriod, Vec<PublishedPeriod>) {
        let rows: Vec<Scope> = match scope {
            Scope::Consortium => self
                .published
                .authorities
                .iter()
                .map(|a| Scope::Authority(*a))
                .collect(),
            one => vec![one],
        };
        let table = |w: &Period| PublishedPeriod {
            from: w.from(),
            to: w.to(),
            total: self.scorecard_figures(w, scope),
            authorities: rows.iter().map(|r| self.scorecard_figures(w, *r)).collect(),
        };
        let years = scorecard::yearly_windows(window);
        (table(window), years.iter().map(table).collect())
    }

    fn scorecard_figures(&self, window: &Period, scope: Scope) -> PublishedFigures {
        let prefix = format!("scorecard/{}/{}", span(window), group_name(scope));
        let get = |measure: &str| format!("{prefix}/{measure}");
        let audience = self.audience(scope);
        let placed = self.count(&get("placed"));
        let a2 = self.count(&get("a2"));
        let within = self.count(&get("a3Within"));
        let days = |measure: &str, cases: Shown<u64>| {
            Self::mean(self.cell(&get(measure)), cases, audience, |s, n| {
                round_half_up(s, n).unwrap_or(0)
            })
        };
        PublishedFigures {
            authority: match scope {
                Scope::Consortium => None,
                Scope::Authority(a) => Some(a),
            },
            suppression_applied: audience == Audience::Restricted,
            cohort: self.count(&get("cohort")),
            a1: scorecard::mean_figure(days("a1Days", placed), placed, A1_THRESHOLD_DAYS),
            a10: scorecard::mean_figure(days("a10Days", placed), placed, A1_THRESHOLD_DAYS),
            a2: scorecard::mean_figure(days("a2Days", a2), a2, A2_THRESHOLD_DAYS),
            a3: PublishedShare {
                count: within,
                percent: disclosure::share_of_shown(within, placed, audience),
                cohort: placed,
                threshold_days: A1_THRESHOLD_DAYS,
            },
        }
    }

    /// The funnel of `period` (the publication's quarter or year) for `scope`, as the
    /// whole and its groups by `breakdown`.
    pub fn funnel(
        &self,
        period: &Period,
        scope: Scope,
        breakdown: FunnelBreakdown,
    ) -> (PublishedGroup, Vec<PublishedGroup>) {
        let prefix = format!("funnel/{}", span(period));
        let total = self.funnel_group(&prefix, &group_name(scope), self.audience(scope));
        let total = PublishedGroup {
            authority: None,
            channel: None,
            ..total
        };
        let groups = match breakdown {
            FunnelBreakdown::None => Vec::new(),
            FunnelBreakdown::Authority => match scope {
                Scope::Consortium => self.published.authorities.clone(),
                Scope::Authority(a) => vec![a],
            }
            .iter()
            .map(|a| {
                let scope = Scope::Authority(*a);
                PublishedGroup {
                    authority: Some(*a),
                    ..self.funnel_group(&prefix, &group_name(scope), self.audience(scope))
                }
            })
            .collect(),
            FunnelBreakdown::Channel => EnquiryChannel::iter()
                .map(|c| PublishedGroup {
                    channel: Some(c),
                    ..self.funnel_group(
                        &prefix,
                        &format!("channel:{}", c.code()),
                        Audience::Restricted,
                    )
                })
                .collect(),
        };
        (total, groups)
    }

    fn funnel_group(&self, prefix: &str, name: &str, audience: Audience) -> PublishedGroup {
        let key = |figure: &str| format!("{prefix}/{name}/{figure}");
        let count = |figure: &str| self.count(&key(figure));
        let stage_counts = FUNNEL_STAGES
            .iter()
            .chain(EXIT_STAGES.iter())
            .map(|stage| PublishedStageCount {
                stage: *stage,
                count: count(&format!("stage/{}", stage.code())),
            })
            .collect();
        let size = count("cohort");
        let stages = FUNNEL_STAGES
            .iter()
            .map(|stage| {
                let reached = count(&format!("reached/{}", stage.code()));
                let eligible = count(&format!("eligible/{}", stage.code()));
                PublishedCohortStage {
                    stage: *stage,
                    reached,
                    eligible,
                    from_previous: disclosure::share_of_shown(reached, eligible, audience),
                    from_enquiry: disclosure::share_of_shown(reached, size, audience),
                }
            })
            .collect();
        let exits = EXIT_STAGES
            .iter()
            .flat_map(|stage| {
                std::iter::once(None)
                    .chain(RecruitmentReason::iter().map(Some))
                    .map(move |reason| (*stage, reason))
            })
            .map(|(stage, reason)| PublishedExit {
                stage,
                reason,
                count: count(&format!(
                    "exit/{}/{}",
                    stage.code(),
                    reason.map(|r| r.code()).unwrap_or("NONE")
                )),
            })
            .collect();
        let left_after = FUNNEL_STAGES
            .iter()
            .map(|stage| PublishedLeftAfter {
                stage: *stage,
                count: count(&format!("leftAfter/{}", stage.code())),
            })
            .collect();
        let timeliness = Step::ALL
            .iter()
            .map(|step| {
                let figure = format!("step/{}", step.code());
                let n = count(&figure);
                let mean_days = Self::mean(
                    self.cell(&key(&format!("{figure}/days"))),
                    n,
                    audience,
                    |s, n| s as f64 / n as f64,
                );
                let median_days = match (mean_days.value, n.value) {
                    (Some(_), Some(n)) => self
                        .published
                        .medians
                        .get(&key(&figure))
                        .map_or(Shown::absent(), |m| disclosure::median(n, *m, audience)),
                    _ => mean_days.map(|_| 0.0),
                };
                PublishedStep {
                    step: *step,
                    target_months: step.target_months(),
                    count: n,
                    mean_days,
                    median_days,
                    within_target: match step.target_months() {
                        Some(_) => disclosure::share_of_shown(
                            count(&format!("{figure}/within")),
                            n,
                            audience,
                        ),
                        None => Shown::absent(),
                    },
                }
            })
            .collect();
        PublishedGroup {
            authority: None,
            channel: None,
            enquiry_month: None,
            stage_counts,
            cohort: PublishedCohort {
                size,
                fast_track: count("fastTrack"),
                stages,
                approved: count("approved"),
                left_before_approval: count("leftBeforeApproval"),
                in_progress: count("inProgress"),
                on_hold: count("onHold"),
                exits,
                left_after,
            },
            timeliness,
        }
    }

    /// The flows of `period` (the publication's quarter or year): the whole matrix of the
    /// consortium.
    pub fn flows(&self, period: &Period) -> PublishedFlows {
        let prefix = format!("flows/{}", span(period));
        let authorities = &self.published.authorities;
        let audience = self.audience(Scope::Consortium);
        let fees = |key: &str| self.count(&format!("{key}/fees"));
        let mut cells = Vec::new();
        let mut cross_fees = Shown::visible(0u64);
        for a in authorities {
            for b in authorities {
                let key = format!("{prefix}/{a}->{b}");
                let fees_pence = fees(&key);
                if a != b {
                    cross_fees = match (cross_fees.value, fees_pence.value) {
                        (Some(x), Some(y)) => Shown::visible(x + y),
                        _ => Shown::withheld(),
                    };
                }
                cells.push(PublishedCell {
                    child_authority: *a,
                    household_authority: *b,
                    children: self.count(&key),
                    fees_pence,
                });
            }
        }
        let total = |authority: Option<i64>, key: String| PublishedTotal {
            authority,
            children: self.count(&key),
            fees_pence: fees(&key),
        };
        let all = total(None, format!("{prefix}/all"));
        let cross = self.count(&format!("{prefix}/cross"));
        PublishedFlows {
            cells,
            by_child_authority: authorities
                .iter()
                .map(|a| total(Some(*a), format!("{prefix}/from:{a}")))
                .collect(),
            by_household_authority: authorities
                .iter()
                .map(|a| total(Some(*a), format!("{prefix}/to:{a}")))
                .collect(),
            total: all,
            cross_boundary_percent: disclosure::share_of_shown(cross, all.children, audience),
            cross_boundary_children: cross,
            cross_boundary_fees_pence: cross_fees,
        }
    }

    /// Sufficiency as at the quarter end for `scope`.
    pub fn sufficiency(&self, scope: Scope) -> Vec<PublishedRow> {
        let prefix = format!(
            "sufficiency/{}/{}",
            self.published.quarter_end,
            group_name(scope)
        );
        Characteristic::iter()
            .map(|characteristic| {
                let get = |measure: &str| {
                    self.count(&format!("{prefix}/{}/{measure}", characteristic.code()))
                };
                let units = get("units");
                let households = get("households");
                PublishedRow {
                    characteristic,
                    children: get("children"),
                    gap: match (units.value, households.value) {
                        (Some(u), Some(h)) => Some(h as i64 - u as i64),
                        _ => None,
                    },
                    units,
                    households,
                }
            })
            .collect()
    }
}
