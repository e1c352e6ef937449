//! The link workflow (DESIGN §2): which step may follow which, and the order of the dates
//! a link records. Pure: who may take a step is the policy's business, what a step writes
//! is the store's.
//!
//! `PROPOSED → EXPLORING` (the other side's authority accepted) `→ MATCHED` (match decision
//! by the child's authority) `→ PLACED → ADOPTED`; an open link (`PROPOSED`, `EXPLORING`)
//! may end as `DECLINED` or `WITHDRAWN`; a match or placement that breaks down before the
//! adoption order ends as `DISRUPTED`.
use super::codes::coded;
use chrono::NaiveDate;

coded! {
    /// Where a link stands.
    pub enum LinkState {
        /// Proposed by one side; the other side has not answered yet.
        Proposed,
        /// The other side accepted: both are exploring the match.
        Exploring,
        /// The child's authority decided the match.
        Matched,
        /// The child moved in with the family.
        Placed,
        /// The adoption order was made.
        Adopted,
        /// One side said no. The pair is not suggested again.
        Declined,
        /// One side withdrew the proposal before a match.
        Withdrawn,
        /// The match or placement broke down before the adoption order.
        Disrupted,
    }
}

impl LinkState {
    /// Still being worked on, before a decision: at most one such link per pair.
    pub fn is_open(self) -> bool {
        matches!(self, LinkState::Proposed | LinkState::Exploring)
    }

    /// Holds the child and the household: at most one such link per child, per sibling
    /// group and per household.
    pub fn holds(self) -> bool {
        matches!(self, LinkState::Matched | LinkState::Placed)
    }

    /// The link's story is over.
    pub fn is_final(self) -> bool {
        !self.is_open() && !self.holds()
    }

    /// The states that hold, as stored codes (for SQL).
    pub const HOLDING: [LinkState; 2] = [LinkState::Matched, LinkState::Placed];
}

/// A step of the workflow after the proposal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkStep {
    Accept,
    Decline,
    Withdraw,
    DecideMatch,
    RecordPlacement,
    RecordAdoptionOrder,
    RecordDisruption,
}

impl LinkStep {
    /// The state the step leads to.
    pub fn target(self) -> LinkState {
        match self {
            LinkStep::Accept => LinkState::Exploring,
            LinkStep::Decline => LinkState::Declined,
            LinkStep::Withdraw => LinkState::Withdrawn,
            LinkStep::DecideMatch => LinkState::Matched,
            LinkStep::RecordPlacement => LinkState::Placed,
            LinkStep::RecordAdoptionOrder => LinkState::Adopted,
            LinkStep::RecordDisruption => LinkState::Disrupted,
        }
    }

    /// The states the step may be taken from.
    pub fn from_states(self) -> &'static [LinkState] {
        use LinkState::*;
        match self {
            LinkStep::Accept => &[Proposed],
            LinkStep::Decline | LinkStep::Withdraw => &[Proposed, Exploring],
            LinkStep::DecideMatch => &[Exploring],
            LinkStep::RecordPlacement => &[Matched],
            LinkStep::RecordAdoptionOrder => &[Placed],
            LinkStep::RecordDisruption => &[Matched, Placed],
        }
    }

    /// The step's name as in the API, for messages.
    pub fn name(self) -> &'static str {
        match self {
            LinkStep::Accept => "acceptLink",
            LinkStep::Decline => "declineLink",
            LinkStep::Withdraw => "withdrawLink",
            LinkStep::DecideMatch => "recordMatchDecision",
            LinkStep::RecordPlacement => "recordPlacement",
            LinkStep::RecordAdoptionOrder => "recordAdoptionOrder",
            LinkStep::RecordDisruption => "recordDisruption",
        }
    }
}

/// Why a step was refused: the input field at fault and a sentence for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkError {
    pub field: &'static str,
    pub message: String,
}

/// The dates a link has recorded so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkDates {
    pub proposed_on: Option<NaiveDate>,
    pub accepted_on: Option<NaiveDate>,
    pub matched_on: Option<NaiveDate>,
    pub placed_on: Option<NaiveDate>,
    pub adoption_order_on: Option<NaiveDate>,
}

impl LinkDates {
    /// The latest date recorded.
    pub fn latest(&self) -> Option<NaiveDate> {
        [
            self.proposed_on,
            self.accepted_on,
            self.matched_on,
            self.placed_on,
            self.adoption_order_on,
        ]
        .into_iter()
        .flatten()
        .max()
    }
}

