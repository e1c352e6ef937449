//! Opaque global ids (`node(id:)`): base64 of `Type:number`.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{AppError, AppResult};

/// The kinds of object a global id can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    Child,
    ChildProfile,
    SiblingGroup,
    Household,
    HouseholdProfile,
    Authority,
    Link,
    RecruitmentEvent,
    AuditEvent,
}

impl IdKind {
    fn name(self) -> &'static str {
        match self {
            IdKind::Child => "Child",
            IdKind::ChildProfile => "ChildProfile",
            IdKind::SiblingGroup => "SiblingGroup",
            IdKind::Household => "Household",
            IdKind::HouseholdProfile => "HouseholdProfile",
            IdKind::Authority => "Authority",
            IdKind::Link => "Link",
            IdKind::RecruitmentEvent => "RecruitmentEvent",
            IdKind::AuditEvent => "AuditEvent",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        use IdKind::*;
        [
            Child,
            ChildProfile,
            SiblingGroup,
            Household,
            HouseholdProfile,
            Authority,
            Link,
            RecruitmentEvent,
            AuditEvent,
        ]
        .into_iter()
        .find(|k| k.name() == name)
    }
}

/// The global id of `kind` number `id`.
pub fn encode(kind: IdKind, id: i64) -> async_graphql::ID {
    async_graphql::ID(URL_SAFE_NO_PAD.encode(format!("{}:{id}", kind.name())))
}

/// Splits a global id; a malformed one is bad input on `field`.
pub fn decode_any(id: &str, field: &str) -> AppResult<(IdKind, i64)> {
    let bad = || AppError::bad_input(field, "not a valid id");
    let bytes = URL_SAFE_NO_PAD.decode(id).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (kind, number) = text.split_once(':').ok_or_else(bad)?;
    let kind = IdKind::parse(kind).ok_or_else(bad)?;
    let number = number.parse().map_err(|_| bad())?;
    Ok((kind, number))
}

/// The number of a global id that must name one of `kinds`; an id of another kind
/// answers `NOT_FOUND`, like a missing record.
pub fn decode(id: &str, field: &str, kinds: &[IdKind]) -> AppResult<i64> {
    let (kind, number) = decode_any(id, field)?;
    if kinds.contains(&kind) {
        Ok(number)
    } else {
        Err(AppError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_refuse_other_kinds() {
        let id = encode(IdKind::Child, 42);
        assert_eq!(decode(&id, "id", &[IdKind::Child]).unwrap(), 42);
        assert!(matches!(
            decode(&id, "id", &[IdKind::Household]),
            Err(AppError::NotFound)
        ));
        assert!(matches!(
            decode("!!", "id", &[IdKind::Child]),
            Err(AppError::BadInput { .. })
        ));
    }
}
