//! What a transaction is made of: how the card was read ([`EntryMode`], [`Card`]), which
//! transaction ([`Kind`]), its original ([`Original`]) and the cashier's request
//! ([`TxnRequest`]).

use super::*;

/// How the card was read: the one `domain::EntryMode` (field 22 digits 1–2 from
/// [`EntryMode::pos_code`]; its name, [`EntryMode::as_str`], is what the journal keeps).
pub use domain::EntryMode;

/// Read an entry mode a person typed (`swipe`, `chip`/`insert`, `tap`/`contactless`,
/// `keyed`/`manual`, `fallback`).
pub fn parse_entry(text: &str) -> Result<EntryMode> {
    text.parse().map_err(|_| TerminalError::Input("entry: swipe, chip, tap or keyed".into()))
}

/// The card as the reader (or the keypad) gave it.
#[derive(Clone)]
pub struct Card {
    pub pan: Pan,
    pub entry: EntryMode,
    /// Track 2 (stripe) or the chip's track 2 equivalent, `=` or `D` as separator.
    pub track2: Option<String>,
    /// YYMM, for keyed entry.
    pub expiry_yymm: Option<String>,
    /// Card sequence number, 3 digits (chip).
    pub sequence_number: Option<String>,
    /// Field 55 from the chip (ARQC and its data), if the reader produced one already.
    pub icc_data: Option<Vec<u8>>,
    /// The chip itself, when the card was inserted or tapped and no `icc_data` was given:
    /// [`Terminal::begin`] asks it for the ARQC over this transaction's data, and after an
    /// approval of an inserted card gives it the issuer's ARPC (tag 91).
    pub chip: Option<SharedChip>,
    /// A chip card's stripe read after its chip failed to (fallback): 60.5 = 2 tells the host.
    /// A chip card (service code 2xx/6xx) is swiped only so.
    pub fallback: bool,
}

/// A chip the terminal's reader talks to (shared: the caller keeps the card).
pub type SharedChip = Arc<Mutex<dyn ChipCard>>;

impl std::fmt::Debug for Card {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Card").field("pan", &self.pan).field("entry", &self.entry).finish_non_exhaustive()
    }
}

impl Card {
    /// A card known only by its number (keyed entry; a void or completion from the journal).
    pub fn keyed(pan: Pan) -> Card {
        Card {
            pan,
            entry: EntryMode::Keyed,
            track2: None,
            expiry_yymm: None,
            sequence_number: None,
            icc_data: None,
            chip: None,
            fallback: false,
        }
    }

    /// The card `sim` as the reader reads it with `entry`: the stripe's track 2; or the chip's
    /// track 2 equivalent, its sequence number and the chip (for the ARQC); or, keyed, the
    /// number and expiry.
    pub fn read(sim: &Arc<Mutex<SimCard>>, entry: EntryMode) -> Result<Card> {
        let shared: SharedChip = sim.clone();
        let card = sim.lock().map_err(|_| TerminalError::Card("the card reader failed".into()))?;
        let mut read = Card::keyed(card.pan());
        read.entry = entry;
        match entry {
            EntryMode::Keyed => read.expiry_yymm = card.expiry_yymm().map(str::to_owned),
            // A fallback is a swipe: the card's own service code tells (`fallback::swipe`).
            EntryMode::Swipe | EntryMode::Fallback => {
                let track2 = card.track2().ok_or_else(|| TerminalError::Card("the card has no stripe".into()))?;
                read.fallback = super::fallback::swipe(&card, track2)?;
                read.track2 = Some(track2.to_owned());
            }
            EntryMode::Chip | EntryMode::Contactless => {
                card.read_chip().map_err(|e| TerminalError::Card(e.to_string()))?;
                let track2 =
                    card.chip_track2().ok_or_else(|| TerminalError::Card("the card has no chip: swipe it".into()))?;
                read.track2 = Some(track2.to_owned());
                read.sequence_number = card.sequence_number();
                read.chip = Some(shared);
            }
        }
        Ok(read)
    }
}

