//! The adopter's journey: recruitment stages and the rules for recording the next one.
//!
//! `ENQUIRY → INFORMATION_EVENT (optional) → STAGE_ONE_STARTED → STAGE_ONE_COMPLETED →
//! STAGE_TWO_STARTED → STAGE_TWO_COMPLETED → PANEL → APPROVED → MATCHED → PLACED →
//! ADOPTION_ORDER`, with exits (`WITHDRAWN`, `ENDED_BY_AGENCY`, each with a reason) and
//! pauses (`ON_HOLD` / `RESUMED`). Fast-track households (second-time adopters, the child's
//! foster carers) go from enquiry straight to `STAGE_TWO_STARTED`.
use super::codes::coded;
use chrono::NaiveDate;

use super::RecruitmentReason;

coded! {
    /// A recruitment stage (or exit, or pause) as recorded in a `recruitment_event`.
    pub enum Stage {
        Enquiry,
        InformationEvent,
        StageOneStarted,
        StageOneCompleted,
        StageTwoStarted,
        StageTwoCompleted,
        Panel,
        Approved,
        Matched,
        Placed,
        AdoptionOrder,
        Withdrawn,
        EndedByAgency,
        OnHold,
        Resumed,
    }
}

impl Stage {
    /// Whether the stage ends the household's journey.
    pub fn is_exit(self) -> bool {
        matches!(self, Stage::Withdrawn | Stage::EndedByAgency)
    }

    /// Whether the stage is a step along the journey (not an exit or a pause).
    pub fn is_progress(self) -> bool {
        !self.is_exit() && !matches!(self, Stage::OnHold | Stage::Resumed)
    }

    /// Whether a household at this stage may be made available for matching: only an
    /// approved one — not before approval, and not while matched, placed, adopted or gone
    /// (a disrupted or withdrawn link brings a household back to `APPROVED`).
    pub fn may_be_available(self) -> bool {
        self == Stage::Approved
    }

    /// Stages written by the link workflow, not recorded directly.
    pub fn is_link_outcome(self) -> bool {
        matches!(self, Stage::Matched | Stage::Placed | Stage::AdoptionOrder)
    }

    /// Whether the stage takes (or, for exits, requires) a reason.
    fn takes_reason(self) -> bool {
        self.is_exit() || self == Stage::OnHold
    }
}

/// One recorded step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecruitmentEvent {
    pub stage: Stage,
    pub occurred_on: NaiveDate,
    pub reason: Option<RecruitmentReason>,
}

/// Where a household stands after its events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StageMachine {
    /// The latest progress stage, or the exit stage once the household has left.
    pub stage: Stage,
    pub on_hold: bool,
    /// The date of the latest event.
    pub last_on: NaiveDate,
    pub fast_track: bool,
}

/// Why an event was refused: the input field at fault and a sentence for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageError {
    pub field: &'static str,
    pub message: String,
}

fn refuse<T>(field: &'static str, message: impl Into<String>) -> Result<T, StageError> {
    Err(StageError {
        field,
        message: message.into(),
    })
}

impl StageMachine {
    /// A household's state at its enquiry.
    pub fn at_enquiry(enquiry_on: NaiveDate, fast_track: bool) -> Self {
        StageMachine {
            stage: Stage::Enquiry,
            on_hold: false,
            last_on: enquiry_on,
            fast_track,
        }
    }

    /// Whether `next` may follow the current progress stage.
    fn follows(&self, next: Stage) -> bool {
        use Stage::*;
        match (self.stage, next) {
            (Enquiry, InformationEvent | StageOneStarted) => true,
            (InformationEvent, StageOneStarted) => true,
            (Enquiry | InformationEvent, StageTwoStarted) => self.fast_track,
            (StageOneStarted, StageOneCompleted)
            | (StageOneCompleted, StageTwoStarted)
            | (StageTwoStarted, StageTwoCompleted)
            | (StageTwoCompleted, Panel)
            | (Panel, Approved)
            | (Approved, Matched)
            | (Matched, Placed)
            | (Placed, AdoptionOrder) => true,
            _ => false,
        }
    }

