//! The milestones of a child's adoption journey and the rules on their order.
//!
//! `enteredCareOn → adoptionPlanOn → shobpaDecisionOn → placementOrderOn → matchDecisionOn →
//! placedOn → adoptionOrderOn`. A later milestone may not precede an earlier one, except that
//! a match may be decided before the placement order (early permanence). No milestone may be
//! in the future or before the child was born.
use chrono::NaiveDate;

/// A milestone, named as in the API (the `field` of a validation error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MilestoneField {
    EnteredCareOn,
    AdoptionPlanOn,
    ShobpaDecisionOn,
    PlacementOrderOn,
    MatchDecisionOn,
    PlacedOn,
    AdoptionOrderOn,
    FosterPlacementStartedOn,
    AdoptedByFosterCarers,
    PlanChangedOn,
    PlacementOrderRevokedOn,
}

impl MilestoneField {
    /// The camelCase name used in GraphQL inputs and error `field`s.
    pub fn name(self) -> &'static str {
        match self {
            MilestoneField::EnteredCareOn => "enteredCareOn",
            MilestoneField::AdoptionPlanOn => "adoptionPlanOn",
            MilestoneField::ShobpaDecisionOn => "shobpaDecisionOn",
            MilestoneField::PlacementOrderOn => "placementOrderOn",
            MilestoneField::MatchDecisionOn => "matchDecisionOn",
            MilestoneField::PlacedOn => "placedOn",
            MilestoneField::AdoptionOrderOn => "adoptionOrderOn",
            MilestoneField::FosterPlacementStartedOn => "fosterPlacementStartedOn",
            MilestoneField::AdoptedByFosterCarers => "adoptedByFosterCarers",
            MilestoneField::PlanChangedOn => "planChangedOn",
            MilestoneField::PlacementOrderRevokedOn => "placementOrderRevokedOn",
        }
    }
}

/// Why a set of milestones was refused: which field, and a sentence for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MilestoneError {
    pub field: MilestoneField,
    pub message: String,
}

fn fail<T>(field: MilestoneField, message: String) -> Result<T, MilestoneError> {
    Err(MilestoneError { field, message })
}

/// A child's milestone dates as entered or edited, not yet checked. The only way to a
/// [`MilestoneDates`] is [`MilestoneDraft::validate`] (or, for dates read back from the
/// store, which were checked when written, [`MilestoneDates::recorded`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MilestoneDraft {
    pub entered_care_on: Option<NaiveDate>,
    pub adoption_plan_on: Option<NaiveDate>,
    pub shobpa_decision_on: Option<NaiveDate>,
    pub placement_order_on: Option<NaiveDate>,
    pub match_decision_on: Option<NaiveDate>,
    pub placed_on: Option<NaiveDate>,
    pub adoption_order_on: Option<NaiveDate>,
    pub foster_placement_started_on: Option<NaiveDate>,
    pub adopted_by_foster_carers: bool,
    pub plan_changed_on: Option<NaiveDate>,
    pub placement_order_revoked_on: Option<NaiveDate>,
}

/// A child's milestone dates that passed every rule: built only by
/// [`MilestoneDraft::validate`] or, for dates read back from the store,
/// [`MilestoneDates::recorded`]. Read through `Deref`; changed through
/// [`MilestoneDates::edit`], which gives back a draft to validate again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MilestoneDates(MilestoneDraft);

impl std::ops::Deref for MilestoneDates {
    type Target = MilestoneDraft;

    fn deref(&self) -> &MilestoneDraft {
        &self.0
    }
}

impl MilestoneDraft {
    /// Every date with its field: the main chain in order (the first seven), then the rest.
    fn dated(&self) -> [(MilestoneField, Option<NaiveDate>); 10] {
        use MilestoneField::*;
        [
            (EnteredCareOn, self.entered_care_on),
            (AdoptionPlanOn, self.adoption_plan_on),
            (ShobpaDecisionOn, self.shobpa_decision_on),
            (PlacementOrderOn, self.placement_order_on),
            (MatchDecisionOn, self.match_decision_on),
            (PlacedOn, self.placed_on),
            (AdoptionOrderOn, self.adoption_order_on),
            (FosterPlacementStartedOn, self.foster_placement_started_on),
            (PlanChangedOn, self.plan_changed_on),
            (PlacementOrderRevokedOn, self.placement_order_revoked_on),
        ]
    }

    /// The date of `field` (`None` for `adoptedByFosterCarers`, which is not a date).
    fn date(&self, field: MilestoneField) -> Option<NaiveDate> {
        self.dated()
            .into_iter()
            .find(|(f, _)| *f == field)
            .and_then(|(_, d)| d)
    }

