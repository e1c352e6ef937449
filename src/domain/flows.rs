//! Cross-boundary flows: placements in a period as a matrix of the child's authority by
//! the household's authority, with the inter-agency fees, and the matrix as published:
//! to an audience over a set of authorities ([`publish`]), or to a member of some
//! authorities, every placement involving them on either side ([`publish_involving`]).
//! Pure: placements in, matrix out.
use std::collections::BTreeMap;

use super::disclosure::{self, Audience, Shown};

/// One placement: a link placed in the period (a sibling group placed together is one
/// link of several children).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub child_authority_id: i64,
    pub household_authority_id: i64,
    /// Children placed by the link.
    pub children: u64,
    /// The inter-agency fee, in pence, if one was recorded.
    pub fee_pence: Option<u64>,
}

/// Children placed and fees, for one cell of the matrix (or a total).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flow {
    pub children: u64,
    pub fees_pence: u64,
}

/// The matrix over `authorities` (rows: the child's authority; columns: the household's),
/// each cell in `authorities` order. Placements involving an authority outside the list
/// are left out.
pub fn matrix(placements: &[Placement], authorities: &[i64]) -> Vec<Vec<Flow>> {
    let index: BTreeMap<i64, usize> = authorities
        .iter()
        .enumerate()
        .map(|(i, a)| (*a, i))
        .collect();
    let mut cells = vec![vec![Flow::default(); authorities.len()]; authorities.len()];
    for p in placements {
        if let (Some(r), Some(c)) = (
            index.get(&p.child_authority_id),
            index.get(&p.household_authority_id),
        ) {
            cells[*r][*c].children += p.children;
            cells[*r][*c].fees_pence += p.fee_pence.unwrap_or(0);
        }
    }
    cells
}

/// Children placed and fees for one cell of the matrix, as published.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PublishedCell {
    pub child_authority: i64,
    pub household_authority: i64,
    pub children: Shown<u64>,
    /// Withheld with the placements it belongs to.
    pub fees_pence: Shown<u64>,
}

/// Children placed and fees in total for one authority (`None`: for all), as published.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PublishedTotal {
    pub authority: Option<i64>,
    pub children: Shown<u64>,
    pub fees_pence: Shown<u64>,
}

/// The flows as published to an audience.
#[derive(Clone, Debug, PartialEq)]
pub struct PublishedFlows {
    /// Every pair, row by row: the child's authority by the household's.
    pub cells: Vec<PublishedCell>,
    /// Children of each authority placed, wherever.
    pub by_child_authority: Vec<PublishedTotal>,
    /// Children placed with each authority's households, whoever's they were.
    pub by_household_authority: Vec<PublishedTotal>,
    pub total: PublishedTotal,
    /// Children placed with another authority's household.
    pub cross_boundary_children: Shown<u64>,
    pub cross_boundary_percent: Shown<f64>,
    pub cross_boundary_fees_pence: Shown<u64>,
}