    /// The stages that may be recorded next (used for error messages and clients' menus).
    pub fn allowed_next(&self) -> Vec<Stage> {
        use strum::IntoEnumIterator;
        Stage::iter().filter(|s| self.check(*s).is_ok()).collect()
    }

    fn check(&self, next: Stage) -> Result<(), StageError> {
        if self.stage.is_exit() {
            return refuse(
                "stage",
                "the household has left the process; no further event can be recorded",
            );
        }
        if self.stage == Stage::AdoptionOrder {
            return refuse("stage", "the household's journey is complete");
        }
        match next {
            Stage::Enquiry => refuse(
                "stage",
                "the enquiry is recorded when the household is created",
            ),
            Stage::Resumed if !self.on_hold => {
                refuse("stage", "only a household on hold can resume")
            }
            Stage::Resumed => Ok(()),
            Stage::Withdrawn | Stage::EndedByAgency => Ok(()),
            _ if self.on_hold => refuse("stage", "the household is on hold; record RESUMED first"),
            Stage::OnHold if self.stage >= Stage::Matched => {
                refuse("stage", "a matched household cannot be put on hold")
            }
            Stage::OnHold => Ok(()),
            next if self.follows(next) => Ok(()),
            next => refuse(
                "stage",
                format!("{} cannot follow {}", next.code(), self.stage.code()),
            ),
        }
    }

    /// Applies `event` as of `today`, or says why it cannot be recorded.
    pub fn record(self, event: RecruitmentEvent, today: NaiveDate) -> Result<Self, StageError> {
        self.check(event.stage)?;
        if event.occurred_on > today {
            return refuse("occurredOn", "the date cannot be in the future");
        }
        if event.occurred_on < self.last_on {
            return refuse(
                "occurredOn",
                format!(
                    "the date cannot be before the previous event ({})",
                    self.last_on
                ),
            );
        }
        match (event.stage.takes_reason(), event.reason) {
            (false, Some(_)) => {
                return refuse("reason", format!("{} takes no reason", event.stage.code()));
            }
            (true, None) if event.stage.is_exit() => {
                return refuse("reason", format!("{} needs a reason", event.stage.code()));
            }
            _ => {}
        }
        let mut next = self;
        next.last_on = event.occurred_on;
        match event.stage {
            Stage::OnHold => next.on_hold = true,
            Stage::Resumed => next.on_hold = false,
            stage => {
                next.stage = stage;
                if stage.is_exit() {
                    next.on_hold = false;
                }
            }
        }
        Ok(next)
    }

