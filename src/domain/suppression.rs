//! Joint cell suppression over one publication, and the audit that proves it (DESIGN §5).
//!
//! A publication is a set of **cells** tied by linear **relations**. A cell is a count (of
//! children, households, placements) or a sum of days (the figure behind a published
//! mean); it is *published* (some table shows it) or *hidden* (a quantity the relations
//! imply that no table shows, such as the children of a percentage's base who are not in
//! its numerator, or the quarters of a year that are not published). A relation says that
//! a weighted sum of cells is zero: a total and its parts, a year and its quarters, a
//! cohort and the households it splits into.
//!
//! **Protection rule.** A cell is *sensitive* when it is a count of 1 to 5, or a sum of
//! days over 1 to 10 cases (a mean of so few cases is one person's figure). Every
//! sensitive cell that the reader does not already know must keep, given every published
//! figure and every relation, a feasible interval of at least
//! - [`COUNT_PROTECTION`] (5) for a count: a withheld small count is never pinned to a
//!   value, nor to a range narrower than the 1–5 band it is withheld for;
//! - its own value, and at least [`DAYS_PROTECTION_PER_CASE`] days per case, for a sum
//!   of days: a withheld mean cannot be worked out to better than about half its value, nor
//!   to within a month.
//!
//! Readers: an outsider knows only what is published. A member of an authority also knows
//! its own authority's figures ([`Cell::known_to`]), so the rule is checked again for each
//! authority with that authority's figures taken as known (sensitive cells it knows are
//! not checked for it: they are its own).
//!
//! **Method.** Primary suppression withholds every published sensitive cell. Secondary
//! suppression then repeats, until nothing changes: a relation with exactly one unknown
//! cell (for some reader) pins it, so when that cell is sensitive, another shown cell of the
//! relation is withheld (the smallest non-zero one the reader does not know); then the
//! audit below is run, and for each sensitive cell left with too narrow an interval, one
//! more shown cell of a relation around it is withheld. A mean is shown only where its
//! count is (so a published mean never ties two withheld cells together). Each round
//! withholds at least one more cell, so the process ends; it ends with every sensitive cell
//! protected, or with the cells no suppression can protect (a reader's own figures pin
//! them), which the audit then reports. Last, the largest secondary suppressions are tried
//! one by one for showing again, and shown where the audit still passes without them. This
//! is an audit-driven greedy variant of the secondary suppression that τ-ARGUS's modular and
//! optimal methods solve as one optimisation: it may withhold more than an optimum would,
//! never less than the rule needs.
//!
//! **Audit.** For every sensitive cell the reader does not know, the interval is found by
//! linear programming (`microlp`, pure Rust): minimise and maximise the cell subject to every
//! relation, with the published figures fixed at their values, every unknown cell ≥ 0. The
//! intervals are those of the linear relaxation, as in τ-ARGUS's audit; an attacker who also
//! uses that counts are whole numbers may narrow an interval's ends to whole numbers, no more
//! is claimed. Programs are saved where they cannot change the verdict: the true figures and
//! every solution found are feasible points, and a cell whose values among them already
//! spread as wide as the rule asks is protected (its reported interval is then that spread,
//! which the true interval contains).
use std::collections::{BTreeMap, BTreeSet, HashMap};

use microlp::{ComparisonOp, OptimizationDirection, Problem};
use serde::{Deserialize, Serialize};

use super::disclosure::{LARGEST_SUPPRESSED_BASE, LARGEST_SUPPRESSED_COUNT};

/// The narrowest interval a withheld small count may keep.
pub const COUNT_PROTECTION: f64 = LARGEST_SUPPRESSED_COUNT as f64;

/// The narrowest interval a withheld sum of days may keep, per case it is over.
pub const DAYS_PROTECTION_PER_CASE: i64 = 30;

/// How many rounds of secondary suppression are run before every shown cell left around a
/// cell that still fails is withheld at once.
const MAX_ROUNDS: usize = 200;

/// How many secondary suppressions (the largest) are tried for showing again.
const PRUNE_CANDIDATES: usize = 25;

/// Numerical slack of the linear programs.
const EPSILON: f64 = 1e-6;

/// What a cell counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Children, households or placements.
    Count,
    /// A sum (of days, of fees) over the cases counted by another cell: the figure behind
    /// a mean. `per_case` is the least interval it must keep per case when withheld.
    Sum { cases: usize, per_case: i64 },
}