    /// Whether `field` is recorded.
    fn has(&self, field: MilestoneField) -> bool {
        match field {
            MilestoneField::AdoptedByFosterCarers => self.adopted_by_foster_carers,
            _ => self.date(field).is_some(),
        }
    }

    /// The date slot of `field` (`None` for `adoptedByFosterCarers`, which is not a date).
    fn date_mut(&mut self, field: MilestoneField) -> Option<&mut Option<NaiveDate>> {
        use MilestoneField::*;
        Some(match field {
            EnteredCareOn => &mut self.entered_care_on,
            AdoptionPlanOn => &mut self.adoption_plan_on,
            ShobpaDecisionOn => &mut self.shobpa_decision_on,
            PlacementOrderOn => &mut self.placement_order_on,
            MatchDecisionOn => &mut self.match_decision_on,
            PlacedOn => &mut self.placed_on,
            AdoptionOrderOn => &mut self.adoption_order_on,
            FosterPlacementStartedOn => &mut self.foster_placement_started_on,
            PlanChangedOn => &mut self.plan_changed_on,
            PlacementOrderRevokedOn => &mut self.placement_order_revoked_on,
            AdoptedByFosterCarers => return None,
        })
    }

    /// These dates (read from an import's files) laid over `held` (the dates recorded): a
    /// date the files carry replaces the one held, a date they do not carry leaves the one
    /// held as it is — an import corrects dates but never clears one, since a date recorded
    /// in the service after an earlier import (a match, a placement) is not in the files
    /// of the authority's case system until its next return. Likewise "adopted by the
    /// foster carers" is set, never unset. Gives the merged draft (to validate) and the
    /// fields whose held value stood against the files' silence.
    pub fn laid_over(self, held: &MilestoneDraft) -> (MilestoneDraft, Vec<MilestoneField>) {
        let mut merged = self;
        let mut kept = Vec::new();
        for (field, held_date) in held.dated() {
            let slot = merged.date_mut(field).expect("a date field");
            if slot.is_none() && held_date.is_some() {
                *slot = held_date;
                kept.push(field);
            }
        }
        if held.adopted_by_foster_carers && !merged.adopted_by_foster_carers {
            merged.adopted_by_foster_carers = true;
            kept.push(MilestoneField::AdoptedByFosterCarers);
        }
        (merged, kept)
    }

    /// The latest date recorded, of any milestone.
    pub fn latest(&self) -> Option<NaiveDate> {
        self.dated().into_iter().filter_map(|(_, d)| d).max()
    }

    /// Checks every rule for a child born on `date_of_birth`, as of `today`.
    pub fn validate(
        self,
        date_of_birth: NaiveDate,
        today: NaiveDate,
    ) -> Result<MilestoneDates, MilestoneError> {
        use MilestoneField::*;

        for (field, date) in self.dated() {
            let Some(date) = date else { continue };
            if date > today {
                return fail(field, format!("{} cannot be in the future", field.name()));
            }
            if date < date_of_birth {
                return fail(
                    field,
                    format!("{} cannot be before the date of birth", field.name()),
                );
            }
        }

        // The main chain, in order; each date must be on or after every earlier one, except
        // that the match decision may come before the placement order (early permanence).
        let dated = self.dated();
        let chain = &dated[..7];
        for (i, (later, later_on)) in chain.iter().enumerate() {
            let Some(later_on) = later_on else { continue };
            for (earlier, earlier_on) in &chain[..i] {
                let Some(earlier_on) = earlier_on else {
                    continue;
                };
                let early_permanence = *later == MatchDecisionOn && *earlier == PlacementOrderOn;
                if later_on < earlier_on && !early_permanence {
                    return fail(
                        *later,
                        format!("{} cannot be before {}", later.name(), earlier.name()),
                    );
                }
            }
        }

        if self.entered_care_on.is_none()
            && let Some((field, _)) = self.dated()[1..].iter().find(|(_, d)| d.is_some())
        {
            return fail(
                *field,
                format!("{} needs enteredCareOn to be recorded", field.name()),
            );
        }
        // Milestones that need another to be recorded first.
        for (field, needed) in [
            (PlacedOn, MatchDecisionOn),
            (AdoptionOrderOn, PlacedOn),
            (AdoptedByFosterCarers, FosterPlacementStartedOn),
            (PlanChangedOn, AdoptionPlanOn),
            (PlacementOrderRevokedOn, PlacementOrderOn),
        ] {
            if self.has(field) && !self.has(needed) {
                return fail(
                    field,
                    format!("{} needs {} to be recorded", field.name(), needed.name()),
                );
            }
        }
        // Milestones off the main chain, each on or after the one it follows.
        for (field, earlier) in [
            (FosterPlacementStartedOn, EnteredCareOn),
            (PlacedOn, FosterPlacementStartedOn),
            (PlanChangedOn, AdoptionPlanOn),
            (PlacementOrderRevokedOn, PlacementOrderOn),
        ] {
            if let (Some(on), Some(earlier_on)) = (self.date(field), self.date(earlier))
                && on < earlier_on
            {
                return fail(
                    field,
                    format!("{} cannot be before {}", field.name(), earlier.name()),
                );
            }
        }
        Ok(MilestoneDates(self))
    }
}