/// The matrix over `authorities` ([`matrix`]) as published to `audience`: the children
/// suppressed as one breakdown (rows, columns and the grand total), each fee shown only
/// where the placements it belongs to are, and the cross-boundary figures (the total less
/// the diagonal) only where every figure they are made of is.
pub fn publish(matrix: &[Vec<Flow>], authorities: &[i64], audience: Audience) -> PublishedFlows {
    let m = matrix;
    let table: Vec<Vec<u64>> = m
        .iter()
        .map(|r| r.iter().map(|f| f.children).collect())
        .collect();
    let t = disclosure::suppress_table(&table, audience);
    let n = authorities.len();
    let mut cells = Vec::with_capacity(n * n);
    for (r, row) in m.iter().enumerate() {
        for (c, flow) in row.iter().enumerate() {
            cells.push(PublishedCell {
                child_authority: authorities[r],
                household_authority: authorities[c],
                children: t.cells[r][c],
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
    PublishedFlows {
        cells,
        by_child_authority: (0..n)
            .map(|r| PublishedTotal {
                authority: Some(authorities[r]),
                children: t.row_totals[r],
                fees_pence: fee(t.row_totals[r], row_fees(r)),
            })
            .collect(),
        by_household_authority: (0..n)
            .map(|c| PublishedTotal {
                authority: Some(authorities[c]),
                children: t.column_totals[c],
                fees_pence: fee(t.column_totals[c], col_fees(c)),
            })
            .collect(),
        total: PublishedTotal {
            authority: None,
            children: t.grand_total,
            fees_pence: fee(t.grand_total, all_fees),
        },
        cross_boundary_children: cross,
        cross_boundary_percent: cross_percent,
        cross_boundary_fees_pence: fee(cross, all_fees - diagonal_fees),
    }
}

/// The flows as a member of the `own` authorities sees them: every placement involving one
/// of them on either side — children they placed anywhere and children their households
/// took from anywhere — whoever the other authority is (`others`: the rest of the
/// consortium, `others_known[i]` when the member may read `others[i]` in full too).
///
/// The member's own figures are shown as they are: the pairs between own authorities, each
/// own authority's totals both ways, the total of the placements involving them and the
/// cross-boundary figures (all of them sums of the member's own placements). A pair with
/// another authority is under disclosure control. Nothing about the other authorities is
/// shown besides (no pair between two of them, none of their totals), so the only relations
/// a reader has over those pairs are the own authority's row and column: each a line whose
/// total the member knows, protected by [`disclosure::suppress_line_known_total`]. The fees
/// of a pair are withheld with its placements.
pub fn publish_involving(
    placements: &[Placement],
    own: &[i64],
    others: &[i64],
    others_known: &[bool],
) -> PublishedFlows {
    let authorities: Vec<i64> = own.iter().chain(others).copied().collect();
    let m = matrix(placements, &authorities);
    let (o, n) = (own.len(), authorities.len());
    let known: Vec<bool> = (0..n)
        .map(|i| i < o || others_known.get(i - o).copied().unwrap_or(false))
        .collect();
    let mut shown: Vec<Vec<Shown<u64>>> = m
        .iter()
        .map(|row| row.iter().map(|f| Shown::visible(f.children)).collect())
        .collect();
    for r in 0..o {
        let line: Vec<u64> = (o..n).map(|j| m[r][j].children).collect();
        let published = disclosure::suppress_line_known_total(&line, &known[o..]);
        for (j, figure) in (o..n).zip(published) {
            shown[r][j] = figure;
        }
    }
    for c in 0..o {
        let line: Vec<u64> = (o..n).map(|i| m[i][c].children).collect();
        let published = disclosure::suppress_line_known_total(&line, &known[o..]);
        for (i, figure) in (o..n).zip(published) {
            shown[i][c] = figure;
        }
    }
    let involved = |i: usize, j: usize| i < o || j < o;
    let mut cells = Vec::new();
    for (i, row) in m.iter().enumerate() {
        for (j, flow) in row.iter().enumerate().filter(|&(j, _)| involved(i, j)) {
            cells.push(PublishedCell {
                child_authority: authorities[i],
                household_authority: authorities[j],
                children: shown[i][j],
                fees_pence: fee(shown[i][j], flow.fees_pence),
            });
        }
    }
    let sum = |pick: &dyn Fn(usize, usize) -> bool| {
        let mut total = Flow::default();
        for (i, row) in m.iter().enumerate() {
            for (_, flow) in row.iter().enumerate().filter(|&(j, _)| pick(i, j)) {
                total.children += flow.children;
                total.fees_pence += flow.fees_pence;
            }
        }
        total
    };
    // Every one of them a sum of the member's own placements: shown as it is.
    let shown_total = |authority: Option<i64>, flow: Flow| PublishedTotal {
        authority,
        children: Shown::visible(flow.children),
        fees_pence: Shown::visible(flow.fees_pence),
    };
    let all = sum(&involved);
    let same = sum(&|i, j| i == j && i < o);
    let cross = all.children - same.children;
    PublishedFlows {
        cells,
        by_child_authority: (0..o)
            .map(|r| shown_total(Some(own[r]), sum(&|i, _| i == r)))
            .collect(),
        by_household_authority: (0..o)
            .map(|c| shown_total(Some(own[c]), sum(&|_, j| j == c)))
            .collect(),
        total: shown_total(None, all),
        cross_boundary_children: Shown::visible(cross),
        cross_boundary_percent: disclosure::rate(cross, all.children, Audience::Unrestricted),
        cross_boundary_fees_pence: Shown::visible(all.fees_pence - same.fees_pence),
    }
}

/// A fee shown only where the placements it belongs to are shown.
fn fee(children: Shown<u64>, fees: u64) -> Shown<u64> {
    if children.suppressed {
        Shown::withheld()
    } else {
        Shown::visible(fees)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements_fall_in_their_cells_and_fees_add_up() {
        let p = |c, h, children, fee| Placement {
            child_authority_id: c,
            household_authority_id: h,
            children,
            fee_pence: fee,
        };
        let m = matrix(
            &[
                p(1, 1, 1, None),
                p(1, 2, 3, Some(2_700_000)),
                p(1, 2, 1, Some(2_700_000)),
                p(3, 1, 1, None),
            ],
            &[1, 2],
        );
        assert_eq!(
            m[0][0],
            Flow {
                children: 1,
                fees_pence: 0
            }
        );
        assert_eq!(
            m[0][1],
            Flow {
                children: 4,
                fees_pence: 5_400_000
            }
        );
        assert_eq!(
            m[1],
            vec![Flow::default(); 2],
            "authority 3 is outside the list"
        );
    }

    #[test]
    fn a_member_sees_every_placement_involving_its_authority_and_no_other() {
        let p = |c, h, children, fee| Placement {
            child_authority_id: c,
            household_authority_id: h,
            children,
            fee_pence: fee,
        };
        let placements = [
            p(1, 1, 2, None),
            p(1, 2, 3, Some(100)),
            p(1, 3, 6, Some(200)),
            p(2, 1, 7, Some(400)),
            p(2, 3, 1, Some(800)),
            p(3, 4, 9, None),
        ];
        let f = publish_involving(&placements, &[1], &[2, 3, 4], &[false; 3]);
        let cell = |c: i64, h: i64| {
            f.cells
                .iter()
                .find(|x| x.child_authority == c && x.household_authority == h)
                .map(|x| (x.children, x.fees_pence))
        };
        let v = Shown::visible;
        let hidden = Shown::withheld();
        assert_eq!(cell(1, 1), Some((v(2), v(0))));
        // The 3 is primary; the 6 is the smallest other figure of alder's row.
        assert_eq!(cell(1, 2), Some((hidden, hidden)));
        assert_eq!(cell(1, 3), Some((hidden, hidden)));
        assert_eq!(cell(1, 4), Some((v(0), v(0))));
        assert_eq!(cell(2, 1), Some((v(7), v(400))));
        assert_eq!(cell(3, 1), Some((v(0), v(0))));
        assert_eq!(cell(2, 3), None, "a pair of two other authorities");
        assert_eq!(cell(3, 4), None);
        assert_eq!(f.cells.len(), 4 + 3);
        assert_eq!(f.by_child_authority.len(), 1);
        assert_eq!(f.by_child_authority[0].children, v(11));
        assert_eq!(f.by_child_authority[0].fees_pence, v(300));
        assert_eq!(f.by_household_authority.len(), 1);
        assert_eq!(f.by_household_authority[0].children, v(9));
        assert_eq!(f.total.children, v(18));
        assert_eq!(f.total.fees_pence, v(700));
        assert_eq!(f.cross_boundary_children, v(16));
        assert_eq!(f.cross_boundary_fees_pence, v(700));
        assert_eq!(
            f.cross_boundary_percent,
            Shown::visible(100.0 * 16.0 / 18.0)
        );

        // Known to the member (it belongs there too): shown as it is, and no partner.
        let f = publish_involving(&placements, &[1], &[2, 3, 4], &[false, true, false]);
        assert_eq!(
            f.cells
                .iter()
                .filter(|x| x.child_authority == 1)
                .map(|x| x.children)
                .collect::<Vec<_>>(),
            vec![v(2), v(3), v(6), v(0)],
            "the 3 alone beside known figures and zeros is what the row total leaves"
        );
    }
}