/// One quantity of the publication.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Names the cell across the publication (`report/period/group/figure`).
    pub key: String,
    pub value: i64,
    pub kind: Kind,
    /// Whether a table shows it; a hidden cell is implied by relations only.
    pub published: bool,
    /// The authorities whose members know the figure already (it is about their own).
    pub known_to: Vec<i64>,
}

/// The cells of a publication and the relations between them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Model {
    pub cells: Vec<Cell>,
    /// Each relation: Σ coefficient × cell = 0.
    pub relations: Vec<Vec<(usize, i64)>>,
    #[serde(skip)]
    index: HashMap<String, usize>,
}

impl Model {
    /// A published count (the same key twice is the same cell).
    pub fn count(&mut self, key: impl Into<String>, value: u64, known_to: &[i64]) -> usize {
        self.cell(key.into(), value as i64, Kind::Count, true, known_to)
    }

    /// A count no table shows, implied by the relations it is put in.
    pub fn hidden_count(&mut self, key: impl Into<String>, value: u64, known_to: &[i64]) -> usize {
        self.cell(key.into(), value as i64, Kind::Count, false, known_to)
    }

    /// A figure no table shows, of any kind, implied by the relations it is put in.
    pub fn hidden(
        &mut self,
        key: impl Into<String>,
        value: i64,
        kind: Kind,
        known_to: &[i64],
    ) -> usize {
        self.cell(key.into(), value, kind, false, known_to)
    }

    /// A published sum of days over the cases counted by `cases` (shown as their mean):
    /// withheld, it keeps an interval of [`DAYS_PROTECTION_PER_CASE`] days per case at least.
    pub fn days(
        &mut self,
        key: impl Into<String>,
        total: i64,
        cases: usize,
        known_to: &[i64],
    ) -> usize {
        self.sum_cell(key.into(), total, cases, DAYS_PROTECTION_PER_CASE, known_to)
    }

    /// A published sum of money over the cases counted by `cases`: withheld, it keeps an
    /// interval at least its own size.
    pub fn amount(
        &mut self,
        key: impl Into<String>,
        total: i64,
        cases: usize,
        known_to: &[i64],
    ) -> usize {
        self.sum_cell(key.into(), total, cases, 0, known_to)
    }

    fn sum_cell(
        &mut self,
        key: String,
        total: i64,
        cases: usize,
        per_case: i64,
        known_to: &[i64],
    ) -> usize {
        self.cell(key, total, Kind::Sum { cases, per_case }, true, known_to)
    }

    /// Adds a cell as it is (from another model); its index. A key already present is
    /// that cell.
    pub fn push(&mut self, cell: Cell) -> usize {
        let Cell {
            key,
            value,
            kind,
            published,
            known_to,
        } = cell;
        self.cell(key, value, kind, published, &known_to)
    }

    fn cell(
        &mut self,
        key: String,
        value: i64,
        kind: Kind,
        published: bool,
        known_to: &[i64],
    ) -> usize {
        if let Some(i) = self.index.get(&key) {
            debug_assert_eq!(self.cells[*i].value, value, "{key}");
            return *i;
        }
        let i = self.cells.len();
        self.index.insert(key.clone(), i);
        self.cells.push(Cell {
            key,
            value,
            kind,
            published,
            known_to: known_to.to_vec(),
        });
        i
    }

    /// The cell of a key, if the publication has it.
    pub fn find(&self, key: &str) -> Option<usize> {
        self.index.get(key).copied()
    }

    /// Rebuilds the key index (after deserialising).
    pub fn reindex(&mut self) {
        self.index = self
            .cells
            .iter()
            .enumerate()
            .map(|(i, c)| (c.key.clone(), i))
            .collect();
    }

    /// `total` is the sum of `parts`.
    pub fn sum(&mut self, total: usize, parts: &[usize]) {
        let mut terms = vec![(total, -1)];
        terms.extend(parts.iter().map(|p| (*p, 1)));
        self.relate(terms);
    }

    /// `whole` is `part` plus a hidden remainder (`key`), which is returned: the children
    /// of a percentage's base outside its numerator, say.
    pub fn remainder(&mut self, key: impl Into<String>, part: usize, whole: usize) -> usize {
        let value = (self.cells[whole].value - self.cells[part].value).max(0) as u64;
        let known: Vec<i64> = self.cells[whole]
            .known_to
            .iter()
            .filter(|a| self.cells[part].known_to.contains(a))
            .copied()
            .collect();
        let rest = self.hidden_count(key, value, &known);
        self.sum(whole, &[part, rest]);
        rest
    }

