//! What went wrong while standing a network up: the step, and why. Never a key or a PIN: the
//! causes come from `hsm` (which names a key by type and check value only), the file system and
//! the parties' configuration checks.

use std::fmt;

#[derive(Debug)]
pub enum ProvisionError {
    /// The request cannot be done as asked (a file would be overwritten, ports run out): the
    /// caller's to change.
    Input(String),
    /// A step failed: which one, and why.
    Failed { step: String, cause: String },
}

impl ProvisionError {
    pub fn input(message: impl Into<String>) -> ProvisionError {
        ProvisionError::Input(message.into())
    }

    pub fn failed(step: impl Into<String>, cause: impl fmt::Display) -> ProvisionError {
        ProvisionError::Failed { step: step.into(), cause: cause.to_string() }
    }

    /// Whether the caller asked for something that cannot be done (as opposed to a failure).
    pub fn is_input(&self) -> bool {
        matches!(self, ProvisionError::Input(_))
    }
}

impl fmt::Display for ProvisionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProvisionError::Input(message) => f.write_str(message),
            ProvisionError::Failed { step, cause } => write!(f, "{step}: {cause}"),
        }
    }
}

impl std::error::Error for ProvisionError {}

/// For callers (the integration tests among them) that carry errors as text.
impl From<ProvisionError> for String {
    fn from(error: ProvisionError) -> String {
        error.to_string()
    }
}

/// `map_err(fail("step"))`: the error of `step`, with the cause's text.
pub(crate) fn fail<E: fmt::Display>(step: &str) -> impl Fn(E) -> ProvisionError + '_ {
    move |cause| ProvisionError::failed(step, cause)
}

pub type Result<T> = std::result::Result<T, ProvisionError>;
