//! Free-text fields (reasons, references, notes, actor ids): the one
//! length rule every command and event applies to them.

/// The longest free-text field (reasons, references) accepted, in bytes.
pub const TEXT_LEN_MAX: usize = 500;

/// A free-text field that was empty or too long.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be {min} to {max} bytes long, got {len}")]
pub struct TextError {
    pub field: &'static str,
    pub len: usize,
    pub min: usize,
    pub max: usize,
}

/// Checks a free-text field's length (`min` bytes at least, `TEXT_LEN_MAX` at most).
pub fn check_text(field: &'static str, value: &str, min: usize) -> Result<(), TextError> {
    if value.len() < min || value.len() > TEXT_LEN_MAX {
        return Err(TextError {
            field,
            len: value.len(),
            min,
            max: TEXT_LEN_MAX,
        });
    }
    Ok(())
}
