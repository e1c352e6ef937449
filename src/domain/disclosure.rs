//! Disclosure control (DESIGN §5): which figures about an authority may be shown to someone
//! who is not a member of it, and which are withheld as `null` with `suppressed: true`.
//!
//! The rules, applied only for an [`Audience::Restricted`] viewer:
//! - a count of 1–5 is suppressed; zero stays zero ([`count`]);
//! - a percentage is suppressed when its base is ≤ 10, or its numerator or the rest of its
//!   base is 1–5 ([`rate`]); 0 % and 100 % of more than 10 are shown;
//! - a mean or median over n cases is suppressed when n ≤ 10 ([`mean`], [`median`]), whatever
//!   its value (a mean of 0 days over 12 cases is shown, as 0 % of 12 is);
//! - in a breakdown with totals, more cells (and if need be totals) are suppressed until no
//!   suppressed figure can be worked out from the figures that are shown
//!   ([`suppress_table`]);
//! - in a breakdown where the reader already knows some rows (their own authority's, in a
//!   consortium breakdown), those rows are shown and count as known when checking the
//!   above ([`suppress_table_known`]);
//! - in a line of figures whose total the reader already knows (their own authority's
//!   placements with each other authority), a lone withheld figure takes the next smallest
//!   with it ([`suppress_line_known_total`]).
//!
//! Who is restricted (everyone outside the authority, board analysts always) is decided by
//! `auth::policy`; this module only applies the rules. Rounding is left to the caller, and
//! applies to shown values only ([`Shown::map`]).

/// Counts from 1 up to this many are withheld: so few people could be recognised.
pub const LARGEST_SUPPRESSED_COUNT: u64 = 5;

/// A percentage, mean or median computed over this many cases or fewer is withheld.
pub const LARGEST_SUPPRESSED_BASE: u64 = 10;

/// Who a figure is shown to, relative to the authority the figure is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Audience {
    /// A member of the authority: sees every figure as it is.
    Unrestricted,
    /// Anyone else (other authorities' staff, board analysts always): small figures are
    /// withheld.
    Restricted,
}

impl Audience {
    fn is_restricted(self) -> bool {
        self == Audience::Restricted
    }
}

/// A figure as published: its value, or `None` with `suppressed: true` when disclosure
/// control withholds it.
///
/// A withheld figure carries no number at all, so nothing downstream (GraphQL, the CSV
/// export, logs) can leak it. `None` with `suppressed: false` means there is no figure to
/// show (a percentage of nobody, a mean of no cases), which a reader must be able to tell
/// apart from a withheld one.
///
/// Kept free of GraphQL derives: a generic `SimpleObject` needs `T: OutputType` on the
/// struct itself, which would follow every generic use of it. The GraphQL layer maps it to
/// its `{ value, suppressed }` objects.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Shown<T> {
    /// The figure; `null` when it is withheld or does not exist.
    pub value: Option<T>,
    /// Whether the figure is withheld by disclosure control.
    pub suppressed: bool,
}

impl<T> Shown<T> {
    /// A figure shown as it is.
    pub fn visible(value: T) -> Self {
        Shown {
            value: Some(value),
            suppressed: false,
        }
    }

    /// A figure withheld by disclosure control.
    pub fn withheld() -> Self {
        Shown {
            value: None,
            suppressed: true,
        }
    }

    /// No figure: there is nothing to compute it over.
    pub fn absent() -> Self {
        Shown {
            value: None,
            suppressed: false,
        }
    }

    /// Transforms a shown value (rounding a mean, say); withheld and absent stay as they are.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Shown<U> {
        Shown {
            value: self.value.map(f),
            suppressed: self.suppressed,
        }
    }
}

/// Whether a count is small enough to point at individuals: 1 to 5. Zero is not: "nobody"
/// identifies no one.
fn is_small(n: u64) -> bool {
    (1..=LARGEST_SUPPRESSED_COUNT).contains(&n)
}

/// A percentage, mean or median as published: rounded to one decimal place.
pub fn one_decimal(value: f64) -> f64 {
    (value * 10.0).round() / 10.0
}

/// A count of children, households or events: withheld from a restricted audience when it
/// is 1–5. Zero stays zero.
pub fn count(n: u64, audience: Audience) -> Shown<u64> {
    if audience.is_restricted() && is_small(n) {
        Shown::withheld()
    } else {
        Shown::visible(n)
    }
}

/// `numerator` out of `denominator` as a percentage, 0 to 100, unrounded (DESIGN speaks of
/// "% of the cohort", so the API carries percentages rather than shares).
///
/// Withheld from a restricted audience when the base is 10 or fewer, or when the numerator
/// or the rest of the base (`denominator − numerator`) is 1–5: a percentage with both its
/// counts gives both away, so it is shown exactly when both would be shown as counts. So 0 %
/// and 100 % of a base over 10 are shown (zeros are shown as counts are), which is the same
/// rule a mean follows: a mean over more than 10 cases is shown, whatever its value
/// ([`mean`]). A zero denominator gives no figure at all, for anyone.
pub fn rate(numerator: u64, denominator: u64, audience: Audience) -> Shown<f64> {
    if denominator == 0 {
        return Shown::absent();
    }
    let rest = denominator.saturating_sub(numerator);
    if audience.is_restricted()
        && (denominator <= LARGEST_SUPPRESSED_BASE || is_small(numerator) || is_small(rest))
    {
        return Shown::withheld();
    }
    Shown::visible(100.0 * numerator as f64 / denominator as f64)
}

/// A share (the scorecard's A3: children placed within the threshold, of the cohort) as a
/// percentage, from its two counts as they are published: shown only when both counts are,
/// and then by the [`rate`] rule; no figure when the cohort is shown as 0; withheld
/// otherwise.
pub fn share_of_shown(within: Shown<u64>, cohort: Shown<u64>, audience: Audience) -> Shown<f64> {
    match (within.value, cohort.value) {
        (Some(within), Some(cohort)) => rate(within, cohort, audience),
        _ if cohort.value == Some(0) => Shown::absent(),
        _ => Shown::withheld(),
    }
}

