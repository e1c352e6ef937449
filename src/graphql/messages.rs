//! Validation messages without the schema's type names, for production.
//!
//! Production turns introspection off, but async-graphql's validation messages name the
//! schema's types (`Unknown field "x" on type "Child"`, `unknown field "y" of type
//! "UpdateChildInput"`), so a client probing with wrong fields could map the schema
//! anyway. In production, the schema's extension rewrites each validation error
//! ([`hide_in_errors`]), and each error of a running
//! operation that did not come from a resolver (variables that do not coerce to their
//! input types are refused then; [`hide_in_response`]): the clause naming a type goes (`Unknown field "x".`),
//! built-in scalars may stay, and a message still naming a type of the schema becomes
//! [`NOT_VALID`]. The error keeps its location and gets its code like any other
//! validation error.
use async_graphql::{Response, ServerError};

/// The message of a validation error that cannot be said without naming a type.
pub const NOT_VALID: &str = "the query is not valid for this schema";

/// Built-in scalars, which a message may name: they say nothing about this schema.
const BUILT_IN: &[&str] = &["Int", "Float", "String", "Boolean", "ID"];

/// Validation errors with their messages rewritten.
pub fn hide_in_errors(errors: Vec<ServerError>) -> Vec<ServerError> {
    errors
        .into_iter()
        .map(|mut error| {
            error.message = without_type_names(&error.message);
            error
        })
        .collect()
}

/// The errors of a response that did not come from a resolver, rewritten: a resolver's
/// error always carries a code, and its message is the service's own.
pub fn hide_in_response(response: &mut Response) {
    for error in &mut response.errors {
        if error
            .extensions
            .as_ref()
            .is_none_or(|e| e.get("code").is_none())
        {
            error.message = without_type_names(&error.message);
        }
    }
}

/// `message` without the clauses naming a type: ` on type "T"` and ` of type "T"` go;
/// whatever still names a type other than a built-in scalar becomes [`NOT_VALID`].
pub fn without_type_names(message: &str) -> String {
    let mut out = message.to_owned();
    for clause in [" on type \"", " of type \""] {
        while let Some(start) = out.find(clause) {
            let name_start = start + clause.len();
            let Some(len) = out[name_start..].find('"') else {
                return NOT_VALID.into();
            };
            if is_built_in(&out[name_start..name_start + len]) {
                break;
            }
            out.replace_range(start..name_start + len + 1, "");
        }
    }
    let mut rest = out.as_str();
    while let Some(at) = rest.find("type \"") {
        let name = &rest[at + 6..];
        let Some(len) = name.find('"') else {
            return NOT_VALID.into();
        };
        if !is_built_in(&name[..len]) {
            return NOT_VALID.into();
        }
        rest = &name[len..];
    }
    if out.contains("Failed to parse \"") {
        return NOT_VALID.into();
    }
    out
}

/// Whether `name` is a built-in scalar, possibly in a list or non-null (`[ID!]!`).
fn is_built_in(name: &str) -> bool {
    let bare = name.trim_matches(|c| c == '[' || c == ']' || c == '!');
    BUILT_IN.contains(&bare)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clauses_naming_a_type_go() {
        assert_eq!(
            without_type_names(r#"Unknown field "viewr" on type "Query"."#),
            r#"Unknown field "viewr"."#
        );
        assert_eq!(
            without_type_names(
                r#"Invalid value for argument "input", unknown field "nope" of type "UpdateChildInput""#
            ),
            r#"Invalid value for argument "input", unknown field "nope""#
        );
        assert_eq!(
            without_type_names(r#"Unknown argument "x" on field "child" of type "Query"."#),
            r#"Unknown argument "x" on field "child"."#
        );
        assert_eq!(
            without_type_names(
                r#"Field "child" of type "Child" must have a selection of subfields"#
            ),
            r#"Field "child" must have a selection of subfields"#
        );
    }

    #[test]
    fn built_in_scalars_stay_and_other_type_names_end_the_message() {
        assert_eq!(
            without_type_names(r#"Invalid value for argument "id", expected type "ID""#),
            r#"Invalid value for argument "id", expected type "ID""#
        );
        assert_eq!(
            without_type_names(
                r#"Variable "$id" of type "[ID!]!" used in position expecting type "ID""#
            ),
            r#"Variable "$id" of type "[ID!]!" used in position expecting type "ID""#
        );
        let spread = without_type_names(
            r#"Fragment "f" cannot be spread here as objects of type "Child" can never be of type "Household""#,
        );
        assert!(
            !spread.contains("Child") && !spread.contains("Household"),
            "{spread}"
        );
        assert_eq!(
            without_type_names(r#"Fragment cannot condition non composite type "Child""#),
            NOT_VALID
        );
        assert_eq!(
            without_type_names(r#"Failed to parse "Date": bad date"#),
            NOT_VALID
        );
        assert_eq!(
            without_type_names("Unknown fragment: \"f\""),
            "Unknown fragment: \"f\""
        );
    }
}
