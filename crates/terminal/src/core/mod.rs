//! The terminal's logic: requests out, responses in, the journal and the reversal record kept
//! durably in between. No network I/O (the shell in `shell.rs` does that). Here: power-on,
//! sign-on, the transaction pipeline and reversals; beside it what a transaction is made of
//! (`kind.rs`), what goes out and comes back (`outcome.rs`), operators (`operators.rs`),
//! settlement and batch upload (`settlement.rs`) and the chip's part (`chip.rs`).

use std::sync::{Arc, Mutex};

use cardsim::{ChipCard, SimCard, TerminalData, TransactionType};

use domain::{Pan, ResponseCode, Rrn, Stan};
use hsm::Secret;
use hsm::signon::{SignOnScheme, load_terminal_keys};
use iso8583::{Envelope, Header, Message, Mti, ProcessingRequirement, Spec, Tpdu};
use serde::Serialize;

use crate::config::{MERCHANT_NAME_CHARS_MAX, TerminalConfig};
use crate::keys::{self, WorkingKeys};
use crate::slip::{SlipContext, SlipInput};
use crate::store::{JournalEntry, LastSlip, ReversalRow, Role, StateRow, Store};
use crate::{Result, TerminalError, codec};

mod advice;
mod batch_limit;
mod chip;
mod client;
mod fallback;
mod kept;
mod kind;
mod operators;
mod outcome;
mod settlement;
mod track;

pub use client::Answered;
use kept::Kept;
pub use kind::{Card, EntryMode, Kind, Original, SharedChip, TxnRequest, parse_entry};
pub(crate) use operators::check_operator_seeds;
pub use outcome::{Outcome, Outgoing, Purpose, SelfCheck, response_text};
pub use settlement::SettlementTotals;

/// Bytes of field 64.
const MAC_BYTES: usize = 8;
/// Trace numbers (field 11) run 000001‥999999 and wrap.
const TRACE_MAX: u32 = 999_999;
/// Batch numbers (60.2) run 000001‥999999 and wrap.
const BATCH_MAX: u32 = 999_999;
/// Records of one 0320/201 batch-upload message (§6).
pub const UPLOAD_RECORDS_MAX: usize = 8;
/// MTIs that carry field 64 (§5; the acquirer's default `mac_messages`).
const MAC_MTIS: [&str; 8] = ["0100", "0110", "0200", "0210", "0220", "0230", "0400", "0410"];
/// Field 49 and tag 5F2A: CNY.
const CURRENCY_CNY: &str = "156";
/// Tag 9F1A: China.
const COUNTRY_CHINA: &str = "156";
/// Tag 9F37.
const UNPREDICTABLE_NUMBER_BYTES: usize = 4;
/// Response codes after which the terminal signs on again (§7, issue 7).
const SIGN_ON_AGAIN_CODES: [&str; 3] = ["77", "A0", "99"];
/// The host already holds a transaction with this trace (a copy of the request reached it
/// first): the answer says nothing of that transaction's outcome.
const DUPLICATE_CODE: &str = "94";
/// Answers to an advice that decide nothing, so it is sent again: 94 (the first copy is still
/// being decided) and sign on again (77, A0, 99). Every other answer is final — 98 too: the
/// acquirer reverses at the network a refund whose forward went unanswered, and answers a
/// repeat as it answered the first copy.
const ADVICE_UNDECIDED_CODES: [&str; 4] = [DUPLICATE_CODE, "77", "A0", "99"];
/// Reversal answers that settle the record: done (00), or the host never had the original
/// (25) or cannot reverse it any more (12); anything else is tried again.
const REVERSAL_DONE_CODES: [&str; 3] = ["00", "12", "25"];
/// Operator number length (two digits, `00` the supervisor by convention).
const OPERATOR_DIGITS: usize = 2;
/// Password length bounds (terminal keypads take 4–12 digits).
const PASSWORD_LEN_MIN: usize = 4;
const PASSWORD_LEN_MAX: usize = 12;
/// 60.3 of the parameter download (0800/360, docs/acquirer.md §1).
const NETWORK_CODE_PARAMETERS: &str = "360";
/// Items read from one parameter download's field 62 (`tag(2) length(2) value`).
const PARAMETER_ITEMS_MAX: usize = 32;
/// The parameter item carrying the merchant's name.
const PARAMETER_MERCHANT_NAME: &str = "01";

/// The terminal: configuration, keys, state and its journal.
pub struct Terminal {
    config: TerminalConfig,
    store: Store,
    spec: Arc<Spec>,
    envelope: Envelope,
    tmk: Secret,
    storage_key: Secret,
    /// Seals and opens under the storage key (its two keys derived once, at power-on).
    sealer: hsm::data::Sealer,
    scheme: SignOnScheme,
    /// The working keys' ciphers, made once at sign-on (or power-on), not per message.
    keys: Option<WorkingKeys>,
    state: StateRow,
    /// The journal's rows every request asks about, as last committed (`kept.rs`).
    kept: Kept,
    operator: Option<(String, Role)>,
    checks: Vec<SelfCheck>,
    /// The slip's merchant name: the parameter download's, else the configuration's.
    merchant_name: Option<String>,
    clock: Arc<dyn clock::Clock>,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("terminal_id", &self.config.terminal_id)
            .field("batch_no", &self.state.batch_no)
            .field("signed_on", &self.keys.is_some())
            .finish_non_exhaustive()
    }
}