/// A mean (of days, say) computed over `cases` cases.
///
/// Withheld from a restricted audience when it is over 10 cases or fewer, whatever its value:
/// the sum of days is not a count of people, so the 1–5 rule does not apply to it, and a
/// mean of 0 days over 12 cases is shown as 0 % of 12 is ([`rate`]). A mean of no cases is
/// no figure at all; `value` is then ignored.
pub fn mean<T>(cases: u64, value: T, audience: Audience) -> Shown<T> {
    if cases == 0 {
        Shown::absent()
    } else if audience.is_restricted() && cases <= LARGEST_SUPPRESSED_BASE {
        Shown::withheld()
    } else {
        Shown::visible(value)
    }
}

/// A median over `cases` cases: the same rule as [`mean`]. A median of a few cases is one
/// person's figure.
pub fn median<T>(cases: u64, value: T, audience: Audience) -> Shown<T> {
    mean(cases, value, audience)
}

/// A breakdown (a table of counts, rows × columns) after disclosure control, with its row
/// totals, column totals and grand total. Row and column labels stay with the caller; the
/// shapes are those of the input.
#[derive(Clone, Debug, PartialEq)]
pub struct SuppressedTable {
    /// The cells, row by row, in the input's order and shape.
    pub cells: Vec<Vec<Shown<u64>>>,
    /// One total per row.
    pub row_totals: Vec<Shown<u64>>,
    /// One total per column (as many columns as the longest row).
    pub column_totals: Vec<Shown<u64>>,
    /// The total of every cell.
    pub grand_total: Shown<u64>,
}

/// Applies disclosure control to a breakdown of counts and its totals.
///
/// For an unrestricted audience everything is shown. For a restricted one:
/// 1. *Primary*: every cell and every total of 1–5 is suppressed.
/// 2. *Secondary, along lines*: the table and its margins are one grid in which every row
///    and every column is a line whose cells add up to its total (the row totals with the
///    grand total form a line too, and so do the column totals with it). Where a line has
///    exactly one suppressed figure, it could be worked out by subtraction, so the smallest
///    non-zero figure shown in that line is suppressed as well; if the line has no such
///    cell left, its total is suppressed instead. Zeros are never suppressed: a zero is not
///    disclosive and hiding it protects nothing.
/// 3. *Secondary, across lines*: a line rule alone is not enough. Two blocks of suppressed
///    cells joined by one suppressed cell leave that cell recoverable from a sum of row
///    totals minus a sum of column totals, although every line holds two suppressions or
///    more. In the grid's graph (one node per line, one edge per suppressed figure) such a
///    figure is a bridge, and a figure can be worked out from what is shown exactly when
///    it is a bridge. Each bridge is closed into a cycle by suppressing the shown figures
///    along the cheapest path (least total count withheld) joining its two sides.
///
/// Steps 2 and 3 repeat until nothing changes; every round suppresses at least one more
/// figure, so it ends. Afterwards every line has no suppressed figure or at least two, and
/// no suppressed figure is determined by the shown ones. Bounds are not hidden: a reader
/// still knows each suppressed figure lies between 0 and what its line's shown total leaves.
///
/// Rows may differ in length; a missing cell counts as zero and is not returned.
pub fn suppress_table<R: AsRef<[u64]>>(rows: &[R], audience: Audience) -> SuppressedTable {
    // A member of the authority knows every row already; anyone else knows none.
    let known = vec![!audience.is_restricted(); rows.len()];
    suppress_table_known(rows, &known)
}

/// Like [`suppress_table`] for a restricted audience, except that the rows where `known[i]`
/// is true are figures the reader already knows: shown as they are, never suppressed, and
/// treated as known when checking that no suppressed figure can be worked out. Totals are
/// treated as restricted figures.
///
/// This is the breakdown a member of one authority sees of the whole consortium: their own
/// authority's row as it is, every other row under disclosure control. Because the reader
/// knows their row, a suppressed figure elsewhere must not be recoverable with its help:
/// with a column of 3 (known) and 4 (suppressed), showing the column total 7 would give the
/// 4 away, so the total, or another unknown cell of that column, is suppressed too.
///
/// A figure the reader can compute from what they know whatever is withheld is shown too,
/// even if it is a total of 1–5: a known row's own total, and a total whose other members
/// are all zero (zeros are always shown). Withholding it would protect nothing.
///
/// Rows beyond the end of `known` are not known. With every row known everything is shown,
/// as for an unrestricted audience; with none known this is `suppress_table` for a
/// restricted audience.
pub fn suppress_table_known<R: AsRef<[u64]>>(rows: &[R], known: &[bool]) -> SuppressedTable {
    let mut grid = Grid::new(rows, known);
    grid.suppress_small();
    while grid.cover_lone_suppressions() || grid.close_a_bridge() {}
    grid.into_table(rows)
}

/// Disclosure control over one line of figures whose total the reader already knows, and
/// which takes part in no other published relation: the cells of their own authority's row
/// (or column) that pair it with other authorities, when nothing else about those
/// authorities is shown. The figures where `known[i]` is true the reader knows too (rows
/// beyond the end of `known` are not known).
///
/// 1. *Primary*: every unknown figure of 1–5 is withheld; zeros and known figures never are.
/// 2. *Secondary*: the reader can subtract the shown figures from the total, so a lone
///    withheld figure would be given away; the smallest non-zero unknown figure still shown
///    (the first of equals) is withheld with it. Two or more withheld non-zero figures
///    leave each anywhere between 0 and what the total leaves for them.
/// 3. When there is no such partner (every other figure is zero or known), the lone figure
///    is what the total leaves, whatever is withheld: it is shown, as
///    [`suppress_table_known`] shows a total the reader can compute. Withholding it would
///    protect nothing.
///
/// `suppress_table_known` cannot be used here: it treats the totals as restricted
/// figures, whereas this line's total is the reader's own.
pub fn suppress_line_known_total(values: &[u64], known: &[bool]) -> Vec<Shown<u64>> {
    let is_known = |i: usize| known.get(i).copied().unwrap_or(false);
    let mut withheld: Vec<bool> = values
        .iter()
        .enumerate()
        .map(|(i, &v)| is_small(v) && !is_known(i))
        .collect();
    if withheld.iter().filter(|&&w| w).count() == 1 {
        let partner = values
            .iter()
            .enumerate()
            .filter(|&(i, &v)| v > 0 && !is_known(i) && !withheld[i])
            .min_by_key(|&(_, &v)| v)
            .map(|(i, _)| i);
        match partner {
            Some(i) => withheld[i] = true,
            None => withheld.iter_mut().for_each(|w| *w = false),
        }
    }
    values
        .iter()
        .zip(withheld)
        .map(|(&v, w)| {
            if w {
                Shown::withheld()
            } else {
                Shown::visible(v)
            }
        })
        .collect()
}

