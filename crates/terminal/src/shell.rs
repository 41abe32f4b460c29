//! The TCP shell: one connection in the cup-pos framing, one request outstanding at a time,
//! primary and backup host, and the orderings of §6 around the core.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hsm::Secret;
use iso8583::Message;
use serde::Serialize;
use tokio::net::TcpStream;
use tokio_util::codec::Framed;
use transport::FrameCodec;

use crate::core::{Answered, Outcome, Outgoing, SettlementTotals, Terminal, TxnRequest};
use crate::{Result, TerminalError};

/// What one exchange gave.
enum Reply {
    Answer(Message),
    /// No (matching) answer within the timeout.
    Timeout,
}

/// The result of a settlement.
#[derive(Debug, Clone, Serialize)]
pub struct SettlementOutcome {
    pub batch_no: u32,
    pub next_batch_no: u32,
    pub totals: SettlementTotals,
    pub field48: String,
    pub domestic_balanced: bool,
    pub foreign_balanced: bool,
    /// 0320 messages sent (records and the end).
    pub uploaded_messages: usize,
}

/// A terminal with its link to the acquirer.
pub struct Pos {
    terminal: Terminal,
    link: Option<Framed<TcpStream, FrameCodec>>,
    host: Option<String>,
    failover: bool,
    notices: Vec<String>,
}

impl std::fmt::Debug for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pos").field("terminal", &self.terminal).field("host", &self.host).finish_non_exhaustive()
    }
}

impl Pos {
    pub fn new(terminal: Terminal) -> Pos {
        Pos { terminal, link: None, host: None, failover: false, notices: Vec::new() }
    }

    pub fn terminal(&self) -> &Terminal {
        &self.terminal
    }

    pub fn terminal_mut(&mut self) -> &mut Terminal {
        &mut self.terminal
    }

    /// The host connected to, and whether it is the backup.
    pub fn host(&self) -> Option<(&str, bool)> {
        self.host.as_deref().map(|h| (h, self.failover))
    }