    /// Σ coefficient × cell = 0 (terms on the same cell are added; a relation of one cell
    /// or none says nothing and is dropped).
    pub fn relate(&mut self, terms: Vec<(usize, i64)>) {
        let mut merged: BTreeMap<usize, i64> = BTreeMap::new();
        for (c, k) in terms {
            *merged.entry(c).or_default() += k;
        }
        let terms: Vec<(usize, i64)> = merged.into_iter().filter(|(_, k)| *k != 0).collect();
        if terms.len() >= 2 {
            self.relations.push(terms);
        }
    }

    /// Adds to each cell's `known_to` the authorities that can work it out from their own
    /// figures alone: a relation in which a member knows every cell but one tells it that
    /// one (the cross-boundary placements of a two-authority consortium, say, are all
    /// placements of either). Repeated until nothing changes; called once the model is built.
    pub fn close_knowledge(&mut self) {
        loop {
            let mut learned: Vec<(usize, i64)> = Vec::new();
            for terms in &self.relations {
                let readers: BTreeSet<i64> = terms
                    .iter()
                    .flat_map(|(c, _)| self.cells[*c].known_to.iter().copied())
                    .collect();
                for a in readers {
                    let unknown: Vec<usize> = terms
                        .iter()
                        .map(|(c, _)| *c)
                        .filter(|c| !self.cells[*c].known_to.contains(&a))
                        .collect();
                    if let [only] = unknown[..] {
                        learned.push((only, a));
                    }
                }
            }
            if learned.is_empty() {
                return;
            }
            for (c, a) in learned {
                if !self.cells[c].known_to.contains(&a) {
                    self.cells[c].known_to.push(a);
                }
            }
        }
    }

    /// Whether the protection rule covers the cell.
    pub fn sensitive(&self, i: usize) -> bool {
        let c = &self.cells[i];
        match c.kind {
            Kind::Count => (1..=LARGEST_SUPPRESSED_COUNT as i64).contains(&c.value),
            Kind::Sum { cases, .. } => {
                (1..=LARGEST_SUPPRESSED_BASE as i64).contains(&self.cells[cases].value)
            }
        }
    }

    /// The narrowest interval the cell may keep when it is sensitive.
    pub fn required_width(&self, i: usize) -> f64 {
        let c = &self.cells[i];
        match c.kind {
            Kind::Count => COUNT_PROTECTION,
            Kind::Sum { cases, per_case } => {
                (c.value.max(per_case * self.cells[cases].value)) as f64
            }
        }
    }

    /// Every authority that knows some cell: the readers checked besides the outsider.
    pub fn members(&self) -> Vec<i64> {
        let set: BTreeSet<i64> = self
            .cells
            .iter()
            .flat_map(|c| c.known_to.iter().copied())
            .collect();
        set.into_iter().collect()
    }
}

/// Which published cells are withheld.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub withheld: Vec<bool>,
    /// Cells decided already (by an earlier publication), which no step may change.
    #[serde(skip, default)]
    frozen: Vec<bool>,
}

impl Decision {
    /// Nothing withheld.
    pub fn none(model: &Model) -> Decision {
        Decision {
            withheld: vec![false; model.cells.len()],
            frozen: Vec::new(),
        }
    }

    /// Nothing withheld but the cells `decided` already (`Some(withheld)`), which stay as
    /// they are.
    pub fn decided(model: &Model, decided: &[Option<bool>]) -> Decision {
        let at = |i: usize| decided.get(i).copied().flatten();
        Decision {
            withheld: (0..model.cells.len())
                .map(|i| at(i).unwrap_or(false))
                .collect(),
            frozen: (0..model.cells.len()).map(|i| at(i).is_some()).collect(),
        }
    }

    /// Whether the cell was decided already.
    fn is_frozen(&self, i: usize) -> bool {
        self.frozen.get(i).copied().unwrap_or(false)
    }

    /// The decision of the first `n` cells (a publication's own, out of a joint model).
    pub fn first(&self, n: usize) -> Decision {
        Decision {
            withheld: self.withheld[..n.min(self.withheld.len())].to_vec(),
            frozen: Vec::new(),
        }
    }

    /// Whether the reader (an outsider, or a member of `reader`) lacks the cell's value.
    fn unknown(&self, model: &Model, i: usize, reader: Option<i64>) -> bool {
        let c = &model.cells[i];
        if reader.is_some_and(|a| c.known_to.contains(&a)) {
            return false;
        }
        !c.published || self.withheld[i]
    }

