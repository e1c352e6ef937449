//! Match suggestions: the pool each side is matched against, explained.
