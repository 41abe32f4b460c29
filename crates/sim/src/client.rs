//! The acquirer member driving the switch: it builds, MACs and sends purchases as
//! `provision::link::AcquirerLink` does (the same `network::request` builders, PIN blocks under
//! the link's ZPK through the HSM, the response's MAC checked), minus the TCP client. A purchase
//! without an answer (or with one whose MAC fails) owes a reversal (0420), sent until the
//! switch answers it, at most [`REVERSAL_ATTEMPTS_MAX`] times.
//!
//! Not the terminal core yet: `crates/terminal` (the `host::Client` half, its SQLite store and
//! §6 reversal record) is the next step; this models the acquirer host's side of the switch
//! link only.

use std::sync::Arc;

use hsm::{SecurityModule, WrappedKey};
use iso8583::Message;
use network::request::{Acceptor, EntryMode, TransactionRequest};
use network::{StanGenerator, TransactionKind};

/// Attempts of one reversal at most (the first included); the run reports one never answered.
pub const REVERSAL_ATTEMPTS_MAX: u32 = 20;
/// Between two attempts of one reversal.
pub const REVERSAL_RETRY_MS: u64 = 3_000;

/// What the client saw of a purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Waiting,
    Approved,
    /// Field 39 of a refusal.
    Declined(String),
    /// No answer in time, or one whose MAC failed: reversed.
    NoAnswer,
}

/// One purchase of the workload.
#[derive(Debug)]
pub struct Purchase {
    /// Index of the card in [`Client::cards`].
    pub card: usize,
    pub amount_minor: u64,
    pub request: Message,
    pub outcome: Outcome,
    /// The reversal owed, once the purchase went unanswered.
    pub reversal: Option<Message>,
    pub reversal_attempts: u32,
    pub reversal_answered: bool,
}

/// A card of the workload with the issuer (index in the world) that issued it.
pub struct Cardholder {
    pub issuer: usize,
    pub card: provision::card::SimCard,
}

pub struct Client {
    hsm: Arc<dyn SecurityModule>,
    zak: WrappedKey,
    zpk: WrappedKey,
    acceptor: Acceptor,
    stans: StanGenerator,
    pub cards: Vec<Cardholder>,
    pub purchases: Vec<Purchase>,
}

/// Which message of a purchase an exchange carried: the purchase or its reversal.
pub fn token(purchase: usize, reversal: bool) -> u64 {
    (purchase as u64) << 1 | u64::from(reversal)
}

pub fn of_token(token: u64) -> (usize, bool) {
    ((token >> 1) as usize, token & 1 == 1)
}

impl Client {
    pub fn new(
        hsm: Arc<dyn SecurityModule>,
        zak: WrappedKey,
        zpk: WrappedKey,
        acceptor: Acceptor,
        cards: Vec<Cardholder>,
    ) -> Client {
        Client { hsm, zak, zpk, acceptor, stans: StanGenerator::default(), cards, purchases: Vec::new() }
    }

    /// Build and sign a purchase of `amount_minor` with card `card` (swiped, its holder's PIN);
    /// the purchase's index and the request to send.
    pub fn purchase(&mut self, card: usize, amount_minor: u64, now_ms: u64) -> Result<(usize, Message), String> {
        let holder = self.cards.get_mut(card).ok_or("no such card")?;
        let pin = String::from_utf8(holder.card.pin.expose().to_vec()).map_err(|_| "the PIN is not digits")?;
        let terminal = provision::card::purchase(amount_minor);
        let input = holder
            .card
            .present(EntryMode::Swipe, &terminal, Some(&pin), &*self.hsm, &self.zpk)
            .map_err(|e| format!("present the card: {e}"))?;
        let stan = self.stans.next();
        let rrn = network::time::rrn_of(now_ms, stan).map_err(|e| e.to_string())?;
        let request = TransactionRequest {
            kind: TransactionKind::Purchase,
            acceptor: &self.acceptor,
            card: &input,
            amount_minor,
            currency: provision::layout::CURRENCY,
            stan,
            rrn,
            now_ms,
            original: None,
        };
        let mut message = network::request::build(&iso8583::builtin::network(), &request).map_err(|e| e.to_string())?;
        network::mac::sign(&*self.hsm, &self.zak, &mut message).map_err(|e| e.to_string())?;
        self.purchases.push(Purchase {
            card,
            amount_minor,
            request: message.clone(),
            outcome: Outcome::Waiting,
            reversal: None,
            reversal_attempts: 0,
            reversal_answered: false,
        });
        Ok((self.purchases.len() - 1, message))
    }

    /// The switch answered `purchase` (or its reversal). A purchase answer that comes after
    /// its timeout was already dropped by the driver (late, unmatched).
    pub fn on_response(&mut self, purchase: usize, reversal: bool, response: &Message, now_ms: u64) -> Option<Message> {
        let verified = network::mac::verify(&*self.hsm, &self.zak, response).is_ok();
        let entry = self.purchases.get_mut(purchase)?;
        if reversal {
            // Any answer of the switch takes the reversal: it is the switch's to deliver now.
            entry.reversal_answered = true;
            return None;
        }
        if entry.outcome != Outcome::Waiting {
            return None;
        }
        // A 94 answers a copy of the request (the network duplicated it) while the original
        // may still be deciding or decided: it says nothing of the outcome, which is unknown,
        // so the purchase is reversed like an unanswered one. Taking it as a decline leaves the
        // original's hold standing against a cardholder who was told "declined" (the first
        // finding of this simulation, seed 7 of the lossy test).
        if !verified || response.get_str(39) == Some(network::codes::DUPLICATE) {
            return self.on_no_answer(purchase, false, now_ms);
        }
        entry.outcome = match response.get_str(39) {
            Some(network::codes::APPROVED) => Outcome::Approved,
            code => Outcome::Declined(code.unwrap_or("").to_owned()),
        };
        None
    }

    /// No answer in time. A purchase: the reversal it now owes (to send). A reversal: itself
    /// again, while attempts remain.
    pub fn on_no_answer(&mut self, purchase: usize, reversal: bool, now_ms: u64) -> Option<Message> {
        let stan = self.stans.next();
        let entry = self.purchases.get_mut(purchase)?;
        if reversal {
            return if entry.reversal_answered || entry.reversal_attempts >= REVERSAL_ATTEMPTS_MAX {
                None
            } else {
                entry.reversal_attempts += 1;
                entry.reversal.clone()
            };
        }
        if entry.outcome != Outcome::Waiting {
            return None;
        }
        entry.outcome = Outcome::NoAnswer;
        let mut message = network::request::reversal_of(&entry.request, stan.field().as_str(), now_ms, None).ok()?;
        network::mac::sign(&*self.hsm, &self.zak, &mut message).ok()?;
        entry.reversal = Some(message.clone());
        entry.reversal_attempts = 1;
        Some(message)
    }

    /// Reversals never answered after every attempt.
    pub fn reversals_unanswered(&self) -> usize {
        self.purchases.iter().filter(|p| p.reversal.is_some() && !p.reversal_answered).count()
    }
}
