//! Synthetic adopter registers in the import template (`docs/templates/adopter-register.csv`),
//! for trying `permanence import adopters` and for the import benchmark.
//!
//! The households and their events are the synthetic data set's ([`generate`], the
//! synthetic mix, dated as of [`AS_OF`]), written one row per household as an agency's
//! register would hold them: each step's first date, the first pause (a later one is left
//! out, which leaves the journey as valid), the exit. The match, placement and adoption
//! order are a link's, not the register's, and are left out too. Nothing here describes a
//! real household: the names are the reference.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::NaiveDate;
use entity::{household, recruitment_event};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::generator::{AuthorityPlan, FirstIds, Mix, Spec, generate};
use super::synthetic::AS_OF;
use crate::domain::Stage;
use crate::import::adopters;

/// A register of `households` households with about `events` recruitment events in all
/// (before the link outcomes and later pauses are left out), the same for the same seed:
/// the CSV text, and how many events its rows hold.
pub fn generate_register(households: usize, events: usize, seed: u64) -> (String, usize) {
    let plan = AuthorityPlan {
        consortium_id: 1,
        authority_id: 1,
        code: "register".into(),
        centre: (52.5, -1.5),
        children: 0,
        households,
    };
    let spec = Spec {
        as_of: AS_OF,
        authorities: std::slice::from_ref(&plan),
        mix: &Mix::SYNTHETIC,
        event_target: Some(events),
        first_ids: FirstIds::default(),
    };
    let data = generate(&spec, &mut ChaCha8Rng::seed_from_u64(seed));
    let mut by_household: BTreeMap<i64, Vec<&recruitment_event::Model>> = BTreeMap::new();
    for event in &data.events {
        by_household
            .entry(event.household_id)
            .or_default()
            .push(event);
    }
    let mut text = adopters::header();
    text.push('\n');
    let mut written = 0;
    for h in &data.households {
        written += row(
            &mut text,
            h,
            by_household.get(&h.id).map_or(&[][..], Vec::as_slice),
        );
    }
    (text, written)
}

/// Writes household `h`'s row; gives the number of events it holds.
fn row(text: &mut String, h: &household::Model, events: &[&recruitment_event::Model]) -> usize {
    let date = |d: NaiveDate| d.format("%d/%m/%Y").to_string();
    let first = |stage: Stage| {
        events
            .iter()
            .find(|e| e.stage == stage.code())
            .map(|e| e.occurred_on)
    };
    let reference = format!("H-{:06}", h.id);
    let mut held = 1; // the enquiry
    let _ = write!(
        text,
        "{reference},Applicant {reference},,{},{},{},{}",
        h.ethnicity,
        h.enquiry_channel,
        if h.fast_track { "Y" } else { "N" },
        date(h.enquiry_on)
    );
    for &stage in adopters::STEPS {
        text.push(',');
        if let Some(on) = first(stage) {
            text.push_str(&date(on));
            held += 1;
        }
    }
    // The first pause, and its end if it ended.
    let pause = events.iter().position(|e| e.stage == Stage::OnHold.code());
    match pause {
        Some(at) => {
            let hold = events[at];
            let _ = write!(
                text,
                ",{},{}",
                date(hold.occurred_on),
                hold.reason.as_deref().unwrap_or_default()
            );
            held += 1;
            match events[at..]
                .iter()
                .find(|e| e.stage == Stage::Resumed.code())
            {
                Some(resumed) => {
                    let _ = write!(text, ",{}", date(resumed.occurred_on));
                    held += 1;
                }
                None => text.push(','),
            }
        }
        None => text.push_str(",,,"),
    }
    match events
        .iter()
        .find(|e| e.stage == Stage::Withdrawn.code() || e.stage == Stage::EndedByAgency.code())
    {
        Some(exit) => {
            let _ = write!(
                text,
                ",{},{},{}",
                exit.stage,
                date(exit.occurred_on),
                exit.reason.as_deref().unwrap_or_default()
            );
            held += 1;
        }
        None => text.push_str(",,,"),
    }
    text.push('\n');
    held
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::adopters;

    #[test]
    fn a_generated_register_reads_back_without_a_problem() {
        let (text, events) = generate_register(400, 3_000, 7);
        let import = adopters::read("register.csv", text.as_bytes(), AS_OF);
        assert_eq!(import.problems, []);
        assert_eq!(import.households.len(), 400);
        let read: usize = import.households.iter().map(|h| h.events.len()).sum();
        assert_eq!(read, events);
        assert_eq!(
            generate_register(400, 3_000, 7).0,
            text,
            "the same seed, the same file"
        );
    }
}
