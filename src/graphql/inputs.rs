//! Input types shared by several areas, and the text checks (from `service::input`) that
//! turn raw input into values the domain trusts. Every refusal names the input field at
//! fault. Which authorities a caller may act in is decided in `service::records`.
use async_graphql::InputObject;

use crate::domain::{NeedLevel, NeedLevels};
pub use crate::service::input::{free_text, months, optional_text, text};

/// A level per need category; categories left out are `NONE`.
#[derive(InputObject, Clone, Copy, Default)]
pub struct NeedsInput {
    #[graphql(default)]
    pub physical_health: NeedLevel,
    #[graphql(default)]
    pub disability: NeedLevel,
    #[graphql(default)]
    pub learning: NeedLevel,
    #[graphql(default)]
    pub developmental_uncertainty: NeedLevel,
    #[graphql(default)]
    pub emotional_behavioural: NeedLevel,
    #[graphql(default)]
    pub prenatal_exposure: NeedLevel,
}

impl From<NeedsInput> for NeedLevels {
    fn from(n: NeedsInput) -> Self {
        NeedLevels {
            physical_health: n.physical_health,
            disability: n.disability,
            learning: n.learning,
            developmental_uncertainty: n.developmental_uncertainty,
            emotional_behavioural: n.emotional_behavioural,
            prenatal_exposure: n.prenatal_exposure,
        }
    }
}

/// A location in decimal degrees.
#[derive(InputObject, Clone, Copy)]
pub struct AreaInput {
    pub lat: f64,
    pub lon: f64,
}