/// Position of a figure in the grid: (row, column).
type Pos = (usize, usize);

/// A breakdown and its margins as one (rows + 1) × (columns + 1) grid: the last column
/// holds the row totals, the last row the column totals, the corner the grand total. Every
/// row and every column of the grid is a line whose last entry is the sum of the others,
/// which lets one rule cover cells and totals alike.
///
/// `fixed` marks the figures the reader knows whatever is withheld: the cells of the rows
/// they already know, every zero (zeros are never withheld), and every total whose members
/// are all fixed. A fixed figure is never suppressed; to the rest of the rules it is simply
/// a shown figure. A total with a member that is not fixed is not fixed either, so every
/// figure that is not fixed lies on a cycle of such figures (a cell, its row's total, its
/// column's total and the grand total): none of them can be worked out from the fixed
/// figures alone, and each can be protected by suppressing figures that are not fixed.
struct Grid {
    values: Vec<Vec<u64>>,
    suppressed: Vec<Vec<bool>>,
    fixed: Vec<Vec<bool>>,
}

/// A line of the grid: a row or a column, each ending with its total.
#[derive(Clone, Copy)]
enum Line {
    Row(usize),
    Column(usize),
}

impl Grid {
    /// The grid of `rows`, with the cells of the rows where `known` is true, the zeros and
    /// the totals they make up fixed.
    fn new<R: AsRef<[u64]>>(rows: &[R], known: &[bool]) -> Self {
        let columns = rows.iter().map(|r| r.as_ref().len()).max().unwrap_or(0);
        let mut values = vec![vec![0u64; columns + 1]; rows.len() + 1];
        for (i, row) in rows.iter().enumerate() {
            for (j, &v) in row.as_ref().iter().enumerate() {
                values[i][j] = v;
                values[i][columns] = values[i][columns].saturating_add(v);
                values[rows.len()][j] = values[rows.len()][j].saturating_add(v);
                values[rows.len()][columns] = values[rows.len()][columns].saturating_add(v);
            }
        }
        let (last_row, last_column) = (rows.len(), columns);
        let is_known = |i: usize| known.get(i).copied().unwrap_or(false);
        let mut fixed: Vec<Vec<bool>> = values
            .iter()
            .enumerate()
            .map(|(i, row)| {
                row.iter()
                    .enumerate()
                    .map(|(j, &v)| v == 0 || (i < last_row && j < last_column && is_known(i)))
                    .collect()
            })
            .collect();
        // Row totals first: the grand total closes the column of row totals.
        for row in &mut fixed[..last_row] {
            row[last_column] |= row[..last_column].iter().all(|&f| f);
        }
        let (bottom, above) = fixed.split_last_mut().expect("a grid has a row of totals");
        for (j, total) in bottom.iter_mut().enumerate() {
            *total |= above.iter().all(|row| row[j]);
        }
        let suppressed = vec![vec![false; columns + 1]; rows.len() + 1];
        Grid {
            values,
            suppressed,
            fixed,
        }
    }

    fn height(&self) -> usize {
        self.values.len()
    }

    fn width(&self) -> usize {
        self.values[0].len()
    }

    fn value(&self, (i, j): Pos) -> u64 {
        self.values[i][j]
    }

    fn is_suppressed(&self, (i, j): Pos) -> bool {
        self.suppressed[i][j]
    }

    /// Whether the reader knows the figure whatever is withheld: it is never suppressed.
    fn is_fixed(&self, (i, j): Pos) -> bool {
        self.fixed[i][j]
    }

    /// Whether the figure is shown and may still be suppressed.
    fn can_suppress(&self, pos: Pos) -> bool {
        !self.is_suppressed(pos) && !self.is_fixed(pos)
    }

    fn suppress(&mut self, (i, j): Pos) {
        debug_assert!(!self.is_fixed((i, j)), "a fixed figure is never suppressed");
        self.suppressed[i][j] = true;
    }

    fn positions(&self) -> impl Iterator<Item = Pos> + use<> {
        let (height, width) = (self.height(), self.width());
        (0..height).flat_map(move |i| (0..width).map(move |j| (i, j)))
    }

    fn lines(&self) -> impl Iterator<Item = Line> + use<> {
        (0..self.height())
            .map(Line::Row)
            .chain((0..self.width()).map(Line::Column))
    }

    /// The entries of a line, its total last.
    fn line(&self, line: Line) -> Vec<Pos> {
        match line {
            Line::Row(i) => (0..self.width()).map(|j| (i, j)).collect(),
            Line::Column(j) => (0..self.height()).map(|i| (i, j)).collect(),
        }
    }

    /// Primary suppression: every cell and every total of 1–5 that is not fixed.
    fn suppress_small(&mut self) {
        for pos in self.positions() {
            if is_small(self.value(pos)) && !self.is_fixed(pos) {
                self.suppress(pos);
            }
        }
    }

    /// Secondary suppression along lines: in every line with exactly one suppressed figure,
    /// also suppresses its smallest shown member that is not fixed (so not zero either; the
    /// first of equals), or its total when there is none. Returns whether anything was
    /// suppressed.
    ///
    /// The total can always be taken here: either the lone suppressed figure is a member,
    /// not fixed, so the total is not fixed either; or it is the total, and then, as it is
    /// not fixed, some member is not, is still shown, and is taken.
    fn cover_lone_suppressions(&mut self) -> bool {
        let mut changed = false;
        for line in self.lines() {
            let entries = self.line(line);
            let Some((&total, members)) = entries.split_last() else {
                continue;
            };
            if entries.iter().filter(|&&p| self.is_suppressed(p)).count() != 1 {
                continue;
            }
            let partner = members
                .iter()
                .copied()
                .filter(|&p| self.can_suppress(p))
                .min_by_key(|&p| self.value(p))
                .unwrap_or(total);
            if self.can_suppress(partner) {
                self.suppress(partner);
                changed = true;
            }
        }
        changed
    }

    /// Grid node of a row line and of a column line: rows first, then columns.
    fn row_node(&self, i: usize) -> usize {
        i
    }