    /// Replays a household's history from its enquiry; `None` if the history is not valid.
    pub fn replay(events: &[RecruitmentEvent], fast_track: bool, today: NaiveDate) -> Option<Self> {
        let (first, rest) = events.split_first()?;
        if first.stage != Stage::Enquiry {
            return None;
        }
        rest.iter()
            .try_fold(Self::at_enquiry(first.occurred_on, fast_track), |m, e| {
                m.record(*e, today).ok()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn ev(stage: Stage, on: &str) -> RecruitmentEvent {
        RecruitmentEvent {
            stage,
            occurred_on: d(on),
            reason: None,
        }
    }

    const TODAY: &str = "2025-01-01";

    #[test]
    fn the_full_journey_replays() {
        use Stage::*;
        let events = [
            ev(Enquiry, "2023-01-05"),
            ev(InformationEvent, "2023-01-20"),
            ev(StageOneStarted, "2023-02-01"),
            ev(StageOneCompleted, "2023-03-25"),
            ev(StageTwoStarted, "2023-04-10"),
            ev(StageTwoCompleted, "2023-08-01"),
            ev(Panel, "2023-08-20"),
            ev(Approved, "2023-08-30"),
            ev(Matched, "2023-11-01"),
            ev(Placed, "2023-12-01"),
            ev(AdoptionOrder, "2024-06-01"),
        ];
        let m = StageMachine::replay(&events, false, d(TODAY)).unwrap();
        assert_eq!(m.stage, AdoptionOrder);
        assert!(m.record(ev(Withdrawn, "2024-07-01"), d(TODAY)).is_err());
    }

    #[test]
    fn stages_cannot_be_skipped_except_by_fast_track() {
        let m = StageMachine::at_enquiry(d("2024-01-01"), false);
        let err = m
            .record(ev(Stage::StageTwoStarted, "2024-02-01"), d(TODAY))
            .unwrap_err();
        assert_eq!(err.field, "stage");
        let fast = StageMachine::at_enquiry(d("2024-01-01"), true);
        let m = fast
            .record(ev(Stage::StageTwoStarted, "2024-02-01"), d(TODAY))
            .unwrap();
        assert_eq!(m.stage, Stage::StageTwoStarted);
        assert!(
            m.record(ev(Stage::Approved, "2024-03-01"), d(TODAY))
                .is_err()
        );
    }

    #[test]
    fn dates_may_not_go_backwards_or_into_the_future() {
        let m = StageMachine::at_enquiry(d("2024-01-10"), false);
        let err = m
            .record(ev(Stage::StageOneStarted, "2024-01-09"), d(TODAY))
            .unwrap_err();
        assert_eq!(err.field, "occurredOn");
        let err = m
            .record(ev(Stage::StageOneStarted, "2025-01-02"), d(TODAY))
            .unwrap_err();
        assert_eq!(err.field, "occurredOn");
        assert!(
            m.record(ev(Stage::StageOneStarted, "2024-01-10"), d(TODAY))
                .is_ok()
        );
    }

    #[test]
    fn hold_allows_only_resume_or_exit() {
        let m = StageMachine::at_enquiry(d("2024-01-10"), false)
            .record(ev(Stage::OnHold, "2024-02-01"), d(TODAY))
            .unwrap();
        assert!(m.on_hold);
        assert!(
            m.record(ev(Stage::StageOneStarted, "2024-03-01"), d(TODAY))
                .is_err()
        );
        let resumed = m
            .record(ev(Stage::Resumed, "2024-03-01"), d(TODAY))
            .unwrap();
        assert!(!resumed.on_hold);
        assert_eq!(resumed.stage, Stage::Enquiry);
        assert!(
            resumed
                .record(ev(Stage::Resumed, "2024-03-02"), d(TODAY))
                .is_err()
        );
    }

    #[test]
    fn exits_need_a_reason_and_end_the_journey() {
        let m = StageMachine::at_enquiry(d("2024-01-10"), false);
        let err = m
            .record(ev(Stage::Withdrawn, "2024-02-01"), d(TODAY))
            .unwrap_err();
        assert_eq!(err.field, "reason");
        let left = m
            .record(
                RecruitmentEvent {
                    stage: Stage::Withdrawn,
                    occurred_on: d("2024-02-01"),
                    reason: Some(RecruitmentReason::Health),
                },
                d(TODAY),
            )
            .unwrap();
        assert_eq!(left.stage, Stage::Withdrawn);
        assert!(left.allowed_next().is_empty());
        let err = m
            .record(
                RecruitmentEvent {
                    stage: Stage::StageOneStarted,
                    occurred_on: d("2024-02-01"),
                    reason: Some(RecruitmentReason::Health),
                },
                d(TODAY),
            )
            .unwrap_err();
        assert_eq!(err.field, "reason");
    }

    #[test]
    fn only_an_approved_household_may_be_available_for_matching() {
        for stage in [
            Stage::Enquiry,
            Stage::StageTwoCompleted,
            Stage::Panel,
            Stage::Matched,
            Stage::Placed,
            Stage::AdoptionOrder,
            Stage::Withdrawn,
            Stage::EndedByAgency,
        ] {
            assert!(!stage.may_be_available(), "{stage:?}");
        }
        assert!(Stage::Approved.may_be_available());
    }
}