fn check(item: &'static str, result: std::result::Result<String, (String, String)>) -> SelfCheck {
    match result {
        Ok(detail) => SelfCheck { item, ok: true, detail, remedy: String::new() },
        Err((detail, remedy)) => SelfCheck { item, ok: false, detail, remedy },
    }
}

fn field(message: &Message, path: &str) -> Option<String> {
    message.get_path(path).ok().flatten().and_then(|v| std::str::from_utf8(v).ok()).map(str::to_owned)
}

impl Terminal {
    /// Power on: the self-check (configuration, TMK and its check value, journal readable and
    /// intact, reader and printer ready, a supervisor on file), then the state where the
    /// terminal left off. Any failure: [`TerminalError::SelfCheck`] with every item.
    pub fn open(config: TerminalConfig) -> Result<Terminal> {
        let store = Store::open(&config.journal);
        Terminal::power_on(config, store)
    }

    /// [`Terminal::open`] with the journal in plain memory instead of the configured file
    /// ([`Store::memory`]): for a load generator's virtual terminals, whose journals are read in
    /// the same process after the run and never again. Everything else is as on a real terminal
    /// (the same rows, written in the same transactions, records sealed the same way); nothing
    /// of it survives the process, so a real terminal never uses it.
    pub fn open_in_memory(config: TerminalConfig) -> Result<Terminal> {
        Terminal::power_on(config, Store::memory())
    }

    fn power_on(config: TerminalConfig, store: Result<Store>) -> Result<Terminal> {
        let mut checks = Vec::new();
        checks.push(check(
            "configuration",
            config
                .check()
                .map(|()| format!("terminal {} merchant {}", config.terminal_id, config.merchant_id))
                .map_err(|e| (e.to_string(), "fix the terminal configuration file".into())),
        ));
        let tmk = match keys::read_tmk_file(&config.tmk_file) {
            Ok(tmk) => {
                let kcv = keys::tmk_kcv(&tmk).unwrap_or_default();
                let expected = config.tmk_kcv.to_uppercase();
                if !kcv.is_empty() && hsm::mac::verify(kcv.as_bytes(), expected.as_bytes()).is_ok() {
                    checks.push(check("tmk", Ok(format!("loaded, check value {kcv}"))));
                    Some(tmk)
                } else {
                    checks.push(check(
                        "tmk",
                        Err((
                            format!("check value {kcv} is not the configured {expected}"),
                            "inject the TMK again from its components and set tmk_kcv from the slip".into(),
                        )),
                    ));
                    None
                }
            }
            Err(e) => {
                checks.push(check(
                    "tmk",
                    Err((e.to_string(), "inject the TMK (`cardnet terminal add` prints its components)".into())),
                ));
                None
            }
        };
        let store = match store {
            Ok(store) => Some(store),
            Err(e) => {
                checks.push(check(
                    "journal",
                    Err((e.to_string(), "check the journal path and disk; restore the file from backup".into())),
                ));
                None
            }
        };
        checks.push(check("card reader", Ok("simulated reader ready: swipe, insert, tap".into())));
        checks.push(check("printer", Ok("simulated printer ready".into())));
        let (Some(tmk), Some(store)) = (tmk, store) else {
            return Err(TerminalError::SelfCheck(checks));
        };
        let storage_key = keys::storage_key(&tmk)?;
        let sealer = hsm::data::Sealer::new(storage_key.expose())?;
        let scheme = SignOnScheme::from_code(&config.key_scheme)?;
        let tpdu = Tpdu::from_hex(&config.tpdu).map_err(codec("tpdu"))?;
        let header = Header::from_hex(&config.header).map_err(codec("header"))?;
        let state =
            StateRow { batch_no: 1, trace: 0, scheme: None, keys: None, sign_on_needed: true, salt: Vec::new() };
        let mut terminal = Terminal {
            spec: iso8583::builtin::cup_pos(),
            envelope: Envelope { tpdu: Some(tpdu), header: Some(header) },
            config,
            store,
            tmk,
            storage_key,
            sealer,
            scheme,
            keys: None,
            state: state.clone(),
            kept: Kept::empty(&state),
            operator: None,
            checks: Vec::new(),
            merchant_name: None,
            clock: Arc::new(clock::SystemClock),
        };
        let journal = terminal.load();
        checks.push(check("journal", journal.map_err(|e| (e.to_string(), "the journal file is damaged or sealed under another TMK: settle it on another device from the host's records, then move the file aside".into()))));
        let operators = terminal.seed_operators();
        checks.push(check(
            "operators",
            operators.map_err(|e| {
                (
                    e.to_string(),
                    "give the configuration a supervisor ([[operators]] number \"00\" role \"supervisor\" with its password_hash from `cardnet pos init`), in a file the terminal may rewrite".into(),
                )
            }),
        ));
        if checks.iter().any(|c| !c.ok) {
            return Err(TerminalError::SelfCheck(checks));
        }
        terminal.checks = checks;
        Ok(terminal)
    }

