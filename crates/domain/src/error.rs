//! The domain's error: what went wrong in terms of the rules, never in terms of HTTP or SQL.
//! The api crate maps each variant to a status and code in one place.

use std::time::Duration;

use crate::ratelimit::RateDecision;

/// Why a domain operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// An input broke a rule; `field` names it.
    #[error("{field}: {message}")]
    Validation {
        /// The field at fault.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// Several inputs broke rules at once; each names its field, in the order they were
    /// checked.
    #[error("{0}")]
    Invalid(Violations),
    /// Something with the same identity exists already.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// The credentials do not match an account (never says which part was wrong).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many failed attempts; the account refuses sign-in for a while.
    #[error("too many failed attempts; try again later")]
    AccountLocked {
        /// How long until the lock lapses.
        retry_after: Duration,
    },
    /// The password is right but the address is not confirmed yet (`PENDING_CONFIRMATION`).
    #[error("the email address is not confirmed yet")]
    PendingConfirmation,
    /// A second-factor code is wrong, or was already used.
    #[error("invalid or already used code")]
    InvalidMfaCode,
    /// A WebAuthn ceremony failed; the message says why in terms a user or operator can act on.
    #[error("passkey check failed: {0}")]
    Passkey(String),
    /// The feature is not configured on this server; the message says what to set.
    #[error("not configured: {0}")]
    NotConfigured(String),
    /// A token is missing, malformed, expired, revoked or reused.
    #[error("invalid or expired token")]
    InvalidToken,
    /// The caller is authenticated but may not do this.
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    /// No such thing.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A rate limit was reached.
    #[error("rate limit reached")]
    RateLimited(RateDecision),
    /// Something below the rules failed: the database, the key-value store, an encoding, a
    /// worker thread. Its text is for logs, never for clients.
    #[error("{context}{}", caused_by(.source.as_deref()))]
    Internal {
        /// What was being done.
        context: String,
        /// The failure underneath, where there is one.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

/// `": <cause>"` after an internal failure's context, so its log line names the cause too.
fn caused_by(source: Option<&(dyn std::error::Error + Send + Sync)>) -> String {
    source
        .map(|source| format!(": {source}"))
        .unwrap_or_default()
}

impl DomainError {
    /// An internal failure described by `context` alone.
    pub fn internal(context: impl Into<String>) -> Self {
        Self::Internal {
            context: context.into(),
            source: None,
        }
    }

    /// An internal failure while doing `context`, caused by `source`.
    pub fn caused(
        context: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Internal {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    /// A validation error on `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Validation {
            field,
            message: message.into(),
        }
    }

    /// Refuses with every validation error among `checks` when there are several, so that one
    /// answer names every field at fault; with one or none, the checks' own results say it.
    pub fn every_field(checks: &[Option<&DomainError>]) -> Result<(), DomainError> {
        let violations: Vec<(&'static str, String)> = checks
            .iter()
            .flatten()
            .filter_map(|error| match error {
                DomainError::Validation { field, message } => Some((*field, message.clone())),
                _ => None,
            })
            .collect();
        if violations.len() > 1 {
            return Err(Self::Invalid(Violations(violations)));
        }
        Ok(())
    }
}

/// Inputs that broke rules: each field with the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violations(pub Vec<(&'static str, String)>);

impl std::fmt::Display for Violations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (index, (field, message)) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{field}: {message}")?;
        }
        Ok(())
    }
}

impl From<crate::KvError> for DomainError {
    fn from(error: crate::KvError) -> Self {
        Self::caused("the key-value store", error)
    }
}
