//! Links between a child and a household: proposing, the workflow steps, and reading them.
