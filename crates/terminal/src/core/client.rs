//! The terminal behind the client half of the party contract ([`host::Client`]): every request
//! it makes comes back to it with its answer or with none, whatever drives it (the shell over
//! TCP, the benchmark's virtual terminals, the simulation). Which handler reads the answer
//! follows from what the request was for ([`Purpose`]).

use iso8583::Message;

use super::{Outcome, Outgoing, Purpose, Terminal};
use crate::{Result, TerminalError};

/// What an answered (or unanswered) exchange ended in.
#[derive(Debug)]
pub enum Answered {
    /// Sign-on, parameters, a transaction, sign-off: what the cashier sees.
    Outcome(Box<Outcome>),
    /// A reversal: whether the host settled it (00, 12, 25) — otherwise it is sent again.
    Reversal { settled: bool },
    /// Settlement (0510): whether the domestic and the foreign totals balanced.
    Settlement { domestic_balanced: bool, foreign_balanced: bool },
    /// A batch-upload message (0330): nothing to take from it; the upload goes on.
    Uploaded,
}

impl host::Client for Terminal {
    type Outgoing = Outgoing;
    type Outcome = Answered;
    type Error = TerminalError;

    fn request_of(outgoing: &Outgoing) -> &Message {
        &outgoing.message
    }

    fn on_response(&mut self, out: &Outgoing, response: &Message) -> Result<Answered> {
        Ok(match out.purpose {
            Purpose::SignOn => Answered::Outcome(Box::new(self.on_sign_on_response(response)?)),
            Purpose::Parameters => Answered::Outcome(Box::new(self.on_parameters_response(response)?)),
            Purpose::Txn(_) => Answered::Outcome(Box::new(Terminal::on_response(self, out, response)?)),
            Purpose::Reversal => Answered::Reversal { settled: self.on_reversal_response(out, response)? },
            Purpose::Settlement => {
                let (domestic_balanced, foreign_balanced) = self.on_settlement_response(response)?;
                Answered::Settlement { domestic_balanced, foreign_balanced }
            }
            Purpose::Upload => Answered::Uploaded,
            Purpose::SignOff => Answered::Outcome(Box::new(self.on_sign_off(Some(response))?)),
        })
    }

    fn on_no_answer(&mut self, out: &Outgoing) -> Answered {
        match out.purpose {
            Purpose::Reversal => Answered::Reversal { settled: false },
            Purpose::Upload => Answered::Uploaded,
            // A transaction without an answer is reversed (its record kept durably); the others
            // just did not happen.
            _ => Answered::Outcome(Box::new(self.on_timeout(out))),
        }
    }
}
