//! Sufficiency: do the approved households waiting fit the children waiting? Pure: units
//! of children and households in, a row per characteristic out, and the rows as published
//! to an audience ([`publish`]).
//!
//! A *placement unit* is a child on their own, or a sibling group that must be placed
//! together (counted once). A unit has a characteristic when any of its children has it.
//! A household "accepts" a characteristic as follows: age 5+ when its age range reaches 60
//! months; a sibling group when it accepts siblings and has room for two or more; a
//! disability when it accepts a disability need above none; and, for ethnic minority
//! children, when the household's own ethnicity is a minority one — ethnicity is never a
//! matching rule, so this row measures the diversity of the adopters waiting, the usual
//! sufficiency reading.
use super::codes::coded;
use serde::{Deserialize, Serialize};

use super::codes::as_graphql;
use super::disclosure::{self, Audience, Shown};

coded! {
    /// What the sufficiency report breaks children down by.
    pub enum Characteristic {
        /// Every waiting child and every waiting household.
        All,
        /// Aged five or over.
        AgedFivePlus,
        /// In a sibling group to be placed together.
        SiblingGroup,
        EthnicMinority,
        Disability,
    }
}

impl Characteristic {
    /// Every characteristic, in report order.
    pub const ALL: [Characteristic; 5] = [
        Characteristic::All,
        Characteristic::AgedFivePlus,
        Characteristic::SiblingGroup,
        Characteristic::EthnicMinority,
        Characteristic::Disability,
    ];
}

/// A waiting child, as sufficiency reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitingChild {
    pub aged_five_plus: bool,
    pub ethnic_minority: bool,
    pub disability: bool,
}

/// A placement unit: one child, or a must-stay-together sibling group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unit {
    pub children: Vec<WaitingChild>,
}

impl Unit {
    fn has(&self, c: Characteristic) -> bool {
        match c {
            Characteristic::All => true,
            Characteristic::AgedFivePlus => self.children.iter().any(|x| x.aged_five_plus),
            Characteristic::SiblingGroup => self.children.len() >= 2,
            Characteristic::EthnicMinority => self.children.iter().any(|x| x.ethnic_minority),
            Characteristic::Disability => self.children.iter().any(|x| x.disability),
        }
    }
}

/// An approved household waiting, as sufficiency reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitingHousehold {
    pub accepts_aged_five_plus: bool,
    pub accepts_sibling_group: bool,
    pub ethnic_minority: bool,
    pub accepts_disability: bool,
}

impl WaitingHousehold {
    fn accepts(&self, c: Characteristic) -> bool {
        match c {
            Characteristic::All => true,
            Characteristic::AgedFivePlus => self.accepts_aged_five_plus,
            Characteristic::SiblingGroup => self.accepts_sibling_group,
            Characteristic::EthnicMinority => self.ethnic_minority,
            Characteristic::Disability => self.accepts_disability,
        }
    }
}

/// One row of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SufficiencyRow {
    pub characteristic: Characteristic,
    /// Waiting children in units with the characteristic.
    pub children: u64,
    /// Placement units with the characteristic.
    pub units: u64,
    /// Waiting households that accept it.
    pub households: u64,
}

impl SufficiencyRow {
    /// Households less units: negative where there are fewer households than units.
    pub fn gap(&self) -> i64 {
        self.households as i64 - self.units as i64
    }
}

/// A row per characteristic.
pub fn sufficiency(units: &[Unit], households: &[WaitingHousehold]) -> Vec<SufficiencyRow> {
    Characteristic::ALL
        .iter()
        .map(|c| {
            let with: Vec<&Unit> = units.iter().filter(|u| u.has(*c)).collect();
            SufficiencyRow {
                characteristic: *c,
                children: with.iter().map(|u| u.children.len() as u64).sum(),
                units: with.len() as u64,
                households: households.iter().filter(|h| h.accepts(*c)).count() as u64,
            }
        })
        .collect()
}

/// One row of the report as published to an audience.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PublishedRow {
    #[serde(with = "as_graphql")]
    pub characteristic: Characteristic,
    pub children: Shown<u64>,
    pub units: Shown<u64>,
    pub households: Shown<u64>,
    /// Households less units; `None` when either is not shown.
    pub gap: Option<i64>,
}

/// The rows as published to `audience`: each count by the count rule, the gap only where
/// both its figures are shown.
pub fn publish(rows: &[SufficiencyRow], audience: Audience) -> Vec<PublishedRow> {
    rows.iter()
        .map(|r| {
            let units = disclosure::count(r.units, audience);
            let households = disclosure::count(r.households, audience);
            PublishedRow {
                characteristic: r.characteristic,
                children: disclosure::count(r.children, audience),
                gap: (units.value.is_some() && households.value.is_some()).then(|| r.gap()),
                units,
                households,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PLAIN: WaitingChild = WaitingChild {
        aged_five_plus: false,
        ethnic_minority: false,
        disability: false,
    };

    #[test]
    fn a_sibling_group_counts_once_as_a_unit_and_by_each_child() {
        let older = WaitingChild {
            aged_five_plus: true,
            ..PLAIN
        };
        let units = vec![
            Unit {
                children: vec![older, PLAIN, PLAIN],
            },
            Unit {
                children: vec![PLAIN],
            },
            Unit {
                children: vec![WaitingChild {
                    disability: true,
                    ethnic_minority: true,
                    ..PLAIN
                }],
            },
        ];
        let households = [
            WaitingHousehold {
                accepts_aged_five_plus: true,
                accepts_sibling_group: true,
                ethnic_minority: false,
                accepts_disability: false,
            },
            WaitingHousehold {
                accepts_aged_five_plus: false,
                accepts_sibling_group: false,
                ethnic_minority: true,
                accepts_disability: true,
            },
        ];
        let rows = sufficiency(&units, &households);
        let row = |c| *rows.iter().find(|r| r.characteristic == c).unwrap();
        assert_eq!(
            (
                row(Characteristic::All).children,
                row(Characteristic::All).units
            ),
            (5, 3)
        );
        assert_eq!(row(Characteristic::All).gap(), -1);
        let siblings = row(Characteristic::SiblingGroup);
        assert_eq!(
            (siblings.children, siblings.units, siblings.households),
            (3, 1, 1)
        );
        assert_eq!(row(Characteristic::AgedFivePlus).units, 1);
        assert_eq!(row(Characteristic::Disability).households, 1);
        assert_eq!(row(Characteristic::EthnicMinority).gap(), 0);
    }
}
