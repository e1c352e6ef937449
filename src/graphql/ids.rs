//! Opaque global ids (`node(id:)`): base64 of `Type:number`.
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{AppError, AppResult};

/// The kinds of object a global id can name; each is written in the id as its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
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

/// The global id of `kind` number `id`.
pub fn encode(kind: IdKind, id: i64) -> async_graphql::ID {
    async_graphql::ID(URL_SAFE_NO_PAD.encode(format!("{}:{id}", <&str>::from(kind))))
}

/// Splits a global id; a malformed one is bad input on `field`.
pub fn decode_any(id: &str, field: &str) -> AppResult<(IdKind, i64)> {
    let bad = || AppError::bad_input(field, "not a valid id");
    let bytes = URL_SAFE_NO_PAD.decode(id).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (kind, number) = text.split_once(':').ok_or_else(bad)?;
    let kind: IdKind = kind.parse().map_err(|_| bad())?;
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
        let id = encode(IdKind::RecruitmentEvent, 7);
        assert_eq!(URL_SAFE_NO_PAD.decode(&*id).unwrap(), b"RecruitmentEvent:7");
        let unknown = URL_SAFE_NO_PAD.encode("Widget:7");
        assert!(matches!(
            decode_any(&unknown, "id"),
            Err(AppError::BadInput { .. })
        ));
    }
}
