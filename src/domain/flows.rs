//! Cross-boundary flows: placements in a period as a matrix of the child's authority by
//! the household's authority, with the inter-agency fees, and the matrix as published to
//! an audience ([`publish`]). Pure: placements in, matrix out.
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
}