    /// The self-check lines of the last power-on.
    pub fn self_check(&self) -> &[SelfCheck] {
        &self.checks
    }

    pub fn config(&self) -> &TerminalConfig {
        &self.config
    }

    /// The terminal's clock (slips take their year from it). The system clock unless set.
    pub fn set_clock(&mut self, clock: Arc<dyn clock::Clock>) {
        self.clock = clock;
    }

    /// The name printed on slips: from the parameter download, else the configuration.
    pub fn merchant_name(&self) -> Option<&str> {
        self.merchant_name.as_deref()
    }

    /// The last slip (both copies) marked as a reprint (重打印), in `lang`; `None` before the
    /// first approved transaction. It survives a restart; it holds the masked card number only.
    pub fn last_receipt(&self, lang: receipt::Lang) -> Result<Option<String>> {
        Ok(match self.store.transact(|tx| tx.last_slip())? {
            Some(LastSlip::Kept(kept)) => Some(crate::slip::reprint(&kept, lang)?),
            Some(LastSlip::Rendered(zh, en)) => Some(match lang {
                receipt::Lang::Zh => zh,
                receipt::Lang::En => en,
            }),
            None => None,
        })
    }

    pub fn batch_no(&self) -> u32 {
        self.state.batch_no
    }

    pub fn signed_on(&self) -> bool {
        self.keys.is_some() && !self.state.sign_on_needed
    }

    // ---- messages -------------------------------------------------------------------

    fn next_trace(&mut self) -> String {
        self.state.trace = if self.state.trace >= TRACE_MAX { 1 } else { self.state.trace + 1 };
        format!("{:06}", self.state.trace)
    }

    fn message(&self, mti: &str, trace: &str) -> Result<Message> {
        let mut m = Message::new(Arc::clone(&self.spec), Mti::parse(mti).map_err(codec("MTI"))?);
        m.set_str(11, trace).map_err(codec("11"))?;
        m.set_str(41, &self.config.terminal_id).map_err(codec("41"))?;
        m.set_str(42, &self.config.merchant_id).map_err(codec("42"))?;
        Ok(m)
    }

    fn operator63(&self) -> String {
        format!("{:0>3}", self.operator().unwrap_or("0"))
    }

    /// The §5 MAB: MTI through field 63 with bit 64 set.
    pub fn mab(message: &Message) -> Result<Vec<u8>> {
        let mut copy = message.clone();
        copy.set(64, &[0u8; MAC_BYTES]).map_err(codec("64"))?;
        let mut body = copy.encode().map_err(codec("encode"))?;
        body.truncate(body.len().saturating_sub(MAC_BYTES));
        Ok(body)
    }

    fn mac(&self, message: &mut Message) -> Result<()> {
        let keys = self.keys.as_ref().ok_or_else(|| TerminalError::State("not signed on".into()))?;
        let mac = keys.mac(&Self::mab(message)?)?;
        message.set(64, &mac).map_err(codec("64"))
    }

    fn mac_ok(&self, response: &Message) -> bool {
        let (Some(keys), Some(received)) = (self.keys.as_ref(), response.get(64)) else { return false };
        let Ok(mab) = Self::mab(response) else { return false };
        keys.mac(&mab).is_ok_and(|mac| hsm::mac::verify(&mac, received).is_ok())
    }

    fn outgoing(&self, message: Message, purpose: Purpose, trace: String) -> Outgoing {
        Outgoing {
            envelope: self.envelope,
            message,
            purpose,
            trace,
            entry: None,
            slip: None,
            chip: None,
            icc_sent: None,
        }
    }

    /// 0800 sign-on (60.3 = the configured key scheme, 63 = operator).
    pub fn sign_on_request(&mut self) -> Result<Outgoing> {
        let trace = self.next_trace();
        let mut m = self.message("0800", &trace)?;
        m.set_str(60, &format!("00{:06}{}", self.state.batch_no, self.scheme.code())).map_err(codec("60"))?;
        m.set_str(63, &self.operator63()).map_err(codec("63"))?;
        self.save_state()?;
        Ok(self.outgoing(m, Purpose::SignOn, trace))
    }