/// Checks that `step` may follow `state`, dated `on` (in the field `field`) as of `today`:
/// not in the future and not before anything the link recorded already. Returns the new
/// state.
///
/// A step that does not fit the state is refused on the field `id` (the link moved on, or
/// was never there); the caller answers it as a conflict, since it usually means someone
/// else took a step first.
pub fn step(
    state: LinkState,
    step: LinkStep,
    dates: &LinkDates,
    (field, on): (&'static str, NaiveDate),
    today: NaiveDate,
) -> Result<LinkState, LinkError> {
    if !step.from_states().contains(&state) {
        return Err(LinkError {
            field: "id",
            message: format!("{} cannot follow a {} link", step.name(), state.code()),
        });
    }
    if on > today {
        return Err(LinkError {
            field,
            message: format!("{field} cannot be in the future"),
        });
    }
    if let Some(latest) = dates.latest()
        && on < latest
    {
        return Err(LinkError {
            field,
            message: format!("{field} cannot be before the link's previous step ({latest})"),
        });
    }
    Ok(step.target())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const TODAY: &str = "2025-03-01";

    fn dates() -> LinkDates {
        LinkDates {
            proposed_on: Some(d("2025-01-10")),
            accepted_on: Some(d("2025-01-20")),
            ..Default::default()
        }
    }

    #[test]
    fn the_whole_path_is_allowed_in_order() {
        use LinkState::*;
        let on = ("on", d("2025-02-01"));
        let today = d(TODAY);
        let mut state = Proposed;
        for (s, expected) in [
            (LinkStep::Accept, Exploring),
            (LinkStep::DecideMatch, Matched),
            (LinkStep::RecordPlacement, Placed),
            (LinkStep::RecordAdoptionOrder, Adopted),
        ] {
            state = step(state, s, &dates(), on, today).unwrap();
            assert_eq!(state, expected);
        }
        assert!(state.is_final());
    }

    #[test]
    fn steps_out_of_order_are_refused_on_the_id() {
        let on = ("decidedOn", d("2025-02-01"));
        let today = d(TODAY);
        let err = step(
            LinkState::Proposed,
            LinkStep::DecideMatch,
            &dates(),
            on,
            today,
        )
        .unwrap_err();
        assert_eq!(err.field, "id");
        for ended in [
            LinkState::Declined,
            LinkState::Withdrawn,
            LinkState::Adopted,
        ] {
            assert!(step(ended, LinkStep::Withdraw, &dates(), on, today).is_err());
            assert!(step(ended, LinkStep::RecordDisruption, &dates(), on, today).is_err());
        }
        // Decline and withdraw only while open; disruption only once matched or placed.
        assert!(step(LinkState::Matched, LinkStep::Decline, &dates(), on, today).is_err());
        assert!(step(LinkState::Exploring, LinkStep::Decline, &dates(), on, today).is_ok());
        assert!(
            step(
                LinkState::Exploring,
                LinkStep::RecordDisruption,
                &dates(),
                on,
                today
            )
            .is_err()
        );
        assert!(
            step(
                LinkState::Matched,
                LinkStep::RecordDisruption,
                &dates(),
                on,
                today
            )
            .is_ok()
        );
    }

    #[test]
    fn dates_may_not_be_in_the_future_or_before_the_previous_step() {
        let today = d(TODAY);
        let err = step(
            LinkState::Exploring,
            LinkStep::DecideMatch,
            &dates(),
            ("decidedOn", d("2025-03-02")),
            today,
        )
        .unwrap_err();
        assert_eq!(err.field, "decidedOn");
        let err = step(
            LinkState::Exploring,
            LinkStep::DecideMatch,
            &dates(),
            ("decidedOn", d("2025-01-19")),
            today,
        )
        .unwrap_err();
        assert_eq!(err.field, "decidedOn");
        assert!(err.message.contains("2025-01-20"));
        assert!(
            step(
                LinkState::Exploring,
                LinkStep::DecideMatch,
                &dates(),
                ("decidedOn", d("2025-01-20")),
                today
            )
            .is_ok()
        );
    }

    #[test]
    fn open_holding_and_final_states_partition_the_states() {
        use strum::IntoEnumIterator;
        for s in LinkState::iter() {
            let kinds = [s.is_open(), s.holds(), s.is_final()];
            assert_eq!(kinds.iter().filter(|k| **k).count(), 1, "{s:?}");
            assert_eq!(LinkState::from_code(s.code()), Some(s));
        }
        assert_eq!(LinkState::HOLDING.iter().filter(|s| s.holds()).count(), 2);
    }
}