impl MilestoneDates {
    /// Dates read back from the store: they were checked by [`MilestoneDraft::validate`]
    /// when written, so they are trusted as they are.
    pub fn recorded(dates: MilestoneDraft) -> Self {
        MilestoneDates(dates)
    }

    /// A draft of these dates to change; it must pass [`MilestoneDraft::validate`] again.
    pub fn edit(self) -> MilestoneDraft {
        self.0
    }

    /// The date a child started waiting for a family: the SHOBPA decision, or the placement
    /// order where no decision is recorded.
    pub fn waiting_since(&self) -> Option<NaiveDate> {
        self.shobpa_decision_on.or(self.placement_order_on)
    }

    /// Whether the child has an active adoption plan and is not yet matched: the condition
    /// (with sharing) for appearing in the consortium pool. The one definition of
    /// "waiting for a match"; the store's SQL form (`store::children::status_condition`)
    /// is tested against it.
    pub fn is_waiting(&self) -> bool {
        self.is_waiting_on(NaiveDate::MAX)
    }

    /// [`Self::is_waiting`] as of a date: an active plan (a SHOBPA decision or a placement
    /// order) on or before it, and no match, placement, plan change or revocation by then.
    pub fn is_waiting_on(&self, as_of: NaiveDate) -> bool {
        let by = |d: Option<NaiveDate>| d.is_some_and(|d| d <= as_of);
        by(self.waiting_since())
            && !by(self.match_decision_on)
            && !by(self.placed_on)
            && !by(self.plan_changed_on)
            && !by(self.placement_order_revoked_on)
    }
}

/// Where a child stands on the journey, from the milestones alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, async_graphql::Enum)]
pub enum ChildStatus {
    /// In care with no adoption plan yet.
    InCare,
    /// Adoption plan agreed, no SHOBPA decision or placement order yet.
    AdoptionPlan,
    /// Active plan (SHOBPA decision or placement order), not yet matched.
    Waiting,
    /// Match decided, not yet placed.
    Matched,
    /// Placed with the adoptive family, no adoption order yet.
    Placed,
    /// Adoption order made.
    Adopted,
    /// Plan changed away from adoption, or placement order revoked.
    PlanChanged,
}