    /// Take the 0810: keys checked by check value, batch from 60.2, keys sealed to disk.
    pub fn on_sign_on_response(&mut self, response: &Message) -> Result<Outcome> {
        let code = response.get_str(39).unwrap_or("").to_owned();
        let mut outcome = self.outcome("sign-on", &code, field(response, "11").unwrap_or_default());
        if code != "00" {
            return Ok(outcome);
        }
        let field62 = response.get(62).ok_or_else(|| TerminalError::Message("sign-on: no field 62".into()))?;
        let keys = load_terminal_keys(&self.tmk, self.scheme, field62)?;
        let batch = field(response, "60.2")
            .and_then(|b| b.parse::<u32>().ok())
            .ok_or_else(|| TerminalError::Message("sign-on: no batch number in 60.2".into()))?;
        let mut clear = Vec::with_capacity(40);
        clear.extend_from_slice(keys.pik.expose());
        clear.extend_from_slice(keys.mak.expose());
        if let Some(tdk) = &keys.tdk {
            clear.extend_from_slice(tdk.expose());
        }
        let clear = Secret::from_vec(clear);
        self.state.keys = Some(self.sealer.seal(clear.expose())?);
        self.state.scheme = Some(self.scheme.code().to_owned());
        self.state.batch_no = batch;
        self.state.sign_on_needed = false;
        self.keys = Some(WorkingKeys::install(&keys)?);
        self.save_state()?;
        outcome.approved = true;
        outcome.batch_no = batch;
        outcome.sign_on_needed = false;
        Ok(outcome)
    }

    /// 0800/360 parameter download (merchant name and the rest, docs/acquirer.md §1).
    pub fn parameters_request(&mut self) -> Result<Outgoing> {
        let trace = self.next_trace();
        let mut m = self.message("0800", &trace)?;
        m.set_str(60, &format!("00{:06}{NETWORK_CODE_PARAMETERS}", self.state.batch_no)).map_err(codec("60"))?;
        m.set_str(63, &self.operator63()).map_err(codec("63"))?;
        self.save_state()?;
        Ok(self.outgoing(m, Purpose::Parameters, trace))
    }

