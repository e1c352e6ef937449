//! Who is asking and what they may do: token verification, the `Actor`, and the policy.

pub mod actor;
pub mod jwt;
pub mod policy;

pub use actor::{Actor, Membership};
pub use policy::{Capability, View};