/// The financial transactions of §3 this terminal performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Balance,
    Purchase,
    Void,
    Refund,
    PreAuth,
    PreAuthVoid,
    Completion,
    CompletionAdvice,
    /// 预授权完成撤销: a completion of this batch voided, the charge back to the card.
    CompletionVoid,
}

/// (name, MTI, 3, 25, 60.1, reversible, needs the supervisor)
type KindRow = (&'static str, &'static str, &'static str, &'static str, &'static str, bool, bool);

impl Kind {
    const ALL: [Kind; 9] = [
        Kind::Balance,
        Kind::Purchase,
        Kind::Void,
        Kind::Refund,
        Kind::PreAuth,
        Kind::PreAuthVoid,
        Kind::Completion,
        Kind::CompletionAdvice,
        Kind::CompletionVoid,
    ];

    pub(super) fn row(self) -> KindRow {
        match self {
            Kind::Balance => ("balance", "0200", "310000", "00", "01", false, false),
            Kind::Purchase => ("sale", "0200", "000000", "00", "22", true, false),
            Kind::Void => ("void", "0200", "200000", "00", "23", true, true),
            Kind::Refund => ("refund", "0220", "200000", "00", "25", false, true),
            Kind::PreAuth => ("pre-auth", "0100", "030000", "06", "10", true, false),
            Kind::PreAuthVoid => ("pre-auth-void", "0100", "200000", "06", "11", true, true),
            Kind::Completion => ("completion", "0200", "000000", "06", "20", true, false),
            Kind::CompletionAdvice => ("completion-advice", "0220", "000000", "06", "24", false, false),
            Kind::CompletionVoid => ("completion-void", "0200", "200000", "06", "21", true, true),
        }
    }

    pub fn name(self) -> &'static str {
        self.row().0
    }

    pub fn parse(text: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == text)
    }

    /// §6: purchase, void, pre-auth, pre-auth void and completion are reversed; refund,
    /// balance and advices are not.
    pub fn reversible(self) -> bool {
        self.row().5
    }

    /// Void, refund (and pre-auth void, a void too) need the supervisor's password.
    pub fn needs_supervisor(self) -> bool {
        self.row().6
    }

    /// Tag 9C when the card's chip computes an ARQC for this kind; `None` for kinds that
    /// work on an original from the journal (the card is not read).
    pub(super) fn chip_transaction_type(self) -> Option<TransactionType> {
        match self {
            Kind::Purchase => Some(TransactionType::Goods),
            Kind::Balance => Some(TransactionType::Balance),
            Kind::PreAuth => Some(TransactionType::PreAuthorisation),
            Kind::Refund => Some(TransactionType::Refund),
            _ => None,
        }
    }

    /// The kind of original a void, refund or completion refers to.
    pub(super) fn original_kinds(self) -> &'static [&'static str] {
        match self {
            Kind::Void | Kind::Refund => &["sale"],
            Kind::PreAuthVoid | Kind::Completion | Kind::CompletionAdvice => &["pre-auth"],
            Kind::CompletionVoid => &["completion", "completion-advice"],
            _ => &[],
        }
    }

    /// Settlement class (§6): debit = purchase and completions, credit = void and refund.
    pub(super) fn settlement_side(kind: &str) -> Option<bool> {
        match kind {
            "sale" | "completion" | "completion-advice" => Some(true),
            "void" | "completion-void" | "refund" => Some(false),
            _ => None,
        }
    }
}

/// An original outside the journal (a refund of an earlier batch): batch, trace, RRN.
#[derive(Debug, Clone, Default)]
pub struct Original {
    pub batch_no: u32,
    pub trace: String,
    pub rrn: Option<String>,
    pub auth_code: Option<String>,
}

/// What the cashier asked for.
#[derive(Debug, Default)]
pub struct TxnRequest {
    pub kind: Option<Kind>,
    /// Required except for void / pre-auth void / completion, which take the journal's PAN.
    pub card: Option<Card>,
    pub amount_minor: Option<u64>,
    pub pin: Option<Secret>,
    /// The original's trace in the open batch (void, refund, pre-auth void, completion).
    pub original_trace: Option<String>,
    /// A refund's original from an earlier batch.
    pub original: Option<Original>,
    pub supervisor_password: Option<Secret>,
}
