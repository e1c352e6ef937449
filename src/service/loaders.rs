//! Batch loads of nested records (one query per kind per request, not one per row).
