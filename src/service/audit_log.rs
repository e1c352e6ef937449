//! Reading the audit log, within the scope the policy gives the actor.
