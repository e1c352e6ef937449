//! Children and sibling groups: registering and changing a child, its milestones, decisions
//! and plan, and the sibling groups of an authority.
