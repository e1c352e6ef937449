//! Input types shared by several areas, and the checks that turn raw input into values
//! the domain trusts. Every refusal names the input field at fault.
use async_graphql::{ID, InputObject};

use super::context::ContextExt;
use super::ids::{IdKind, decode};
use crate::auth::{Actor, Capability};
use crate::domain::{NeedLevel, NeedLevels};
use crate::error::{AppError, AppResult};
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

/// Checks a latitude/longitude pair.
pub fn area(field: &str, a: AreaInput) -> AppResult<(f64, f64)> {
    if !(-90.0..=90.0).contains(&a.lat) || !(-180.0..=180.0).contains(&a.lon) {
        return Err(AppError::bad_input(
            field,
            "latitude must be within ±90 and longitude within ±180",
        ));
    }
    Ok((a.lat, a.lon))
}

/// The authority a new record goes into: the one named (which the actor must hold
/// `capability` in), or the only one where the actor holds it.
pub fn target_authority(
    ctx: &async_graphql::Context<'_>,
    actor: &Actor,
    named: Option<&ID>,
    capability: Capability,
) -> AppResult<i64> {
    match named {
        Some(id) => {
            let authority_id = decode(id, "authorityId", &[IdKind::Authority])?;
            let directory = ctx.state().directory.current();
            match directory.authority(authority_id) {
                Some(a) if a.consortium_id == actor.consortium_id => {}
                _ => return Err(AppError::NotFound),
            }
            actor.require(capability, authority_id)?;
            Ok(authority_id)
        }
        None => match actor.require_anywhere(capability)?.as_slice() {
            [only] => Ok(*only),
            _ => Err(AppError::bad_input(
                "authorityId",
                "you hold this role in several authorities; name the authority",
            )),
        },
    }
}

/// Authority ids named in a filter, each of which must be in `allowed` (a foreign or
/// unknown one is `NOT_FOUND`, one of the consortium the actor may not read `FORBIDDEN`).
pub fn filter_authorities(
    ctx: &async_graphql::Context<'_>,
    actor: &Actor,
    named: Option<&[ID]>,
    allowed: Option<&[i64]>,
) -> AppResult<Option<Vec<i64>>> {
    let Some(named) = named else { return Ok(None) };
    let directory = ctx.state().directory.current();
    let mut ids = Vec::with_capacity(named.len());
    for id in named {
        let authority_id = decode(id, "filter.authorityIds", &[IdKind::Authority])?;
        match directory.authority(authority_id) {
            Some(a) if a.consortium_id == actor.consortium_id => {}
            _ => return Err(AppError::NotFound),
        }
        if let Some(allowed) = allowed
            && !allowed.contains(&authority_id)
        {
            return Err(AppError::forbidden(
                "you may not list records of that authority",
            ));
        }
        ids.push(authority_id);
    }
    Ok(Some(ids))
}