impl MilestoneDates {
    /// The child's status. Precedence: adopted, plan changed, placed, matched, waiting,
    /// adoption plan, in care. (The store's status filter is the SQL form of this rule.)
    pub fn status(&self) -> ChildStatus {
        if self.adoption_order_on.is_some() {
            ChildStatus::Adopted
        } else if self.plan_changed_on.is_some() || self.placement_order_revoked_on.is_some() {
            ChildStatus::PlanChanged
        } else if self.placed_on.is_some() {
            ChildStatus::Placed
        } else if self.match_decision_on.is_some() {
            ChildStatus::Matched
        } else if self.waiting_since().is_some() {
            ChildStatus::Waiting
        } else if self.adoption_plan_on.is_some() {
            ChildStatus::AdoptionPlan
        } else {
            ChildStatus::InCare
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const DOB: &str = "2020-03-01";
    const TODAY: &str = "2024-06-30";

    fn full() -> MilestoneDraft {
        MilestoneDraft {
            entered_care_on: Some(d("2021-01-10")),
            adoption_plan_on: Some(d("2021-04-01")),
            shobpa_decision_on: Some(d("2021-05-01")),
            placement_order_on: Some(d("2021-09-01")),
            match_decision_on: Some(d("2021-12-01")),
            placed_on: Some(d("2022-01-15")),
            adoption_order_on: Some(d("2022-07-01")),
            ..Default::default()
        }
    }

    fn check(m: MilestoneDraft) -> Result<MilestoneDates, MilestoneError> {
        m.validate(d(DOB), d(TODAY))
    }

    #[test]
    fn an_import_replaces_the_dates_it_carries_and_keeps_those_it_does_not() {
        let held = MilestoneDraft {
            adopted_by_foster_carers: true,
            foster_placement_started_on: Some(d("2021-02-01")),
            ..full()
        };
        let files = MilestoneDraft {
            entered_care_on: Some(d("2021-01-11")),
            shobpa_decision_on: Some(d("2021-05-02")),
            ..Default::default()
        };
        let (merged, kept) = files.laid_over(&held);
        assert_eq!(merged.entered_care_on, Some(d("2021-01-11")), "replaced");
        assert_eq!(merged.shobpa_decision_on, Some(d("2021-05-02")), "replaced");
        assert_eq!(merged.placed_on, held.placed_on, "kept");
        assert!(merged.adopted_by_foster_carers, "kept");
        use MilestoneField::*;
        assert_eq!(
            kept,
            [
                AdoptionPlanOn,
                PlacementOrderOn,
                MatchDecisionOn,
                PlacedOn,
                AdoptionOrderOn,
                FosterPlacementStartedOn,
                AdoptedByFosterCarers
            ]
        );
        // Files that carry everything the service holds keep nothing.
        let (merged, kept) = held.laid_over(&held);
        assert_eq!((merged, kept.len()), (held, 0));
    }

    #[test]
    fn a_complete_journey_in_order_is_accepted() {
        assert!(check(full()).is_ok());
    }

    #[test]
    fn a_later_milestone_before_an_earlier_one_is_refused_on_the_later_field() {
        let m = MilestoneDraft {
            placed_on: Some(d("2021-11-30")),
            ..full()
        };
        assert_eq!(check(m).unwrap_err().field, MilestoneField::PlacedOn);
        let m = MilestoneDraft {
            adoption_plan_on: None,
            shobpa_decision_on: Some(d("2020-12-01")),
            ..full()
        };
        assert_eq!(
            check(m).unwrap_err().field,
            MilestoneField::ShobpaDecisionOn
        );
    }

    #[test]
    fn a_match_may_come_before_the_placement_order() {
        let m = MilestoneDraft {
            match_decision_on: Some(d("2021-06-01")),
            ..full()
        };
        assert!(check(m).is_ok());
        // ...but not before the SHOBPA decision.
        let m = MilestoneDraft {
            match_decision_on: Some(d("2021-04-15")),
            ..full()
        };
        assert_eq!(check(m).unwrap_err().field, MilestoneField::MatchDecisionOn);
        // ...and placement still follows the placement order.
        let m = MilestoneDraft {
            match_decision_on: Some(d("2021-06-01")),
            placed_on: Some(d("2021-07-01")),
            ..full()
        };
        assert_eq!(check(m).unwrap_err().field, MilestoneField::PlacedOn);
    }

    #[test]
    fn future_dates_and_dates_before_birth_are_refused() {
        let m = MilestoneDraft {
            adoption_order_on: Some(d("2024-07-01")),
            ..full()
        };
        let err = check(m).unwrap_err();
        assert_eq!(err.field, MilestoneField::AdoptionOrderOn);
        assert!(err.message.contains("future"));
        let m = MilestoneDraft {
            entered_care_on: Some(d("2020-02-28")),
            ..full()
        };
        assert_eq!(check(m).unwrap_err().field, MilestoneField::EnteredCareOn);
    }

    #[test]
    fn later_milestones_need_their_prerequisites() {
        let m = MilestoneDraft {
            entered_care_on: None,
            ..full()
        };
        assert_eq!(check(m).unwrap_err().field, MilestoneField::AdoptionPlanOn);
        let m = MilestoneDraft {
            match_decision_on: None,
            ..full()
        };
        assert_eq!(check(m).unwrap_err().field, MilestoneField::PlacedOn);
        let m = MilestoneDraft {
            adopted_by_foster_carers: true,
            ..full()
        };
        assert_eq!(
            check(m).unwrap_err().field,
            MilestoneField::AdoptedByFosterCarers
        );
        let m = MilestoneDraft {
            adopted_by_foster_carers: true,
            foster_placement_started_on: Some(d("2021-02-01")),
            ..full()
        };
        assert!(check(m).is_ok());
    }

    #[test]
    fn waiting_means_an_active_plan_and_no_match() {
        let m = MilestoneDraft {
            entered_care_on: Some(d("2021-01-10")),
            shobpa_decision_on: Some(d("2021-05-01")),
            ..Default::default()
        };
        assert!(MilestoneDates::recorded(m).is_waiting());
        assert!(!MilestoneDates::recorded(full()).is_waiting());
        let changed = MilestoneDraft {
            plan_changed_on: Some(d("2021-08-01")),
            ..m
        };
        assert!(!MilestoneDates::recorded(changed).is_waiting());
    }
}
