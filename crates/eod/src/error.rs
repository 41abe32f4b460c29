//! End of day's errors: the input's (a folder, a file, a date that cannot close yet), which the
//! CLI exits 2 for, or a failure of a party's library or storage. One line each.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EodError {
    /// The input was wrong: no such folder, a bad file, a date not closed.
    BadInput(String),
    /// Something failed that was not the input's fault.
    Failure(String),
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl EodError {
    pub fn bad_input(message: impl fmt::Display) -> EodError {
        EodError::BadInput(one_line(&message.to_string()))
    }

    pub fn failure(message: impl fmt::Display) -> EodError {
        EodError::Failure(one_line(&message.to_string()))
    }

    /// The same error, its message prefixed with the step it ended (`eod clearing: …`).
    pub(crate) fn in_step(self, step: &str) -> EodError {
        match self {
            EodError::BadInput(m) => EodError::BadInput(format!("eod {step}: {m}")),
            EodError::Failure(m) => EodError::Failure(format!("eod {step}: {m}")),
        }
    }

    pub fn is_bad_input(&self) -> bool {
        matches!(self, EodError::BadInput(_))
    }
}

impl fmt::Display for EodError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EodError::BadInput(message) | EodError::Failure(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for EodError {}

impl From<std::io::Error> for EodError {
    fn from(error: std::io::Error) -> EodError {
        EodError::failure(error)
    }
}

impl From<hsm::Error> for EodError {
    fn from(error: hsm::Error) -> EodError {
        if error.is_bad_input() { EodError::bad_input(error) } else { EodError::failure(error) }
    }
}

impl From<switch::SwitchError> for EodError {
    fn from(error: switch::SwitchError) -> EodError {
        match error {
            switch::SwitchError::Config(error) => EodError::bad_input(error),
            other => EodError::failure(other),
        }
    }
}

impl From<issuer::IssuerError> for EodError {
    fn from(error: issuer::IssuerError) -> EodError {
        if error.is_bad_input() { EodError::bad_input(error) } else { EodError::failure(error) }
    }
}

impl From<acquirer::AcquirerError> for EodError {
    fn from(error: acquirer::AcquirerError) -> EodError {
        match error {
            acquirer::AcquirerError::Config(e) => EodError::bad_input(e),
            other => EodError::failure(other),
        }
    }
}
