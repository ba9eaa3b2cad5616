//! Typed access to a function's environment. Each function's `config.rs` reads exactly the
//! variables template.yaml declares for it and fails fast (an init error) when one is missing.

use std::str::FromStr;

/// A configuration problem found at start-up.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A variable is not set.
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    /// A variable has an unusable value.
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid {
        /// Variable name.
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// A required, non-empty variable.
pub fn required(name: &'static str) -> Result<String, ConfigError> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => Ok(v),
        _ => Err(ConfigError::Missing(name)),
    }
}

/// An optional variable (empty counts as absent).
pub fn optional(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A required variable parsed into `T`.
pub fn parsed<T: FromStr>(name: &'static str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    required(name)?.trim().parse().map_err(|e: T::Err| ConfigError::Invalid { name, reason: e.to_string() })
}