    /// Withholds a published cell; `false` when it was withheld already or is hidden.
    fn withhold(&mut self, model: &Model, i: usize) -> bool {
        if model.cells[i].published && !self.withheld[i] && !self.is_frozen(i) {
            self.withheld[i] = true;
            true
        } else {
            false
        }
    }

    /// Withholds every mean whose count is not shown; `true` when something changed.
    fn close_means(&mut self, model: &Model) -> bool {
        let mut changed = false;
        for (i, c) in model.cells.iter().enumerate() {
            if let Kind::Sum { cases, .. } = c.kind
                && (!model.cells[cases].published || self.withheld[cases])
            {
                changed |= self.withhold(model, i);
            }
        }
        changed
    }
}

/// A sensitive cell's interval as the published figures leave it to one reader.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub key: String,
    /// `None`: an outsider; else a member of that authority, who knows its own figures.
    pub reader: Option<i64>,
    pub value: i64,
    pub lower: f64,
    /// `f64::INFINITY` when nothing bounds the cell from above.
    pub upper: f64,
    pub required: f64,
}

impl Interval {
    /// Whether the interval is at least as wide as the rule asks.
    pub fn protected(&self) -> bool {
        self.upper - self.lower + EPSILON >= self.required
    }
}

/// The audit of a publication: each sensitive cell's interval, for each reader.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Audit {
    pub intervals: Vec<Interval>,
    /// Relations the published figures contradict (a bug in the model), by index.
    pub contradictions: Vec<usize>,
}

impl Audit {
    /// The intervals narrower than the rule asks.
    pub fn failures(&self) -> impl Iterator<Item = &Interval> {
        self.intervals.iter().filter(|i| !i.protected())
    }

    /// Whether every sensitive cell is protected for every reader.
    pub fn passes(&self) -> bool {
        self.contradictions.is_empty() && self.failures().next().is_none()
    }
}

/// Decides the withheld cells of a publication (primary, then secondary until the audit
/// passes; see the module header).
pub fn suppress(model: &Model) -> Decision {
    suppress_decided(model, &[])
}

/// [`suppress`], with the cells `decided` already (`Some(withheld)`: by an earlier
/// publication holding the same figure) kept as they were.
pub fn suppress_decided(model: &Model, decided: &[Option<bool>]) -> Decision {
    let mut decision = Decision::decided(model, decided);
    for i in 0..model.cells.len() {
        if model.sensitive(i) {
            decision.withhold(model, i);
        }
    }
    let readers: Vec<Option<i64>> = std::iter::once(None)
        .chain(model.members().into_iter().map(Some))
        .collect();
    let by_cell = relations_by_cell(model);
    for round in 0.. {
        decision.close_means(model);
        let mut changed = false;
        for reader in &readers {
            changed |= close_lines(model, &mut decision, *reader);
        }
        if changed {
            continue;
        }
        let failures: Vec<(usize, Option<i64>)> = readers
            .iter()
            .flat_map(|r| {
                failing_cells(model, &decision, *r)
                    .into_iter()
                    .map(move |c| (c, *r))
            })
            .collect();
        if failures.is_empty() {
            break;
        }
        let mut changed = false;
        let mut widened = BTreeSet::new();
        for (cell, reader) in failures {
            // One more suppression per failing cell and round, whichever reader it fails for.
            if !widened.insert(cell) {
                continue;
            }
            changed |= widen(
                model,
                &mut decision,
                &by_cell,
                cell,
                reader,
                round >= MAX_ROUNDS,
            );
        }
        if !changed {
            // Nothing more can be withheld around the failing cells: the audit reports them.
            break;
        }
    }
    prune(model, &mut decision, &readers, &by_cell);
    decision
}

