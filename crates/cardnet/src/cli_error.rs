//! CLI errors: bad input (exit 2) or a failure of cardnet itself (exit 1). One line each.

use std::fmt;

#[derive(Debug)]
pub enum CliError {
    /// The user's input was wrong: a malformed message, unknown spec, bad JSON.
    BadInput(String),
    /// Something failed that was not the input's fault (I/O on stdout, say).
    Failure(String),
    /// Whoever read standard output closed it (`cardnet … | head`): stop, quietly.
    OutputClosed,
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::BadInput(_) => 2,
            CliError::Failure(_) => 1,
            CliError::OutputClosed => 0,
        }
    }

    pub fn bad_input(message: impl fmt::Display) -> CliError {
        CliError::BadInput(one_line(&message.to_string()))
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::BadInput(message) | CliError::Failure(message) => f.write_str(message),
            CliError::OutputClosed => f.write_str("standard output was closed"),
        }
    }
}

impl From<iso8583::Error> for CliError {
    fn from(error: iso8583::Error) -> CliError {
        CliError::bad_input(error)
    }
}

impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> CliError {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            return CliError::OutputClosed;
        }
        // A listen address that cannot be bound is the configuration's mistake.
        if let Some(listen) = host::listen::listen_error(&error) {
            return CliError::bad_input(listen);
        }
        CliError::Failure(one_line(&error.to_string()))
    }
}

impl From<hsm::Error> for CliError {
    fn from(error: hsm::Error) -> CliError {
        if error.is_bad_input() { CliError::bad_input(error) } else { CliError::Failure(one_line(&error.to_string())) }
    }
}

impl From<::eod::EodError> for CliError {
    fn from(error: ::eod::EodError) -> CliError {
        match error {
            ::eod::EodError::BadInput(message) => CliError::BadInput(message),
            ::eod::EodError::Failure(message) => CliError::Failure(message),
        }
    }
}
