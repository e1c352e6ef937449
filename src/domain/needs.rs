//! Needs of a child, and the needs a household is approved to meet, per category.
use async_graphql::Enum;
use strum::{EnumIter, IntoStaticStr};

/// How much a need weighs, `NONE` lowest. Ordered, so `child <= accepted` is the rule.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Enum, IntoStaticStr,
)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum NeedLevel {
    #[default]
    None,
    Low,
    Medium,
    High,
}

impl NeedLevel {
    /// The stored number, 0 (`NONE`) to 3 (`HIGH`).
    pub fn rank(self) -> i16 {
        self as i16
    }

    /// The level of a stored number; anything out of range is clamped.
    pub fn from_rank(rank: i16) -> Self {
        match rank {
            i16::MIN..=0 => NeedLevel::None,
            1 => NeedLevel::Low,
            2 => NeedLevel::Medium,
            _ => NeedLevel::High,
        }
    }
}

/// The categories needs are assessed in; the same for children and households.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Enum, IntoStaticStr, EnumIter,
)]
#[strum(serialize_all = "SCREAMING_SNAKE_CASE")]
pub enum NeedCategory {
    PhysicalHealth,
    Disability,
    Learning,
    DevelopmentalUncertainty,
    EmotionalBehavioural,
    /// Foetal alcohol spectrum disorder and other prenatal exposure.
    PrenatalExposure,
}

/// A level per category.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NeedLevels {
    pub physical_health: NeedLevel,
    pub disability: NeedLevel,
    pub learning: NeedLevel,
    pub developmental_uncertainty: NeedLevel,
    pub emotional_behavioural: NeedLevel,
    pub prenatal_exposure: NeedLevel,
}

impl NeedLevels {
    /// Builds the levels from stored ranks, in `NeedCategory` order.
    pub fn from_ranks(r: [i16; 6]) -> Self {
        NeedLevels {
            physical_health: NeedLevel::from_rank(r[0]),
            disability: NeedLevel::from_rank(r[1]),
            learning: NeedLevel::from_rank(r[2]),
            developmental_uncertainty: NeedLevel::from_rank(r[3]),
            emotional_behavioural: NeedLevel::from_rank(r[4]),
            prenatal_exposure: NeedLevel::from_rank(r[5]),
        }
    }

    /// The stored ranks, in `NeedCategory` order.
    pub fn ranks(&self) -> [i16; 6] {
        self.levels().map(NeedLevel::rank)
    }

    /// The levels in `NeedCategory` order.
    pub fn levels(&self) -> [NeedLevel; 6] {
        [
            self.physical_health,
            self.disability,
            self.learning,
            self.developmental_uncertainty,
            self.emotional_behavioural,
            self.prenatal_exposure,
        ]
    }

    /// The level of one category.
    pub fn get(&self, category: NeedCategory) -> NeedLevel {
        self.levels()[category as usize]
    }

    /// The highest level per category over several children (a sibling group's needs).
    pub fn max(&self, other: &NeedLevels) -> NeedLevels {
        let (a, b) = (self.ranks(), other.ranks());
        NeedLevels::from_ranks(std::array::from_fn(|i| a[i].max(b[i])))
    }

    /// Categories where `self` (a child) exceeds what `accepted` (a household) meets.
    pub fn exceeding(&self, accepted: &NeedLevels) -> Vec<NeedCategory> {
        use strum::IntoEnumIterator;
        NeedCategory::iter()
            .filter(|c| self.get(*c) > accepted.get(*c))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_round_trip_and_clamp() {
        let levels = NeedLevels::from_ranks([0, 1, 2, 3, 9, -1]);
        assert_eq!(levels.ranks(), [0, 1, 2, 3, 3, 0]);
        assert_eq!(levels.get(NeedCategory::Learning), NeedLevel::Medium);
    }

    #[test]
    fn exceeding_lists_categories_above_what_is_accepted() {
        let child = NeedLevels::from_ranks([2, 0, 0, 3, 0, 0]);
        let household = NeedLevels::from_ranks([2, 3, 3, 2, 3, 3]);
        assert_eq!(
            child.exceeding(&household),
            vec![NeedCategory::DevelopmentalUncertainty]
        );
        assert_eq!(child.max(&household).ranks(), [2, 3, 3, 3, 3, 3]);
    }
}