/// Shows again the secondary suppressions the rule does not need: counts before means,
/// largest first, up to [`PRUNE_CANDIDATES`] of them, a cell withheld only to protect
/// others is shown when every sensitive cell it was tied to stays protected for every reader
/// without it (the greedy rounds may have withheld more than that).
fn prune(model: &Model, decision: &mut Decision, readers: &[Option<i64>], by_cell: &[Vec<usize>]) {
    let mut secondary: Vec<usize> = (0..model.cells.len())
        .filter(|i| decision.withheld[*i] && !model.sensitive(*i) && !decision.is_frozen(*i))
        .collect();
    secondary.sort_by_key(|i| {
        let c = &model.cells[*i];
        (c.kind != Kind::Count, std::cmp::Reverse(c.value), *i)
    });
    for cell in secondary.into_iter().take(PRUNE_CANDIDATES) {
        if let Kind::Sum { cases, .. } = model.cells[cell].kind
            && decision.withheld[cases]
        {
            // A mean stays withheld while its count is.
            continue;
        }
        // The sensitive cells whose intervals can change: those tied to the cell now.
        let focus: Vec<(Option<i64>, BTreeSet<usize>)> = readers
            .iter()
            .map(|r| {
                let tied = component_of(model, decision, by_cell, *r, cell);
                (
                    *r,
                    tied.into_iter().filter(|c| model.sensitive(*c)).collect(),
                )
            })
            .collect();
        decision.withheld[cell] = false;
        // Cheap first: a relation left with one unknown cell, a protected one, pins it.
        let pins = readers.iter().any(|reader| {
            by_cell[cell].iter().any(|r| {
                let unknown: Vec<usize> = model.relations[*r]
                    .iter()
                    .map(|(c, _)| *c)
                    .filter(|c| decision.unknown(model, *c, *reader))
                    .collect();
                matches!(unknown[..], [only] if model.sensitive(only))
            })
        });
        let holds = !pins
            && focus.iter().all(|(reader, targets)| {
                targets.is_empty() || {
                    let (intervals, _) = intervals(model, decision, *reader, Some(targets));
                    intervals
                        .iter()
                        .all(|(c, lo, hi)| hi - lo + EPSILON >= model.required_width(*c))
                }
            });
        if !holds {
            decision.withheld[cell] = true;
        }
    }
}

/// The unknown cells tied to `cell` by relations, for one reader (with `cell` unknown).
fn component_of(
    model: &Model,
    decision: &Decision,
    by_cell: &[Vec<usize>],
    reader: Option<i64>,
    cell: usize,
) -> BTreeSet<usize> {
    let mut seen = BTreeSet::from([cell]);
    let mut frontier = vec![cell];
    while let Some(c) = frontier.pop() {
        for r in &by_cell[c] {
            for (o, _) in &model.relations[*r] {
                if decision.unknown(model, *o, reader) && seen.insert(*o) {
                    frontier.push(*o);
                }
            }
        }
    }
    seen
}

fn relations_by_cell(model: &Model) -> Vec<Vec<usize>> {
    let mut by_cell = vec![Vec::new(); model.cells.len()];
    for (r, terms) in model.relations.iter().enumerate() {
        for (c, _) in terms {
            by_cell[*c].push(r);
        }
    }
    by_cell
}

/// The cheap rule: a relation with one unknown cell pins it; when that cell is sensitive
/// (and not the reader's own), withhold one more shown cell of the relation.
fn close_lines(model: &Model, decision: &mut Decision, reader: Option<i64>) -> bool {
    let mut changed = false;
    for terms in &model.relations {
        let unknown: Vec<usize> = terms
            .iter()
            .map(|(c, _)| *c)
            .filter(|c| decision.unknown(model, *c, reader))
            .collect();
        if let [only] = unknown[..]
            && model.sensitive(only)
            && let Some(pick) = cheapest(
                model,
                decision,
                terms.iter().map(|(c, _)| *c),
                reader,
                model.required_width(only),
            )
        {
            changed |= decision.withhold(model, pick);
        }
    }
    changed
}

/// The shown cell to withhold among `candidates` for a reader: one the reader does not
/// know; not a zero while another will do; the smallest at least `wanted`, else the largest.
fn cheapest(
    model: &Model,
    decision: &Decision,
    candidates: impl Iterator<Item = usize>,
    reader: Option<i64>,
    wanted: f64,
) -> Option<usize> {
    candidates
        .filter(|c| {
            model.cells[*c].published
                && !decision.withheld[*c]
                && !decision.is_frozen(*c)
                && !reader.is_some_and(|a| model.cells[*c].known_to.contains(&a))
        })
        .min_by_key(|c| {
            let v = model.cells[*c].value;
            let zero = v == 0;
            let short = (v as f64) < wanted;
            // Big enough first (smallest of those), then the largest of the short ones.
            (zero, short, if short { -v } else { v }, *c)
        })
}