    fn column_node(&self, j: usize) -> usize {
        self.height() + j
    }

    /// The nodes of the other kind joined to `node`, each with the figure joining them: a
    /// row line meets every column line at one figure, and the other way round.
    fn neighbours(&self, node: usize) -> impl Iterator<Item = (usize, Pos)> + use<> {
        let (height, width) = (self.height(), self.width());
        let (range, row_side) = if node < height {
            (height..height + width, true)
        } else {
            (0..height, false)
        };
        range.map(move |other| {
            let pos = if row_side {
                (node, other - height)
            } else {
                (other, node - height)
            };
            (other, pos)
        })
    }

    /// Nodes reachable from `start` through suppressed figures, leaving out `skip`.
    fn reachable(&self, start: usize, skip: Pos) -> Vec<bool> {
        let nodes = self.height() + self.width();
        let mut seen = vec![false; nodes];
        let mut stack = vec![start];
        seen[start] = true;
        while let Some(a) = stack.pop() {
            for (b, pos) in self.neighbours(a) {
                if !seen[b] && pos != skip && self.is_suppressed(pos) {
                    seen[b] = true;
                    stack.push(b);
                }
            }
        }
        seen
    }

    /// Secondary suppression across lines: finds the first suppressed figure that could be
    /// worked out from the shown ones (a bridge) and closes it into a cycle by suppressing
    /// the shown figures along the cheapest path between its two sides. Returns whether
    /// anything was suppressed.
    fn close_a_bridge(&mut self) -> bool {
        let suppressed: Vec<Pos> = self
            .positions()
            .filter(|&p| self.is_suppressed(p))
            .collect();
        for bridge @ (i, j) in suppressed {
            let row_side = self.reachable(self.row_node(i), bridge);
            if row_side[self.column_node(j)] {
                continue;
            }
            let column_side = self.reachable(self.column_node(j), bridge);
            // A path always exists: every figure that is not fixed lies on a cycle of such
            // figures (see `Grid`), and suppressed figures are never fixed. Should it not,
            // the next bridge is tried rather than looping for ever.
            let Some(path) = self.cheapest_path(&row_side, &column_side, bridge) else {
                continue;
            };
            for pos in path {
                self.suppress(pos);
            }
            return true;
        }
        false
    }

    /// The shown figures to suppress to join `from` to `to` without `skip`: Dijkstra over
    /// the line graph, where a suppressed figure costs nothing, a shown one costs its value,
    /// and a fixed one (a zero, or one the reader knows) cannot be used.
    fn cheapest_path(&self, from: &[bool], to: &[bool], skip: Pos) -> Option<Vec<Pos>> {
        let nodes = from.len();
        let mut cost: Vec<Option<u64>> = from.iter().map(|&f| f.then_some(0)).collect();
        let mut via: Vec<Option<(usize, Pos)>> = vec![None; nodes];
        let mut done = vec![false; nodes];
        loop {
            let a = (0..nodes)
                .filter(|&n| !done[n])
                .filter_map(|n| cost[n].map(|c| (c, n)))
                .min()?
                .1;
            if to[a] {
                let mut path = Vec::new();
                let mut node = a;
                while let Some((previous, pos)) = via[node] {
                    if !self.is_suppressed(pos) {
                        path.push(pos);
                    }
                    node = previous;
                }
                return Some(path);
            }
            done[a] = true;
            for (b, pos) in self.neighbours(a) {
                if done[b] || pos == skip {
                    continue;
                }
                let step = if self.is_suppressed(pos) {
                    0
                } else if self.can_suppress(pos) {
                    self.value(pos)
                } else {
                    continue;
                };
                let through = cost[a].unwrap_or(0).saturating_add(step);
                if cost[b].is_none_or(|c| through < c) {
                    cost[b] = Some(through);
                    via[b] = Some((a, pos));
                }
            }
        }
    }

    fn shown(&self, pos: Pos) -> Shown<u64> {
        if self.is_suppressed(pos) {
            Shown::withheld()
        } else {
            Shown::visible(self.value(pos))
        }
    }