    /// Take the 0810/360: field 62's `tag(2) length(2) value` items kept (printable text
    /// only); item 01 becomes the slips' merchant name.
    pub fn on_parameters_response(&mut self, response: &Message) -> Result<Outcome> {
        let code = response.get_str(39).unwrap_or("").to_owned();
        let mut outcome = self.outcome("parameters", &code, field(response, "11").unwrap_or_default());
        if code != "00" {
            return Ok(outcome);
        }
        if field(response, "60.3").as_deref() != Some(NETWORK_CODE_PARAMETERS) {
            return Err(TerminalError::Message("parameters: the answer is not a parameter download (60.3)".into()));
        }
        let bad = || TerminalError::Message("parameters: field 62 is not tag-length-value items".into());
        let data = response.get(62).ok_or_else(bad)?;
        let mut items = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            if items.len() >= PARAMETER_ITEMS_MAX {
                return Err(TerminalError::Message(format!("parameters: more than {PARAMETER_ITEMS_MAX} items")));
            }
            let head = rest.get(..4).and_then(|h| std::str::from_utf8(h).ok()).ok_or_else(bad)?;
            let (tag, len) = head.split_at(2);
            if !tag.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let len: usize = len.parse().map_err(|_| bad())?;
            let value = rest.get(4..4 + len).ok_or_else(bad)?;
            let value: String = String::from_utf8_lossy(value).chars().filter(|c| !c.is_control()).collect();
            items.push((tag.to_owned(), value));
            rest = &rest[4 + len..];
        }
        let name = items
            .iter()
            .find(|(tag, _)| tag == PARAMETER_MERCHANT_NAME)
            .map(|(_, v)| v.trim().chars().take(MERCHANT_NAME_CHARS_MAX).collect::<String>())
            .filter(|n| !n.is_empty());
        self.store.transact(|tx| {
            for (tag, value) in &items {
                tx.put_parameter(tag, value)?;
            }
            Ok::<(), TerminalError>(())
        })?;
        if name.is_some() {
            self.merchant_name = name;
        }
        outcome.approved = true;
        Ok(outcome)
    }

    fn outcome(&self, transaction: &str, code: &str, trace: String) -> Outcome {
        Outcome {
            transaction: transaction.to_owned(),
            approved: code == "00",
            response_code: ResponseCode::new(code).ok(),
            message: response_text(code).to_owned(),
            rrn: None,
            auth_code: None,
            trace,
            batch_no: self.state.batch_no,
            amount_minor: None,
            balance: None,
            pan_masked: None,
            operator: self.operator().map(str::to_owned),
            reversal_pending: None,
            advice_pending: false,
            sign_on_needed: self.state.sign_on_needed || self.keys.is_none(),
            receipt: None,
        }
    }

    fn seal_entry(&self, entry: &JournalEntry) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(entry).map_err(|e| TerminalError::Store(format!("journal record: {e}")))?;
        let json = Secret::from_vec(json);
        Ok(self.sealer.seal(json.expose())?)
    }

    /// Every record of the open batch, each opened (and so checked) under the storage key.
    pub fn entries(&self) -> Result<Vec<JournalEntry>> {
        self.batch_entries(self.state.batch_no)
    }

    /// Every record of batch `batch` (open or closed: closed batches stay on disk), opened
    /// and checked. The terminal's side of reconciliation.
    pub fn batch_entries(&self, batch: u32) -> Result<Vec<JournalEntry>> {
        let rows = self.store.transact(|tx| tx.entries(batch))?;
        rows.into_iter()
            .map(|(status, sealed)| {
                let clear = self
                    .sealer
                    .open(&sealed)
                    .map_err(|_| TerminalError::Store(format!("batch {batch:06}: a record fails its check")))?;
                let mut entry: JournalEntry = serde_json::from_slice(clear.expose())
                    .map_err(|_| TerminalError::Store(format!("batch {batch:06}: a record does not read")))?;
                entry.status = status;
                Ok(entry)
            })
            .collect()
    }

    fn find_original(&self, kind: Kind, trace: &str) -> Result<JournalEntry> {
        let trace = format!("{:0>6}", trace);
        let wanted = Stan::parse(&trace).map_err(|e| TerminalError::Input(format!("original trace {trace:?}: {e}")))?;
        let entry = self
            .entries()?
            .into_iter()
            .find(|e| e.trace == wanted)
            .ok_or_else(|| TerminalError::Input(format!("no transaction with trace {trace} in this batch")))?;
        if !kind.original_kinds().contains(&entry.kind.name()) {
            return Err(TerminalError::Input(format!(
                "trace {trace} is a {}, not a {}",
                entry.kind.name(),
                kind.original_kinds().join("/")
            )));
        }
        if entry.status != "approved" && kind != Kind::Refund {
            return Err(TerminalError::Input(format!("trace {trace} is already {}", entry.status)));
        }
        Ok(entry)
    }

    /// Build a financial request. A reversible one's reversal record (reason 98) is on disk
    /// when this returns, before the request can be sent.
    pub fn begin(&mut self, request: &TxnRequest) -> Result<Outgoing> {
        let kind = request.kind.ok_or_else(|| TerminalError::Input("no transaction type".into()))?;
        if !self.signed_on() {
            return Err(TerminalError::State("sign on first".into()));
        }
        self.nothing_owed()?;
        if self.operator.is_none() {
            return Err(TerminalError::State("log in as an operator first".into()));
        }
        self.check_batch_room(kind, self.batch_count()?)?;
        if kind.needs_supervisor() {
            self.authorise_supervisor(request.supervisor_password.as_ref())?;
        }
        // A void or completion prints the original's entry mode (the card is not read again).
        let mut original_entry = None;
        let original = match (&request.original_trace, &request.original) {
            (Some(trace), _) => {
                let e = self.find_original(kind, trace)?;
                original_entry = e.entry_mode;
                Some((
                    Some(e.pan),
                    e.amount_minor,
                    Original {
                        batch_no: e.batch_no,
                        trace: e.trace.to_string(),
                        rrn: e.rrn.map(|rrn| rrn.to_string()),
                        auth_code: e.auth_code,
                    },
                ))
            }
            (None, Some(original)) if kind == Kind::Refund => None.or(Some((None, 0, original.clone()))),
            (None, _) if !kind.original_kinds().is_empty() => {
                return Err(TerminalError::Input(format!("{} needs the original's trace number", kind.name())));
            }
            _ => None,
        };
        let card = match (&request.card, &original) {
            (Some(card), _) => card.clone(),
            (None, Some((Some(pan), _, _))) => Card::keyed(*pan),
            _ => return Err(TerminalError::Input("read the card".into())),
        };
        fallback::check(&card)?;
        let amount_minor = match (kind, request.amount_minor, &original) {
            (Kind::Balance, _, _) => None,
            // A void is for the original amount.
            (Kind::Void | Kind::PreAuthVoid | Kind::CompletionVoid, _, Some((_, amount, _))) => Some(*amount),
            (_, Some(amount), _) if amount > 0 && amount <= crate::amount::AMOUNT_MINOR_MAX => Some(amount),
            _ => return Err(TerminalError::Input("an amount above 0 is needed".into())),
        };
        let (_, mti, processing, condition, type_code, reversible, _) = kind.row();
        // The chip computes its ARQC before anything is committed: a card that fails leaves
        // no trace number used and no reversal record.
        let mut icc_data = card.icc_data.clone();
        let mut waiting_chip = None;
        if let (None, Some(chip), Some(transaction_type), EntryMode::Chip | EntryMode::Contactless) =
            (&icc_data, &card.chip, kind.chip_transaction_type(), card.entry)
        {
            let data = self.chip_terminal_data(amount_minor.unwrap_or(0), transaction_type)?;
            let mut reader = chip.lock().map_err(|_| TerminalError::Card("the card reader failed".into()))?;
            icc_data = Some(reader.generate_ac(&data).map_err(|e| TerminalError::Card(e.to_string()))?);
            // Only an inserted card is still there for the issuer's answer; a tapped one is gone.
            if card.entry == EntryMode::Chip {
                waiting_chip = Some(chip.clone());
            }
        }
        let trace = self.next_trace();
        let mut m = self.message(mti, &trace)?;
        m.set_str(3, processing).map_err(codec("3"))?;
        if let Some(amount) = amount_minor {
            m.set_str(4, &format!("{amount:012}")).map_err(codec("4"))?;
        }
        let mut track_encrypted = false;
        match (&card.track2, card.entry) {
            (Some(track2), EntryMode::Swipe | EntryMode::Fallback | EntryMode::Chip | EntryMode::Contactless) => {
                let track;
                (track, track_encrypted) = self.track_field(track2)?;
                m.set_str(35, &track).map_err(codec("35"))?;
            }
            _ => {
                m.set_str(2, card.pan.as_str()).map_err(codec("2"))?;
                if let Some(expiry) = &card.expiry_yymm {
                    m.set_str(14, expiry).map_err(codec("14"))?;
                }
            }
        }
        let entry_code =
            if card.track2.is_some() || card.entry == EntryMode::Keyed { card.entry.pos_code() } else { "01" };
        m.set_str(22, &format!("{entry_code}{}", if request.pin.is_some() { 1 } else { 2 })).map_err(codec("22"))?;
        if let (Some(sequence), EntryMode::Chip | EntryMode::Contactless) = (&card.sequence_number, card.entry) {
            m.set_str(23, sequence).map_err(codec("23"))?;
        }
        m.set_str(25, condition).map_err(codec("25"))?;
        if let Some(pin) = &request.pin {
            let keys = self.keys.as_ref().ok_or_else(|| TerminalError::State("not signed on".into()))?;
            m.set_str(26, "12").map_err(codec("26"))?;
            let block = keys.pin_block(pin, card.pan.as_str())?;
            m.set(52, &block).map_err(codec("52"))?;
        }
        if request.pin.is_some() || track_encrypted {
            m.set_str(53, &hsm::track::security_control(request.pin.is_some(), track_encrypted))
                .map_err(codec("53"))?;
        }
        m.set_str(49, CURRENCY_CNY).map_err(codec("49"))?;
        if let Some(icc) = &icc_data {
            m.set(55, icc).map_err(codec("55"))?;
        }
        let tail = fallback::field60_tail(&card);
        m.set_str(60, &format!("{type_code}{:06}000{tail}", self.state.batch_no)).map_err(codec("60"))?;
        if let Some((_, _, original)) = &original {
            if let Some(rrn) = &original.rrn {
                m.set_str(37, rrn).map_err(codec("37"))?;
            }
            // A refund carries no authorisation code (§3).
            if let (Some(auth), false) = (&original.auth_code, kind == Kind::Refund) {
                m.set_str(38, auth).map_err(codec("38"))?;
            }
            m.set_str(61, &format!("{:06}{:0>6}", original.batch_no, original.trace)).map_err(codec("61"))?;
        }
        m.set_str(63, &self.operator63()).map_err(codec("63"))?;
        self.mac(&mut m)?;
        let stan = |text: &str| Stan::parse(&format!("{text:0>6}"));
        let original_trace = original.as_ref().map(|(_, _, o)| stan(&o.trace)).transpose();
        let entry = JournalEntry {
            batch_no: self.state.batch_no,
            trace: stan(&trace).map_err(|e| TerminalError::Store(format!("trace {trace:?}: {e}")))?,
            kind,
            pan: card.pan,
            amount_minor: amount_minor.unwrap_or(0),
            rrn: None,
            auth_code: None,
            organisation: None,
            original_trace: original_trace.map_err(|e| TerminalError::Input(format!("the original's trace: {e}")))?,
            operator: self.operator63(),
            status: "approved".into(),
            entry_mode: Some(original_entry.unwrap_or(card.entry)),
            icc_upload: None,
        };
        // The reversal record and the advanced trace number go to disk together, before the
        // request can leave: a crash after this point still reverses.
        let state = self.state.clone();
        let advice = if kind.is_advice() { Some(self.advice_row(kind, &m, &entry)?) } else { None };
        let reversal = if reversible {
            let body = Secret::from_vec(m.encode().map_err(codec("encode"))?);
            Some(ReversalRow {
                batch_no: self.state.batch_no,
                trace: trace.clone(),
                reason: "98".into(),
                request: self.sealer.seal(body.expose())?,
                attempts: 0,
            })
        } else {
            None
        };
        // Nothing is owed (refused above): the records are new rows.
        self.store.transact(|tx| {
            tx.save_state(&state)?;
            if let Some(reversal) = &reversal {
                tx.insert_reversal(reversal)?;
            }
            if let Some(advice) = &advice {
                tx.insert_advice(advice)?;
            }
            Ok::<(), TerminalError>(())
        })?;
        self.kept.state = state;
        self.kept.reversal = reversal;
        self.kept.advice = advice;
        let mut out = self.outgoing(m, Purpose::Txn(kind), trace);
        out.entry = Some(entry);
        out.chip = waiting_chip;
        out.icc_sent = icc_data;
        out.slip = Some(SlipContext {
            entry: original_entry.unwrap_or(card.entry),
            pin: request.pin.is_some(),
            original: original.map(|(_, _, o)| o),
        });
        Ok(out)
    }

    /// Read the processing-requirement nibble of a response's header.
    pub fn on_envelope(&mut self, envelope: &Envelope) -> Result<()> {
        if envelope.header.is_some_and(|h| h.processing_requirement() == ProcessingRequirement::SignOnAgain) {
            self.state.sign_on_needed = true;
            self.save_state()?;
        }
        Ok(())
    }

    /// The answer to a financial request.
    pub fn on_response(&mut self, out: &Outgoing, response: &Message) -> Result<Outcome> {
        let Purpose::Txn(kind) = out.purpose else {
            return Err(TerminalError::State("not a financial request".into()));
        };
        let reversible = kind.reversible();
        let code = response.get_str(39).unwrap_or("").to_owned();
        let mut outcome = self.outcome(kind.name(), &code, out.trace.clone());
        let entry = out.entry.clone();
        outcome.amount_minor = entry.as_ref().map(|e| e.amount_minor).filter(|a| *a > 0);
        outcome.pan_masked = entry.as_ref().map(|e| e.pan.masked().to_string());
        if !out.answered_by(response) {
            if reversible {
                self.set_reversal_reason("06")?;
                outcome.reversal_pending = Some("06".into());
            }
            outcome.approved = false;
            outcome.response_code = Some(ResponseCode::ERROR);
            outcome.message = "the answer does not match the request".into();
            if kind.is_advice() {
                Self::advice_still_owed(&mut outcome, "the answer does not match the request");
            }
            return Ok(outcome);
        }
        if kind.is_advice() && ADVICE_UNDECIDED_CODES.contains(&code.as_str()) {
            // Nothing decided it (see ADVICE_UNDECIDED_CODES): it is sent again.
            if SIGN_ON_AGAIN_CODES.contains(&code.as_str()) {
                self.state.sign_on_needed = true;
                self.save_state()?;
            }
            Self::advice_still_owed(&mut outcome, &format!("the host did not decide the advice ({code})"));
            return Ok(outcome);
        }
        if code == DUPLICATE_CODE && reversible {
            // A 94 answers a copy of this request the line repeated, while the host holds the
            // original under this trace, decided or deciding: its outcome is unknown here, so the
            // record stays (98) and the reversal undoes whatever it became (found by the
            // simulation, seed 10: an approval stood at the issuer behind a "duplicate").
            outcome.approved = false;
            outcome.reversal_pending = Some("98".into());
            outcome.message = "duplicate transmission: the first copy's outcome is unknown: reversal pending".into();
            return Ok(outcome);
        }
        if SIGN_ON_AGAIN_CODES.contains(&code.as_str()) {
            self.state.sign_on_needed = true;
        }
        let mac_checked = MAC_MTIS.contains(&response.mti().to_string().as_str());
        if code == "00" && mac_checked && !self.mac_ok(response) {
            // §5/§6: an approval whose MAC fails is not trusted: reverse it (A0), sign on again.
            self.state.sign_on_needed = true;
            self.save_state()?;
            if reversible {
                self.set_reversal_reason("A0")?;
                outcome.reversal_pending = Some("A0".into());
            }
            outcome.approved = false;
            outcome.response_code = Some(ResponseCode::MAC_ERROR);
            outcome.message = "the response's MAC is wrong: not approved, sign on again".into();
            outcome.sign_on_needed = true;
            if kind.is_advice() {
                Self::advice_still_owed(&mut outcome, "the response's MAC is wrong: sign on again");
            }
            return Ok(outcome);
        }
        let icc_upload = if code == "00" { self.complete_chip(out, response, &code) } else { Ok(None) };
        let Ok(icc_upload) = icc_upload else {
            // The card refused the issuer's ARPC: the approval does not stand (§6: 06).
            if reversible {
                self.set_reversal_reason("06")?;
                outcome.reversal_pending = Some("06".into());
            }
            outcome.approved = false;
            outcome.response_code = Some(ResponseCode::ERROR);
            outcome.message = "the card refused the issuer's answer (ARPC): not approved".into();
            return Ok(outcome);
        };
        outcome.rrn = response.get_str(37).map(str::to_owned);
        outcome.auth_code = response.get_str(38).map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        outcome.balance = response.get_str(54).and_then(crate::Balance::from_field54);
        outcome.sign_on_needed = self.state.sign_on_needed;
        let organisation =
            field(response, "63.1").or_else(|| response.get_str(63).map(|s| s.chars().take(3).collect()));
        let slip = match (&entry, &out.slip, code.as_str()) {
            (Some(entry), Some(context), "00") => {
                let slip = crate::slip::build(&SlipInput {
                    merchant_name: self.merchant_name.as_deref().unwrap_or(""),
                    merchant_id: &self.config.merchant_id,
                    terminal_id: &self.config.terminal_id,
                    operator: self.operator().unwrap_or(""),
                    pan: entry.pan,
                    kind,
                    context,
                    batch_no: entry.batch_no,
                    trace: &entry.trace.to_string(),
                    amount_minor: entry.amount_minor,
                    organisation: organisation.as_deref(),
                    response,
                    now_ms: self.clock.now_ms(),
                });
                let kept = crate::slip::keep(kind, &slip);
                Some((slip, kept))
            }
            _ => None,
        };
        let journal = match (&entry, code.as_str(), kind) {
            (Some(entry), "00", k) if k != Kind::Balance => {
                let mut entry = entry.clone();
                // The host's 37; one that is no RRN is not kept (nothing refers to it then).
                entry.rrn = outcome.rrn.as_deref().and_then(|rrn| Rrn::new(rrn).ok());
                entry.auth_code = outcome.auth_code.clone();
                entry.organisation = organisation.clone();
                entry.icc_upload = icc_upload.as_deref().map(iso8583::hex::encode);
                let sealed = self.seal_entry(&entry)?;
                let original_status = match kind {
                    Kind::Void | Kind::PreAuthVoid | Kind::CompletionVoid => Some("voided"),
                    Kind::Completion | Kind::CompletionAdvice => Some("completed"),
                    _ => None,
                };
                Some((entry, sealed, original_status))
            }
            _ => None,
        };
        if let Err(error) = self.write_answer(kind, journal.as_ref(), slip.as_ref().map(|(_, kept)| kept.as_str())) {
            // Approved but not journaled: the terminal failed afterwards (96).
            if reversible && code == "00" {
                let _ = self.set_reversal_reason("96");
            }
            return Err(error);
        }
        outcome.receipt = slip.map(|(slip, _)| slip);
        Ok(outcome)
    }

    /// No answer in time: the record keeps reason 98.
    pub fn on_timeout(&mut self, out: &Outgoing) -> Outcome {
        let name = match out.purpose {
            Purpose::Txn(kind) => kind.name(),
            _ => "request",
        };
        let mut outcome = self.outcome(name, "98", out.trace.clone());
        outcome.approved = false;
        outcome.message = "no response in time".into();
        if matches!(out.purpose, Purpose::Txn(k) if k.reversible()) {
            outcome.reversal_pending = Some("98".into());
            outcome.message = "no response in time: reversal pending".into();
        }
        if matches!(out.purpose, Purpose::Txn(k) if k.is_advice()) {
            Self::advice_still_owed(&mut outcome, "no response in time");
        }
        outcome.amount_minor = out.entry.as_ref().map(|e| e.amount_minor).filter(|a| *a > 0);
        outcome
    }

    /// The 0400 of the pending reversal (§3: the original without 26/35/36/52/53, its 11, 39 =
    /// reason), MAC'd; the attempt is counted on disk first.
    pub fn reversal_request(&mut self) -> Result<Option<Outgoing>> {
        let Some(mut row) = self.kept.reversal.clone() else { return Ok(None) };
        let body = self.sealer.open(&row.request)?;
        let request = iso8583::decode(&self.spec, body.expose()).map_err(codec("reversal record"))?;
        let mut m = request.clone();
        m.set_mti(Mti::parse("0400").map_err(codec("MTI"))?);
        for f in [26u8, 35, 36, 52, 53, 64] {
            m.remove(f);
        }
        // The PAN from the clear part of track 2 (never cipher digits of an enciphered one).
        if !m.has(2)
            && let Some(pan) = iso8583::mask::request_pan(&request)
        {
            m.set_str(2, &pan).map_err(codec("2"))?;
        }
        m.set_str(39, &row.reason).map_err(codec("39"))?;
        self.mac(&mut m)?;
        row.attempts = row.attempts.saturating_add(1);
        let trace = row.trace.clone();
        self.put_reversal(row)?;
        Ok(Some(self.outgoing(m, Purpose::Reversal, trace)))
    }

    /// The 0410: the record is cleared when the host took it.
    pub fn on_reversal_response(&mut self, out: &Outgoing, response: &Message) -> Result<bool> {
        if !out.answered_by(response) {
            return Ok(false);
        }
        let code = response.get_str(39).unwrap_or("");
        if SIGN_ON_AGAIN_CODES.contains(&code) {
            self.state.sign_on_needed = true;
            self.save_state()?;
        }
        if !REVERSAL_DONE_CODES.contains(&code) || (code == "00" && !self.mac_ok(response)) {
            return Ok(false);
        }
        self.clear_reversal()?;
        Ok(true)
    }

    /// 0820/002 sign-off.
    pub fn sign_off_request(&mut self) -> Result<Outgoing> {
        self.nothing_owed()?;
        let trace = self.next_trace();
        let mut m = self.message("0820", &trace)?;
        m.set_str(60, &format!("00{:06}002", self.state.batch_no)).map_err(codec("60"))?;
        self.save_state()?;
        Ok(self.outgoing(m, Purpose::SignOff, trace))
    }

    /// Signed off (whatever the host answered): the working keys are forgotten.
    pub fn on_sign_off(&mut self, response: Option<&Message>) -> Result<Outcome> {
        let code = response.and_then(|r| r.get_str(39)).unwrap_or("98").to_owned();
        self.keys = None;
        self.state.keys = None;
        self.state.sign_on_needed = true;
        self.save_state()?;
        let trace = response.and_then(|r| r.get_str(11)).unwrap_or_default().to_owned();
        Ok(self.outcome("sign-off", &code, trace))
    }
}
