//! The checks that turn raw input into values the domain trusts. Every refusal names the
//! input field at fault.
use crate::error::{AppError, AppResult};

/// A required text: trimmed, not empty, at most `max` characters.
pub fn text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(AppError::bad_input(
            field,
            format!("{field} cannot be empty"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(AppError::bad_input(
            field,
            format!("{field} contains a control character"),
        ));
    }
    if value.chars().count() > max {
        return Err(AppError::bad_input(
            field,
            format!("{field} is longer than {max} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// A free text that may be empty (a profile text): trimmed, at most `max` characters.
pub fn free_text(field: &str, value: &str, max: usize) -> AppResult<String> {
    match value.trim() {
        "" => Ok(String::new()),
        v => text(field, v, max),
    }
}

/// An optional text: trimmed; empty means none.
pub fn optional_text(field: &str, value: Option<&str>, max: usize) -> AppResult<Option<String>> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text(field, v, max).map(Some),
    }
}

/// Checks an age bound in months.
pub fn months(field: &str, value: i32) -> AppResult<i32> {
    if !(0..=216).contains(&value) {
        return Err(AppError::bad_input(
            field,
            "ages are given in months, from 0 to 216",
        ));
    }
    Ok(value)
}