/// One more cell withheld around a cell the audit finds too narrow (every shown cell of its
/// relations at once when `all`); `false` when there is none left.
fn widen(
    model: &Model,
    decision: &mut Decision,
    by_cell: &[Vec<usize>],
    cell: usize,
    reader: Option<i64>,
    all: bool,
) -> bool {
    // The cells tied to it: its relations first, then those of its unknown neighbours.
    let mut near: Vec<usize> = Vec::new();
    let mut seen = BTreeSet::new();
    let mut frontier = vec![cell];
    seen.insert(cell);
    while !frontier.is_empty() {
        let mut next = Vec::new();
        for c in &frontier {
            for r in &by_cell[*c] {
                for (o, _) in &model.relations[*r] {
                    if seen.insert(*o) {
                        near.push(*o);
                        if decision.unknown(model, *o, reader) {
                            next.push(*o);
                        }
                    }
                }
            }
        }
        let wanted = model.required_width(cell);
        if all {
            let mut changed = false;
            for c in near.iter().copied() {
                if !reader.is_some_and(|a| model.cells[c].known_to.contains(&a)) {
                    changed |= decision.withhold(model, c);
                }
            }
            if changed {
                return true;
            }
        } else if let Some(pick) = cheapest(model, decision, near.iter().copied(), reader, wanted) {
            return decision.withhold(model, pick);
        }
        frontier = next;
    }
    false
}

/// The sensitive cells a reader does not know whose interval is too narrow.
fn failing_cells(model: &Model, decision: &Decision, reader: Option<i64>) -> Vec<usize> {
    let (intervals, _) = intervals(model, decision, reader, None);
    intervals
        .into_iter()
        .filter(|(c, lo, hi)| hi - lo + EPSILON < model.required_width(*c))
        .map(|(c, _, _)| c)
        .collect()
}

/// Audits a decision: every sensitive cell's interval, for the outsider and for each
/// authority's members.
pub fn audit(model: &Model, decision: &Decision) -> Audit {
    let mut out = Audit::default();
    let readers = std::iter::once(None).chain(model.members().into_iter().map(Some));
    for reader in readers {
        let (intervals, contradictions) = intervals(model, decision, reader, None);
        for (c, lower, upper) in intervals {
            out.intervals.push(Interval {
                key: model.cells[c].key.clone(),
                reader,
                value: model.cells[c].value,
                lower,
                upper,
                required: model.required_width(c),
            });
        }
        for r in contradictions {
            if !out.contradictions.contains(&r) {
                out.contradictions.push(r);
            }
        }
    }
    out
}

/// For one reader: the interval of each sensitive cell it does not know (cell, lower,
/// upper), and the relations its known figures contradict; only the cells of `focus` when
/// it is given.
fn intervals(
    model: &Model,
    decision: &Decision,
    reader: Option<i64>,
    focus: Option<&BTreeSet<usize>>,
) -> (Vec<(usize, f64, f64)>, Vec<usize>) {
    let n = model.cells.len();
    let unknown: Vec<bool> = (0..n).map(|i| decision.unknown(model, i, reader)).collect();
    // Components of unknown cells tied by relations.
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut contradictions = Vec::new();
    for (r, terms) in model.relations.iter().enumerate() {
        let mut first = None;
        for (c, _) in terms {
            if unknown[*c] {
                match first {
                    None => first = Some(*c),
                    Some(f) => {
                        let (a, b) = (root(&mut parent, f), root(&mut parent, *c));
                        parent[a] = b;
                    }
                }
            }
        }
        if first.is_none()
            && terms
                .iter()
                .map(|(c, k)| k * model.cells[*c].value)
                .sum::<i64>()
                != 0
        {
            contradictions.push(r);
        }
    }
    let mut components: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, unknown) in unknown.iter().enumerate() {
        if *unknown {
            let r = root(&mut parent, i);
            components.entry(r).or_default().push(i);
        }
    }
    let mut relations_of: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (r, terms) in model.relations.iter().enumerate() {
        if let Some((c, _)) = terms.iter().find(|(c, _)| unknown[*c]) {
            relations_of
                .entry(root(&mut parent, *c))
                .or_default()
                .push(r);
        }
    }
    let mut out = Vec::new();
    for (r, cells) in &components {
        let targets: Vec<usize> = cells
            .iter()
            .copied()
            .filter(|c| model.sensitive(*c))
            .filter(|c| focus.is_none_or(|f| f.contains(c)))
            .collect();
        if targets.is_empty() {
            continue;
        }
        let relations = relations_of.get(r).map(Vec::as_slice).unwrap_or(&[]);
        let slot: HashMap<usize, usize> = cells.iter().enumerate().map(|(s, c)| (*c, s)).collect();
        // Feasible points of the component: the true figures, and each solution found.
        // The interval of a cell holds every value it takes in them, so a cell they already
        // spread wide enough needs no program of its own.
        let mut pool: Vec<Vec<f64>> =
            vec![cells.iter().map(|c| model.cells[*c].value as f64).collect()];
        let spread = |pool: &[Vec<f64>], s: usize| {
            pool.iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                    (lo.min(p[s]), hi.max(p[s]))
                })
        };
        if targets.len() > 8 {
            // A few programs that move many cells at once: all up, all down, and half up
            // while half go down (and the other way round).
            let all: Vec<(usize, f64)> = targets.iter().map(|t| (*t, 1.0)).collect();
            let alternate: Vec<(usize, f64)> = targets
                .iter()
                .enumerate()
                .map(|(i, t)| (*t, if i % 2 == 0 { 1.0 } else { -1.0 }))
                .collect();
            for objective in [&all, &alternate] {
                for direction in [
                    OptimizationDirection::Maximize,
                    OptimizationDirection::Minimize,
                ] {
                    if let Some(Bound::Point(point)) =
                        bound(model, cells, relations, &slot, objective, direction)
                    {
                        pool.push(point);
                    }
                }
            }
        }
        for t in targets {
            let s = slot[&t];
            let required = model.required_width(t);
            let (lo, hi) = spread(&pool, s);
            if hi - lo + EPSILON >= required {
                out.push((t, lo, hi));
                continue;
            }
            let mut ends = [lo, hi];
            let mut solvable = true;
            for (end, direction) in [
                OptimizationDirection::Maximize,
                OptimizationDirection::Minimize,
            ]
            .into_iter()
            .enumerate()
            .map(|(i, d)| (1 - i, d))
            {
                match bound(model, cells, relations, &slot, &[(t, 1.0)], direction) {
                    Some(Bound::Point(point)) => {
                        ends[end] = point[s];
                        pool.push(point);
                    }
                    Some(Bound::Unbounded) => ends[end] = f64::INFINITY,
                    None => solvable = false,
                }
                let (lo, hi) = spread(&pool, s);
                if ends[1].is_infinite() || hi - lo + EPSILON >= required {
                    break;
                }
            }
            if solvable {
                let (lo, hi) = spread(&pool, s);
                out.push((t, lo.min(ends[0]), hi.max(ends[1])));
            } else {
                // The relations contradict the published figures: count as pinned.
                let v = model.cells[t].value as f64;
                out.push((t, v, v));
            }
        }
    }
    (out, contradictions)
}

