//! Who is asking and what they may do: token verification (and development minting), the
//! `Actor`, and the policy.

pub mod actor;
pub mod issuers;
pub mod jwt;
pub mod policy;
pub mod tokens;

pub use actor::{Actor, Membership};
pub use policy::{Capability, View};

/// The credentials of an `Authorization` value of the `Bearer` scheme (the scheme's name in
/// any case, as HTTP has it), trimmed; `None` for another scheme or no credentials.
pub fn bearer(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.trim_start().split_once(' ')?;
    let credentials = credentials.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credentials.is_empty()).then_some(credentials)
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn the_bearer_scheme_is_named_in_any_case() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("BEARER  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("Bearerabc"), None);
    }
}