    fn into_table<R: AsRef<[u64]>>(self, rows: &[R]) -> SuppressedTable {
        let (last_row, last_column) = (self.height() - 1, self.width() - 1);
        SuppressedTable {
            cells: rows
                .iter()
                .enumerate()
                .map(|(i, row)| {
                    (0..row.as_ref().len())
                        .map(|j| self.shown((i, j)))
                        .collect()
                })
                .collect(),
            row_totals: (0..last_row)
                .map(|i| self.shown((i, last_column)))
                .collect(),
            column_totals: (0..last_column)
                .map(|j| self.shown((last_row, j)))
                .collect(),
            grand_total: self.shown((last_row, last_column)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Audience::{Restricted, Unrestricted};
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_share_is_shown_only_with_both_its_counts() {
        let r = Audience::Restricted;
        let u = Audience::Unrestricted;
        let v = Shown::visible;
        assert_eq!(share_of_shown(v(3), v(4), u), Shown::visible(75.0));
        assert_eq!(share_of_shown(v(3), v(40), r), Shown::withheld());
        assert_eq!(share_of_shown(v(20), v(40), r), Shown::visible(50.0));
        assert_eq!(
            share_of_shown(Shown::withheld(), v(40), r),
            Shown::withheld()
        );
        assert_eq!(
            share_of_shown(v(0), Shown::withheld(), r),
            Shown::withheld()
        );
        assert_eq!(share_of_shown(v(0), v(0), u), Shown::absent());
        assert_eq!(share_of_shown(Shown::withheld(), v(0), r), Shown::absent());
    }

    fn is_withheld<T>(shown: &Shown<T>) -> bool {
        shown.suppressed && shown.value.is_none()
    }

    /// The table with its margins as a grid of flags, as `Grid` lays it out.
    fn suppressed_grid(table: &SuppressedTable) -> Vec<Vec<bool>> {
        let width = table.column_totals.len() + 1;
        let mut grid: Vec<Vec<bool>> = table
            .cells
            .iter()
            .zip(&table.row_totals)
            .map(|(row, total)| {
                let mut flags: Vec<bool> = row.iter().map(|c| c.suppressed).collect();
                flags.resize(width - 1, false);
                flags.push(total.suppressed);
                flags
            })
            .collect();
        let mut last: Vec<bool> = table.column_totals.iter().map(|c| c.suppressed).collect();
        last.push(table.grand_total.suppressed);
        grid.push(last);
        grid
    }

    /// Rank of a small matrix by Gaussian elimination (entries are 0 and 1, so plain
    /// floating point is exact enough).
    fn rank(mut rows: Vec<Vec<f64>>) -> usize {
        let columns = rows.first().map_or(0, Vec::len);
        let mut rank = 0;
        for c in 0..columns {
            let Some(p) = (rank..rows.len()).find(|&r| rows[r][c].abs() > 1e-9) else {
                continue;
            };
            rows.swap(rank, p);
            let pivot = rows[rank].clone();
            for (r, row) in rows.iter_mut().enumerate() {
                if r != rank && row[c].abs() > 1e-9 {
                    let factor = row[c] / pivot[c];
                    for (x, p) in row.iter_mut().zip(&pivot) {
                        *x -= factor * p;
                    }
                }
            }
            rank += 1;
        }
        rank
    }

    /// The suppressed figures (grid positions) a reader could work out exactly from the
    /// shown ones, by any combination of the table's sums.
    fn recoverable(table: &SuppressedTable) -> Vec<Pos> {
        recoverable_knowing(table, &[])
    }

    /// As [`recoverable`], for a reader who also knows the cells of the rows where
    /// `known` is true (whether or not the table shows them).
    fn recoverable_knowing(table: &SuppressedTable, known: &[bool]) -> Vec<Pos> {
        let mut hidden = suppressed_grid(table);
        let last_column = hidden[0].len() - 1;
        for (flags, _) in hidden.iter_mut().zip(known).filter(|(_, k)| **k) {
            flags[..last_column].fill(false);
        }
        determined(&hidden)
    }

    /// The hidden figures (grid positions) that the figures not hidden pin down exactly.
    /// Independent of `Grid`: each row and column of the grid is one linear equation in the
    /// hidden figures (after negating the margins every line sums to zero), and a figure is
    /// determined exactly when its unit vector lies in the span of those equations.
    fn determined(grid: &[Vec<bool>]) -> Vec<Pos> {
        let unknowns: Vec<Pos> = grid
            .iter()
            .enumerate()
            .flat_map(|(i, row)| row.iter().enumerate().map(move |(j, &s)| (s, (i, j))))
            .filter_map(|(s, p)| s.then_some(p))
            .collect();
        let equation = |on: &dyn Fn(Pos) -> bool| -> Vec<f64> {
            unknowns
                .iter()
                .map(|&p| if on(p) { 1.0 } else { 0.0 })
                .collect()
        };
        let mut equations = Vec::new();
        for i in 0..grid.len() {
            equations.push(equation(&|(r, _)| r == i));
        }
        for j in 0..grid[0].len() {
            equations.push(equation(&|(_, c)| c == j));
        }
        let base = rank(equations.clone());
        unknowns
            .iter()
            .copied()
            .filter(|&u| {
                let mut with = equations.clone();
                with.push(equation(&|p| p == u));
                rank(with) == base
            })
            .collect()
    }

    /// The input with its margins, laid out as `Grid` does.
    fn value_grid(rows: &[Vec<u64>]) -> Vec<Vec<u64>> {
        let (row_totals, column_totals, grand) = totals(rows);
        let width = column_totals.len();
        let mut grid: Vec<Vec<u64>> = rows
            .iter()
            .zip(row_totals)
            .map(|(row, total)| {
                let mut values = row.clone();
                values.resize(width, 0);
                values.push(total);
                values
            })
            .collect();
        grid.push(column_totals.into_iter().chain([grand]).collect());
        grid
    }

    /// The published table laid out as `Grid` does; a missing cell is a shown zero.
    fn shown_grid(table: &SuppressedTable) -> Vec<Vec<Shown<u64>>> {
        let width = table.column_totals.len();
        let mut grid: Vec<Vec<Shown<u64>>> = table
            .cells
            .iter()
            .zip(&table.row_totals)
            .map(|(row, &total)| {
                let mut shown = row.clone();
                shown.resize(width, Shown::visible(0));
                shown.push(total);
                shown
            })
            .collect();
        grid.push(
            table
                .column_totals
                .iter()
                .copied()
                .chain([table.grand_total])
                .collect(),
        );
        grid
    }

    fn totals(rows: &[Vec<u64>]) -> (Vec<u64>, Vec<u64>, u64) {
        let width = rows.iter().map(Vec::len).max().unwrap_or(0);
        let row_totals: Vec<u64> = rows.iter().map(|r| r.iter().sum()).collect();
        let column_totals = (0..width)
            .map(|j| rows.iter().filter_map(|r| r.get(j)).sum())
            .collect();
        (row_totals.clone(), column_totals, row_totals.iter().sum())
    }

    #[test]
    fn counts_of_one_to_five_are_suppressed_zero_and_six_are_shown() {
        for n in 1..=5 {
            assert!(is_withheld(&count(n, Restricted)), "{n} must be withheld");
        }
        assert_eq!(count(0, Restricted), Shown::visible(0));
        assert_eq!(count(6, Restricted), Shown::visible(6));
    }

    #[test]
    fn an_unrestricted_audience_sees_every_figure() {
        for n in 0..=12 {
            assert_eq!(count(n, Unrestricted), Shown::visible(n));
            assert_eq!(mean(n.max(1), 2.5, Unrestricted), Shown::visible(2.5));
        }
        assert_eq!(rate(1, 2, Unrestricted), Shown::visible(50.0));
        let table = suppress_table(&[[3, 40, 12, 0]], Unrestricted);
        assert!(table.cells[0].iter().all(|c| !c.suppressed));
        assert_eq!(table.row_totals, vec![Shown::visible(55)]);
    }

    #[test]
    fn rate_is_suppressed_on_a_small_count_either_side_or_a_base_up_to_ten() {
        assert!(is_withheld(&rate(5, 100, Restricted)));
        assert!(is_withheld(&rate(1, 100, Restricted)));
        assert!(is_withheld(&rate(95, 100, Restricted)));
        assert!(is_withheld(&rate(99, 100, Restricted)));
        assert!(is_withheld(&rate(6, 10, Restricted)));
        assert!(is_withheld(&rate(0, 10, Restricted)));
        // Zeros are shown, as counts are; so is a mean of 0 over as many cases.
        assert_eq!(rate(0, 12, Restricted), Shown::visible(0.0));
        assert_eq!(rate(12, 12, Restricted), Shown::visible(100.0));
        assert_eq!(mean(12, 0.0, Restricted), Shown::visible(0.0));
        // 6 of 11 leaves 5 outside: withheld; 6 of 13 is shown.
        assert!(is_withheld(&rate(6, 11, Restricted)));
        let shown = rate(6, 13, Restricted);
        assert!(!shown.suppressed);
        let percent = shown.value.expect("6 of 13 is shown");
        assert!((percent - 600.0 / 13.0).abs() < 1e-9, "{percent}");
    }

    #[test]
    fn rate_of_nobody_is_absent_not_suppressed() {
        assert_eq!(rate(0, 0, Restricted), Shown::absent());
        assert_eq!(rate(0, 0, Unrestricted), Shown::absent());
    }

    #[test]
    fn mean_or_median_over_ten_cases_or_fewer_is_suppressed() {
        assert!(is_withheld(&mean(10, 300.0, Restricted)));
        assert!(is_withheld(&median(1, 300.0, Restricted)));
        assert_eq!(mean(11, 300.0, Restricted), Shown::visible(300.0));
        assert_eq!(mean(0, 0.0, Restricted), Shown::absent());
        assert_eq!(
            mean(11, 300.4_f64, Restricted).map(|m| m.round() as i64),
            Shown::visible(300)
        );
    }

    #[test]
    fn a_lone_small_cell_in_a_row_takes_the_next_smallest_with_it() {
        let table = suppress_table(&[[3, 40, 12, 0]], Restricted);
        let row = &table.cells[0];
        assert!(is_withheld(&row[0]), "3 is primary");
        assert!(is_withheld(&row[2]), "12 is secondary");
        assert_eq!(row[1], Shown::visible(40));
        assert_eq!(row[3], Shown::visible(0));
        assert_eq!(table.row_totals, vec![Shown::visible(55)]);
        assert_eq!(table.grand_total, Shown::visible(55));
        assert!(recoverable(&table).is_empty());
    }

    #[test]
    fn two_small_cells_in_a_row_need_no_secondary_in_that_row() {
        let table = suppress_table(&[[2, 3, 40]], Restricted);
        assert!(is_withheld(&table.cells[0][0]) && is_withheld(&table.cells[0][1]));
        assert_eq!(table.cells[0][2], Shown::visible(40));
        assert_eq!(table.row_totals, vec![Shown::visible(45)]);

        // Columns checked too: the column totals 6 and 4 would otherwise give away a pair.
        let table = suppress_table(&[[2, 3, 40], [4, 1, 50]], Restricted);
        assert_eq!(table.cells[0][2], Shown::visible(40));
        assert_eq!(table.cells[1][2], Shown::visible(50));
        assert_eq!(
            table.row_totals,
            vec![Shown::visible(45), Shown::visible(55)]
        );
        assert!(is_withheld(&table.column_totals[0]) && is_withheld(&table.column_totals[1]));
        assert_eq!(table.grand_total, Shown::visible(100));
        assert!(recoverable(&table).is_empty());
    }

    #[test]
    fn a_line_with_no_other_non_zero_cell_gives_up_its_total() {
        // 3 takes 20 along its row and 40 down its column; 40's row has only a zero left,
        // so its total goes, and so on around the margins.
        let table = suppress_table(&[[3, 20], [40, 0]], Restricted);
        assert!(is_withheld(&table.cells[1][0]));
        assert_eq!(table.cells[1][1], Shown::visible(0));
        assert!(is_withheld(&table.row_totals[1]));
        assert!(recoverable(&table).is_empty());
    }

    #[test]
    fn a_cell_joining_two_suppressed_blocks_is_protected_too() {
        // Every line holds two suppressions or more after the primary step alone, yet the
        // 4 at (0, 2) is rows 0 and 1 less columns 0 and 1: the line rule misses it.
        let rows = [
            [2, 3, 4, 50, 60],
            [1, 5, 40, 70, 80],
            [30, 40, 2, 3, 90],
            [50, 60, 4, 1, 70],
            [60, 70, 80, 90, 100],
        ];
        let primary_only = SuppressedTable {
            cells: rows
                .iter()
                .map(|r| r.iter().map(|&n| count(n, Restricted)).collect())
                .collect(),
            row_totals: rows
                .iter()
                .map(|r| Shown::visible(r.iter().sum()))
                .collect(),
            column_totals: (0..5)
                .map(|j| Shown::visible(rows.iter().map(|r| r[j]).sum()))
                .collect(),
            grand_total: Shown::visible(rows.iter().flatten().sum()),
        };
        assert_eq!(recoverable(&primary_only), vec![(0, 2)]);

        let table = suppress_table(&rows, Restricted);
        assert!(recoverable(&table).is_empty(), "{table:?}");
    }

    #[test]
    fn rows_of_different_lengths_keep_their_shape() {
        let table = suppress_table(&[vec![30, 40], vec![50]], Restricted);
        assert_eq!(table.cells.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(
            table.column_totals,
            vec![Shown::visible(80), Shown::visible(40)]
        );
        let empty = suppress_table::<[u64; 0]>(&[], Restricted);
        assert_eq!(empty.grand_total, Shown::visible(0));
    }

    #[test]
    fn a_figure_the_known_row_would_give_away_is_protected() {
        // alder knows its 3; birch's 4 is withheld. The column total 7 less alder's 3 would
        // be birch's 4, so the total goes too, or another unknown cell of that column.
        let table = suppress_table_known(&[[3, 20], [4, 30]], &[true, false]);
        assert_eq!(table.cells[0], vec![Shown::visible(3), Shown::visible(20)]);
        assert_eq!(table.row_totals[0], Shown::visible(23));
        assert!(is_withheld(&table.cells[1][0]));
        assert!(is_withheld(&table.column_totals[0]), "{table:?}");
        assert!(
            recoverable_knowing(&table, &[true, false]).is_empty(),
            "{table:?}"
        );

        // With a third authority, cedar's 12 in that column can be withheld instead.
        let rows = [[3, 20], [4, 30], [12, 40]];
        let known = [true, false, false];
        let table = suppress_table_known(&rows, &known);
        assert_eq!(table.cells[0], vec![Shown::visible(3), Shown::visible(20)]);
        assert!(is_withheld(&table.cells[1][0]));
        assert!(
            is_withheld(&table.cells[2][0]) || is_withheld(&table.column_totals[0]),
            "{table:?}"
        );
        assert!(recoverable_knowing(&table, &known).is_empty(), "{table:?}");

        // Whereas a reader who does not know alder's row may see that total: the 3 and the
        // 4 hide each other.
        let table = suppress_table(&[[3, 20], [4, 30]], Restricted);
        assert!(is_withheld(&table.cells[0][0]) && is_withheld(&table.cells[1][0]));
        assert_eq!(table.column_totals[0], Shown::visible(7));
    }

    #[test]
    fn a_known_row_of_small_figures_stays_shown() {
        let rows = [[1, 2, 5], [30, 40, 50], [60, 70, 80]];
        let known = [true, false, false];
        let table = suppress_table_known(&rows, &known);
        assert_eq!(
            table.cells[0],
            vec![Shown::visible(1), Shown::visible(2), Shown::visible(5)]
        );
        assert_eq!(table.row_totals[0], Shown::visible(8));
        assert!(
            table.cells.iter().flatten().all(|c| !c.suppressed),
            "no other row needs protecting: {table:?}"
        );
        assert_eq!(
            table.column_totals,
            vec![Shown::visible(91), Shown::visible(112), Shown::visible(135)]
        );

        // Known in the middle of small unknown figures: still shown, and still counted.
        let rows = [[2, 40, 3], [1, 4, 50], [30, 2, 60]];
        let known = [false, true, false];
        let table = suppress_table_known(&rows, &known);
        assert_eq!(
            table.cells[1],
            vec![Shown::visible(1), Shown::visible(4), Shown::visible(50)]
        );
        assert_eq!(table.row_totals[1], Shown::visible(55));
        for (i, j) in [(0, 0), (0, 2), (2, 1)] {
            assert!(is_withheld(&table.cells[i][j]), "({i}, {j}) in {table:?}");
        }
        assert!(recoverable_knowing(&table, &known).is_empty(), "{table:?}");
    }

    #[test]
    fn a_column_whose_only_other_cell_is_known_gives_up_its_total() {
        // Column 1 holds alder's 2 (known) and birch's 5: nothing but the total can hide
        // birch's figure. Column 0 has a zero beside alder's 40, and stays as it is.
        let rows = [[40, 2, 30], [0, 5, 60]];
        let known = [true, false];
        let table = suppress_table_known(&rows, &known);
        assert_eq!(
            table.cells[0],
            vec![Shown::visible(40), Shown::visible(2), Shown::visible(30)]
        );
        assert_eq!(table.cells[1][0], Shown::visible(0));
        assert!(is_withheld(&table.cells[1][1]));
        assert!(is_withheld(&table.column_totals[1]), "{table:?}");
        assert_eq!(table.column_totals[0], Shown::visible(40));
        assert!(recoverable_knowing(&table, &known).is_empty(), "{table:?}");
    }

    #[test]
    fn a_total_the_reader_can_compute_is_shown_even_when_small() {
        // birch's 0 is shown, so the column total is alder's 3 for anyone who knows it:
        // withholding it would protect nothing.
        let table = suppress_table_known(&[[3, 40], [0, 50]], &[true, false]);
        assert_eq!(table.column_totals[0], Shown::visible(3));
        assert_eq!(table.cells[1], vec![Shown::visible(0), Shown::visible(50)]);
        assert!(recoverable_knowing(&table, &[true, false]).is_empty());
    }

    #[test]
    fn known_masks_at_the_extremes() {
        let rows = [[3, 40, 12, 0], [1, 2, 30, 4]];
        assert_eq!(
            suppress_table_known(&rows, &[true, true]),
            suppress_table(&rows, Unrestricted)
        );
        assert_eq!(
            suppress_table_known(&rows, &[false, false]),
            suppress_table(&rows, Restricted)
        );
        // A mask too short leaves the rows past its end unknown.
        assert_eq!(
            suppress_table_known(&rows, &[]),
            suppress_table(&rows, Restricted)
        );
    }

    #[test]
    fn a_line_with_a_known_total_hides_a_lone_small_figure_behind_the_next_smallest() {
        let v = Shown::visible;
        let hidden = Shown::withheld();
        // alder's own 2 is known; birch's 3 is primary, cedar's 6 (not 40) goes with it.
        assert_eq!(
            suppress_line_known_total(&[2, 3, 40, 6, 0], &[true]),
            vec![v(2), hidden, v(40), hidden, v(0)]
        );
        // Two small figures hide each other.
        assert_eq!(
            suppress_line_known_total(&[2, 3, 40, 1], &[true]),
            vec![v(2), hidden, v(40), hidden]
        );
        // A known small figure is never the partner, nor withheld.
        assert_eq!(
            suppress_line_known_total(&[2, 3, 40], &[true, false, false]),
            vec![v(2), hidden, hidden]
        );
        // Nothing but zeros and known figures beside it: the total gives it away whatever
        // is withheld, so it is shown.
        assert_eq!(
            suppress_line_known_total(&[2, 3, 0], &[true]),
            vec![v(2), v(3), v(0)]
        );
        assert_eq!(suppress_line_known_total(&[], &[]), vec![]);
    }

    proptest! {
        #[test]
        fn a_line_with_a_known_total_gives_no_withheld_figure_away(
            (values, known) in (0usize..=6).prop_flat_map(|n| (
                prop::collection::vec(0u64..=12, n),
                prop::collection::vec(any::<bool>(), n),
            ))
        ) {
            let line = suppress_line_known_total(&values, &known);
            prop_assert_eq!(line.len(), values.len());
            let withheld: Vec<usize> = (0..values.len()).filter(|&i| line[i].suppressed).collect();
            // The reader knows the total and every shown figure, so knows the sum of the
            // withheld ones: with two or more, all non-zero, none is pinned down.
            prop_assert!(withheld.len() != 1, "{line:?}");
            for (i, (&value, figure)) in values.iter().zip(&line).enumerate() {
                if figure.suppressed {
                    prop_assert!(is_withheld(figure));
                    prop_assert!(value > 0 && !known[i], "{i}: {line:?}");
                } else {
                    prop_assert_eq!(figure.value, Some(value));
                }
            }
            // A small unknown figure is shown only when the total would give it away.
            let others_hidden = |i: usize| {
                (0..values.len()).any(|j| j != i && values[j] > 0 && !known[j])
            };
            for i in 0..values.len() {
                if is_small(values[i]) && !known[i] && others_hidden(i) {
                    prop_assert!(line[i].suppressed, "{i}: {line:?}");
                }
            }
        }
    }

    fn tables(largest: u64) -> impl Strategy<Value = Vec<Vec<u64>>> {
        (1usize..=5, 1usize..=5).prop_flat_map(move |(height, width)| {
            prop::collection::vec(prop::collection::vec(0..=largest, width), height)
        })
    }

    fn tables_with_known(largest: u64) -> impl Strategy<Value = (Vec<Vec<u64>>, Vec<bool>)> {
        tables(largest).prop_flat_map(|rows| {
            let height = rows.len();
            (Just(rows), prop::collection::vec(any::<bool>(), height))
        })
    }

    /// Checks `suppress_table_known` for a reader who knows the rows where `known` is true.
    /// Only known rows' cells and zeros (never withheld) are taken as known to the reader
    /// beforehand; what else they pin down, and what the published table gives away, is
    /// left to the independent linear-algebra check.
    fn check_known(rows: &[Vec<u64>], known: &[bool]) -> Result<(), TestCaseError> {
        let table = suppress_table_known(rows, known);
        let values = value_grid(rows);
        let shown = shown_grid(&table);
        let (last_row, last_column) = (values.len() - 1, values[0].len() - 1);
        let is_known_cell =
            |(i, j): Pos| i < last_row && j < last_column && known.get(i) == Some(&true);
        // What the reader can compute whatever is withheld: a known row's total, a total
        // whose other members are zeros, and the like.
        let beforehand: Vec<Vec<bool>> = values
            .iter()
            .enumerate()
            .map(|(i, row)| {
                row.iter()
                    .enumerate()
                    .map(|(j, &v)| v == 0 || is_known_cell((i, j)))
                    .collect()
            })
            .collect();
        let hidden: Vec<Vec<bool>> = beforehand
            .iter()
            .map(|row| row.iter().map(|&k| !k).collect())
            .collect();
        let computable = determined(&hidden);
        for (i, (inputs, figures)) in values.iter().zip(&shown).enumerate() {
            for (j, (&input, &figure)) in inputs.iter().zip(figures).enumerate() {
                let knowable = beforehand[i][j] || computable.contains(&(i, j));
                if figure.suppressed {
                    prop_assert_eq!(figure.value, None);
                } else {
                    prop_assert_eq!(figure.value, Some(input), "({}, {})", i, j);
                }
                if is_known_cell((i, j)) {
                    prop_assert!(!figure.suppressed, "known ({i}, {j}) withheld: {table:?}");
                }
                if knowable {
                    prop_assert!(!figure.suppressed, "({i}, {j}) is knowable: {table:?}");
                } else if is_small(input) {
                    prop_assert!(is_withheld(&figure), "({i}, {j}) = {input} shown");
                }
                if input == 0 {
                    prop_assert_eq!(figure, Shown::visible(0));
                }
            }
        }
        // The brief's line test, on the table's own rows and columns.
        for (row, total) in table.cells.iter().zip(&table.row_totals) {
            let n = row.iter().filter(|c| c.suppressed).count();
            prop_assert!(n != 1 || total.suppressed, "row {row:?} total {total:?}");
        }
        for j in 0..table.column_totals.len() {
            let n = table.cells.iter().filter(|r| r[j].suppressed).count();
            let total = table.column_totals[j];
            prop_assert!(n != 1 || total.suppressed, "column {j}: {table:?}");
        }
        // And the full test: nothing suppressed can be worked out at all, even with the
        // known rows in hand.
        let exposed = recoverable_knowing(&table, known);
        prop_assert!(
            exposed.is_empty(),
            "{exposed:?} knowing {known:?} in {table:?}"
        );
        Ok(())
    }

    fn check_restricted(rows: &[Vec<u64>]) -> Result<(), TestCaseError> {
        let none = vec![false; rows.len()];
        prop_assert_eq!(
            suppress_table(rows, Restricted),
            suppress_table_known(rows, &none)
        );
        check_known(rows, &none)
    }

    proptest! {
        #[test]
        fn no_suppressed_figure_can_be_worked_out(rows in tables(30)) {
            check_restricted(&rows)?;
        }

        #[test]
        fn no_suppressed_figure_can_be_worked_out_in_sparse_tables(rows in tables(8)) {
            check_restricted(&rows)?;
        }

        #[test]
        fn no_suppressed_figure_can_be_worked_out_knowing_some_rows(
            (rows, known) in tables_with_known(30)
        ) {
            check_known(&rows, &known)?;
        }

        #[test]
        fn no_suppressed_figure_can_be_worked_out_in_sparse_tables_knowing_some_rows(
            (rows, known) in tables_with_known(8)
        ) {
            check_known(&rows, &known)?;
        }

        #[test]
        fn a_table_with_every_row_known_is_shown_unchanged(rows in tables(30)) {
            let table = suppress_table_known(&rows, &vec![true; rows.len()]);
            let expected: Vec<Vec<Shown<u64>>> = value_grid(&rows)
                .iter()
                .map(|row| row.iter().map(|&n| Shown::visible(n)).collect())
                .collect();
            prop_assert_eq!(shown_grid(&table), expected);
        }

        #[test]
        fn a_table_with_no_row_known_is_the_restricted_table(rows in tables(30)) {
            let none = vec![false; rows.len()];
            prop_assert_eq!(
                suppress_table_known(&rows, &none),
                suppress_table(&rows, Restricted)
            );
        }

        #[test]
        fn an_unrestricted_table_is_shown_unchanged(rows in tables(30)) {
            let table = suppress_table(&rows, Unrestricted);
            let (row_totals, column_totals, grand) = totals(&rows);
            let shown = |v: &[u64]| v.iter().map(|&n| Shown::visible(n)).collect::<Vec<_>>();
            prop_assert_eq!(table.cells, rows.iter().map(|r| shown(r)).collect::<Vec<_>>());
            prop_assert_eq!(table.row_totals, shown(&row_totals));
            prop_assert_eq!(table.column_totals, shown(&column_totals));
            prop_assert_eq!(table.grand_total, Shown::visible(grand));
        }
    }
}
