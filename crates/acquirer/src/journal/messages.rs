//! `acquirer_messages`: every message in and out on either leg, with what identifies and
//! explains it (the PAN masked; never a PIN block or track data).

use iso8583::Message;
use sqlstore::Tx;

use crate::engine::{amount_of, masked_pan};
use crate::store::{self, int, opt_int};

/// Which way a message went, on which leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    FromTerminal,
    ToTerminal,
    FromNetwork,
    ToNetwork,
}

impl Flow {
    fn columns(self) -> (&'static str, &'static str) {
        match self {
            Flow::FromTerminal => ("in", "terminal"),
            Flow::ToTerminal => ("out", "terminal"),
            Flow::FromNetwork => ("in", "network"),
            Flow::ToNetwork => ("out", "network"),
        }
    }
}

/// The message log: appended, so that inside a batch its rows go in together just before the
/// commit (`sqlstore::Tx::append`; nothing reads the log before then).
static MESSAGE_LOG: sqlstore::AppendLog = sqlstore::AppendLog::new(
    "acquirer_messages",
    &[
        "id",
        "transaction_id",
        "at_ms",
        "direction",
        "leg",
        "terminal_id",
        "mti",
        "stan",
        "processing_code",
        "amount_minor",
        "pan_masked",
        "rrn",
        "response_code",
    ],
);

/// One message for `acquirer_messages`, of transaction `transaction_id` when it has one.
pub(crate) fn log(
    tx: &mut Tx<'_>,
    transaction_id: Option<u64>,
    flow: Flow,
    message: &Message,
    now_ms: u64,
) -> sqlstore::Result<()> {
    let (direction, leg) = flow.columns();
    let id = store::next_id(tx, store::SEQ_MESSAGE)?;
    tx.append(
        &MESSAGE_LOG,
        vec![
            int(id)?,
            opt_int(transaction_id)?,
            int(now_ms)?,
            direction.into(),
            leg.into(),
            message.get_str(41).map(|t| t.trim_end().to_owned()).into(),
            message.mti().as_str().into(),
            message.get_str(11).into(),
            message.get_str(3).into(),
            opt_int(amount_of(message))?,
            masked_pan(message).into(),
            message.get_str(37).into(),
            message.get_str(39).into(),
        ],
    )?;
    Ok(())
}

/// A terminal's request and the host's answer to it: the two messages of every exchange with a
/// terminal that the host answers itself.
pub(crate) fn log_exchange(
    tx: &mut Tx<'_>,
    transaction_id: Option<u64>,
    request: &Message,
    response: &Message,
    now_ms: u64,
) -> sqlstore::Result<()> {
    log(tx, transaction_id, Flow::FromTerminal, request, now_ms)?;
    log(tx, transaction_id, Flow::ToTerminal, response, now_ms)
}