/// The solution that gives `target` its least (or greatest) value subject to the
/// relations, the unknown `cells` free and ≥ 0, the others at their values; `None` if the
/// program has no solution.
fn bound(
    model: &Model,
    cells: &[usize],
    relations: &[usize],
    slot: &HashMap<usize, usize>,
    objective: &[(usize, f64)],
    direction: OptimizationDirection,
) -> Option<Bound> {
    let mut problem = Problem::new(direction);
    let weight: HashMap<usize, f64> = objective.iter().copied().collect();
    let vars: Vec<_> = cells
        .iter()
        .map(|c| problem.add_var(weight.get(c).copied().unwrap_or(0.0), (0.0, f64::INFINITY)))
        .collect();
    for r in relations {
        let mut expr = Vec::new();
        let mut rhs = 0.0;
        for (c, k) in &model.relations[*r] {
            match slot.get(c) {
                Some(s) => expr.push((vars[*s], *k as f64)),
                None => rhs -= (*k * model.cells[*c].value) as f64,
            }
        }
        problem.add_constraint(expr.as_slice(), ComparisonOp::Eq, rhs);
    }
    match problem.solve() {
        Ok(outcome) => outcome
            .into_solution()
            .ok()
            .map(|s| Bound::Point(vars.iter().map(|v| s.var_value(*v)).collect())),
        Err(microlp::Error::Unbounded) => Some(Bound::Unbounded),
        Err(_) => None,
    }
}

