//! Who is asking and what they may do: token verification (and development minting), the
//! `Actor`, and the policy.

pub mod actor;
pub mod jwt;
pub mod policy;
pub mod tokens;

pub use actor::{Actor, Membership};
pub use policy::{Capability, View};