    /// What the terminal had to say along the way (failover, reversals sent, re-sign-on).
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// Connect to the primary, else the backup (and say so).
    async fn connect(&mut self) -> Result<()> {
        if let Some(link) = self.link.as_mut() {
            // Hosts close links idle past their idle timeout (docs/operations.md). Look without
            // waiting: a link the host closed is opened again here, rather than the next request
            // going out on it and timing out into a 98 reversal. A late frame read here is an
            // answer no request is waiting for, which `exchange` would skip too.
            match futures_util::FutureExt::now_or_never(link.next()) {
                None | Some(Some(Ok(_))) => return Ok(()),
                Some(None | Some(Err(_))) => self.link = None,
            }
        }
        let config = self.terminal.config();
        let connect_timeout = Duration::from_millis(config.connect_timeout_ms);
        let mut hosts = vec![(config.primary.clone(), false)];
        hosts.extend(config.backup.clone().map(|b| (b, true)));
        let framing = iso8583::builtin::cup_pos().framing.clone();
        let mut failures = Vec::new();
        for (address, backup) in hosts {
            match tokio::time::timeout(connect_timeout, TcpStream::connect(&address)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    let codec = FrameCodec::new(framing).map_err(|e| TerminalError::Config(e.to_string()))?;
                    self.link = Some(Framed::new(stream, codec));
                    if backup {
                        self.notices.push(format!(
                            "primary host {} cannot be reached ({}); using the backup host {address}",
                            config.primary,
                            failures.join("; ")
                        ));
                    }
                    self.host = Some(address);
                    self.failover = backup;
                    return Ok(());
                }
                Ok(Err(e)) => failures.push(format!("{address}: {e}")),
                Err(_) => failures.push(format!("{address}: no connection in {} ms", config.connect_timeout_ms)),
            }
        }
        Err(TerminalError::Unreachable(failures.join("; ")))
    }

    /// Send one request and wait for its answer; answers to earlier requests are skipped. The
    /// link is dropped after a timeout or failure (a late answer must not be taken for the
    /// next request's).
    async fn exchange(&mut self, out: &Outgoing) -> Result<Reply> {
        let frame = Bytes::from(out.frame()?);
        let timeout = Duration::from_millis(self.terminal.config().timeout_ms);
        let Some(link) = self.link.as_mut() else { return Err(TerminalError::State("not connected".into())) };
        if link.send(frame).await.is_err() {
            self.link = None;
            return Ok(Reply::Timeout);
        }
        let spec = iso8583::builtin::cup_pos();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let next = tokio::time::timeout_at(deadline, link.next()).await;
            let frame = match next {
                Ok(Some(Ok(frame))) => frame,
                Ok(_) | Err(_) => {
                    self.link = None;
                    return Ok(Reply::Timeout);
                }
            };
            let Ok((envelope, message)) = iso8583::decode_framed(&spec, &frame) else { continue };
            if out.answered_by(&message) {
                self.terminal.on_envelope(&envelope)?;
                return Ok(Reply::Answer(message));
            }
        }
    }

    /// 0800 sign-on.
    pub async fn sign_on(&mut self) -> Result<Outcome> {
        self.connect().await?;
        let out = self.terminal.sign_on_request()?;
        let reply = self.exchange(&out).await?;
        outcome(self.answered(&out, reply)?)
    }

    /// The end of an exchange, read by the terminal core through the client contract.
    fn answered(&mut self, out: &Outgoing, reply: Reply) -> Result<Answered> {
        match reply {
            Reply::Answer(response) => host::Client::on_response(&mut self.terminal, out, &response),
            Reply::Timeout => Ok(host::Client::on_no_answer(&mut self.terminal, out)),
        }
    }

    /// 0800/360 parameter download: the merchant name for slips and the host's other items.
    pub async fn download_parameters(&mut self) -> Result<Outcome> {
        self.connect().await?;
        let out = self.terminal.parameters_request()?;
        let reply = self.exchange(&out).await?;
        outcome(self.answered(&out, reply)?)
    }

    /// Sign on if needed, then send any pending reversal (up to `reversal_attempts_max` tries).
    async fn prepare(&mut self) -> Result<()> {
        self.connect().await?;
        if !self.terminal.signed_on() {
            let outcome = self.sign_on().await?;
            if !outcome.approved {
                return Err(TerminalError::State(format!(
                    "sign-on answered {}: {}",
                    outcome.code_text(),
                    outcome.message
                )));
            }
        }
        self.flush_reversal().await?;
        self.flush_advice().await
    }

    /// Send the pending advice, if any, until an answer decides it (up to
    /// `reversal_attempts_max` tries, as a reversal).
    pub async fn flush_advice(&mut self) -> Result<()> {
        let attempts_max = self.terminal.config().reversal_attempts_max;
        for _ in 0..attempts_max {
            let Some(out) = self.terminal.advice_request()? else { return Ok(()) };
            self.connect().await?;
            let reply = self.exchange(&out).await?;
            let outcome = outcome(self.answered(&out, reply)?)?;
            if !outcome.advice_pending {
                self.notices.push(format!(
                    "{} advice of trace {} sent again and answered {}",
                    outcome.transaction,
                    outcome.trace,
                    outcome.code_text()
                ));
                return Ok(());
            }
            if !self.terminal.signed_on() {
                let _ = self.sign_on().await;
            }
        }
        match self.terminal.pending_advice()? {
            None => Ok(()),
            Some((trace, kind)) => Err(TerminalError::State(format!(
                "the {kind} advice of trace {trace} was not answered after {attempts_max} tries: \
                 check the line and try again; no new transaction until it is answered"
            ))),
        }
    }

    /// Send the pending reversal, if any, with retries.
    pub async fn flush_reversal(&mut self) -> Result<()> {
        let attempts_max = self.terminal.config().reversal_attempts_max;
        for _ in 0..attempts_max {
            let Some(out) = self.terminal.reversal_request()? else { return Ok(()) };
            self.connect().await?;
            let reply = self.exchange(&out).await?;
            if let Answered::Reversal { settled: true } = self.answered(&out, reply)? {
                self.notices.push(format!(
                    "reversal of trace {} sent and accepted ({})",
                    out.message.get_str(11).unwrap_or(""),
                    out.message.get_str(39).unwrap_or("")
                ));
                return Ok(());
            }
            if !self.terminal.signed_on() {
                // The host asked for a new sign-on (77/A0/99 or the header): the reversal's
                // MAC needs the new keys.
                let _ = self.sign_on().await;
            }
        }
        match self.terminal.pending_reversal()? {
            None => Ok(()),
            Some((trace, reason)) => Err(TerminalError::State(format!(
                "the reversal of trace {trace} ({reason}) was not accepted after {attempts_max} tries: \
                 check the line and try again; no new transaction until it is sent"
            ))),
        }
    }

    /// One financial transaction: sign-on and pending reversal first, then the request.
    pub async fn transact(&mut self, request: &TxnRequest) -> Result<Outcome> {
        self.prepare().await?;
        let out = self.terminal.begin(request)?;
        let outcome = match self.exchange(&out).await {
            Ok(reply) => outcome(self.answered(&out, reply)?)?,
            Err(error) => {
                // Nothing was written to the link: no reversal is owed.
                self.terminal.abandon(&out)?;
                return Err(error);
            }
        };
        if outcome.sign_on_needed && outcome.reversal_pending.is_none() {
            // 77/99/A0 or the header's nibble: sign on now, so the next one goes through.
            if let Err(error) = self.sign_on().await {
                self.notices.push(format!("sign-on after {} failed: {error}", outcome.code_text()));
            }
        }
        Ok(outcome)
    }

    /// Settlement: reversals and advices first, 0500 with the totals, batch upload when the host says
    /// unbalanced (and the 207 end when balanced), then the batch closes.
    pub async fn settle(&mut self, supervisor_password: &Secret) -> Result<SettlementOutcome> {
        self.terminal.authorise_supervisor(Some(supervisor_password))?;
        self.prepare().await?;
        let batch_no = self.terminal.batch_no();
        let (out, totals) = self.terminal.settlement_request(Some(supervisor_password))?;
        let response = match self.exchange(&out).await? {
            Reply::Answer(response) => response,
            Reply::Timeout => return Err(TerminalError::State("settlement: no answer in time; settle again".into())),
        };
        let (domestic_balanced, foreign_balanced) = self.terminal.on_settlement_response(&response)?;
        let uploads = self.terminal.upload_requests(domestic_balanced && foreign_balanced)?;
        let uploaded_messages = uploads.len();
        for upload in &uploads {
            self.connect().await?;
            match self.exchange(upload).await? {
                Reply::Answer(answer) if answer.get_str(39) == Some("00") => {}
                Reply::Answer(answer) => {
                    return Err(TerminalError::State(format!(
                        "batch upload answered {}: settle again",
                        answer.get_str(39).unwrap_or("")
                    )));
                }
                Reply::Timeout => {
                    return Err(TerminalError::State("batch upload: no answer in time; settle again".into()));
                }
            }
        }
        let next_batch_no = self.terminal.close_batch()?;
        Ok(SettlementOutcome {
            batch_no,
            next_batch_no,
            field48: totals.field48(),
            totals,
            domestic_balanced,
            foreign_balanced,
            uploaded_messages,
        })
    }

    /// Sign-off: reversals and advices first, then 0820/002; the keys are forgotten either way.
    pub async fn sign_off(&mut self) -> Result<Outcome> {
        self.connect().await?;
        if self.terminal.signed_on() {
            self.flush_reversal().await?;
            self.flush_advice().await?;
        }
        let out = self.terminal.sign_off_request()?;
        let response = match self.exchange(&out).await? {
            Reply::Answer(response) => Some(response),
            Reply::Timeout => None,
        };
        self.terminal.on_sign_off(response.as_ref())
    }
}

/// The cashier's outcome of an exchange that has one.
fn outcome(answered: Answered) -> Result<Outcome> {
    match answered {
        Answered::Outcome(outcome) => Ok(*outcome),
        other => Err(TerminalError::State(format!("unexpected end of an exchange: {other:?}"))),
    }
}