/// The end of a cell's interval: the solution that reaches it, or none (no upper end).
enum Bound {
    Point(Vec<f64>),
    Unbounded,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table of authorities (rows) and channels (columns) with both margins.
    fn table(rows: &[&[u64]]) -> Model {
        let mut m = Model::default();
        let mut col_cells: Vec<Vec<usize>> = vec![Vec::new(); rows[0].len()];
        let mut row_totals = Vec::new();
        for (r, row) in rows.iter().enumerate() {
            let a = r as i64 + 1;
            let cells: Vec<usize> = row
                .iter()
                .enumerate()
                .map(|(c, v)| m.count(format!("cell/{r}/{c}"), *v, &[a]))
                .collect();
            for (c, cell) in cells.iter().enumerate() {
                col_cells[c].push(*cell);
            }
            let total = m.count(format!("row/{r}"), row.iter().sum(), &[a]);
            m.sum(total, &cells);
            row_totals.push(total);
        }
        let mut col_totals = Vec::new();
        for (c, cells) in col_cells.iter().enumerate() {
            let v = cells.iter().map(|i| m.cells[*i].value as u64).sum();
            let t = m.count(format!("col/{c}"), v, &[]);
            m.sum(t, cells);
            col_totals.push(t);
        }
        let grand = m.count(
            "grand",
            rows.iter().flat_map(|r| r.iter()).sum::<u64>(),
            &[],
        );
        m.sum(grand, &row_totals);
        m.sum(grand, &col_totals);
        m
    }

    #[test]
    fn a_lone_withheld_cell_is_pinned_and_the_audit_says_so() {
        let m = table(&[&[12, 3, 20], &[15, 30, 22], &[14, 18, 25]]);
        let mut d = Decision::none(&m);
        d.withheld[m.find("cell/0/1").unwrap()] = true;
        let audit = audit(&m, &d);
        let failing: Vec<_> = audit.failures().map(|i| i.key.clone()).collect();
        assert!(failing.contains(&"cell/0/1".to_owned()), "{failing:?}");
        let pinned = audit
            .intervals
            .iter()
            .find(|i| i.key == "cell/0/1" && i.reader.is_none())
            .unwrap();
        assert!((pinned.lower - 3.0).abs() < 1e-6 && (pinned.upper - 3.0).abs() < 1e-6);
    }

    #[test]
    fn joint_suppression_protects_every_small_cell_for_every_reader() {
        let m = table(&[
            &[12, 3, 20, 1],
            &[15, 30, 2, 9],
            &[14, 18, 25, 0],
            &[4, 7, 11, 16],
        ]);
        let d = suppress(&m);
        let audit = audit(&m, &d);
        assert!(audit.passes(), "{:?}", audit.failures().collect::<Vec<_>>());
        // Every small cell is withheld; zeros are shown.
        for (i, c) in m.cells.iter().enumerate() {
            if m.sensitive(i) {
                assert!(d.withheld[i], "{}", c.key);
            }
        }
        assert!(!d.withheld[m.find("cell/2/3").unwrap()]);
    }

    #[test]
    fn removing_one_secondary_suppression_fails_the_audit() {
        let m = table(&[&[12, 3, 20], &[15, 30, 22], &[14, 18, 25]]);
        let d = suppress(&m);
        assert!(audit(&m, &d).passes());
        let secondary: Vec<usize> = (0..m.cells.len())
            .filter(|i| d.withheld[*i] && !m.sensitive(*i))
            .collect();
        assert!(!secondary.is_empty());
        for s in secondary {
            let mut weaker = d.clone();
            weaker.withheld[s] = false;
            assert!(!audit(&m, &weaker).passes(), "{}", m.cells[s].key);
        }
    }

    #[test]
    fn a_member_knowing_its_own_row_is_accounted_for() {
        // Two authorities: the first knows its row, so the second's small cell must not be
        // recoverable from a column total less the first's own cell.
        let m = table(&[&[10, 20], &[3, 30]]);
        let d = suppress(&m);
        let audit = audit(&m, &d);
        assert!(audit.passes(), "{:?}", audit.failures().collect::<Vec<_>>());
        assert!(d.withheld[m.find("col/0").unwrap()] || d.withheld[m.find("grand").unwrap()]);
    }

    #[test]
    fn a_withheld_mean_keeps_its_days_uncertain() {
        let mut m = Model::default();
        let n_a = m.count("n/a", 4, &[1]);
        let n_b = m.count("n/b", 30, &[2]);
        let n_c = m.count("n/c", 40, &[3]);
        let n = m.count("n", 74, &[]);
        m.sum(n, &[n_a, n_b, n_c]);
        let s_a = m.days("days/a", 1200, n_a, &[1]);
        let s_b = m.days("days/b", 9000, n_b, &[2]);
        let s_c = m.days("days/c", 16000, n_c, &[3]);
        let s = m.days("days", 26200, n, &[]);
        m.sum(s, &[s_a, s_b, s_c]);
        let d = suppress(&m);
        assert!(d.withheld[s_a] && d.withheld[n_a]);
        let audit = audit(&m, &d);
        assert!(audit.passes(), "{:?}", audit.failures().collect::<Vec<_>>());
    }
}
