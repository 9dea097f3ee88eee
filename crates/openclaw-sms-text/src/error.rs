//! The crate's one error type.

use thiserror::Error;

/// A chunk limit given as text could not be read as a number.
///
/// Only [`ChunkLimit`](crate::ChunkLimit)'s strict `FromStr` returns it; numbers that make no
/// sense as a limit (0, negative, infinite, NaN) are not errors: they mean the default, see
/// [`ChunkLimit::from_number`](crate::ChunkLimit::from_number).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ParseChunkLimitError {
    /// The text is not a decimal number.
    #[error("chunk limit {input:?} is not a number")]
    NotANumber {
        /// The text that was given, cut to at most 32 characters.
        input: String,
    },
}
