//! Cross-boundary flows: placements in a period as a matrix of the child's authority by
//! the household's authority, with the inter-agency fees. Pure: placements in, matrix out.
use std::collections::BTreeMap;

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
