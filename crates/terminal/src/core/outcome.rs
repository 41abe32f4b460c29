//! What goes out ([`Outgoing`]) and what the cashier is told: [`Outcome`], the power-on
//! [`SelfCheck`] lines, [`response_text`].

use super::*;

/// What the request is, so its answer is read the right way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    SignOn,
    Parameters,
    Txn(Kind),
    Reversal,
    Settlement,
    Upload,
    SignOff,
}

/// The next message to send, and what the terminal needs to read its answer.
pub struct Outgoing {
    pub envelope: Envelope,
    pub message: Message,
    pub purpose: Purpose,
    pub(crate) trace: String,
    pub(crate) entry: Option<JournalEntry>,
    pub(crate) slip: Option<SlipContext>,
    /// An inserted card's chip, waiting for the issuer's ARPC.
    pub(crate) chip: Option<SharedChip>,
    /// Field 55 as sent (a chip or tapped card's ARQC): what the batch upload carries when the
    /// card gives no TC.
    pub(crate) icc_sent: Option<Vec<u8>>,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing").field("purpose", &self.purpose).field("trace", &self.trace).finish_non_exhaustive()
    }
}

impl Outgoing {
    /// Whether `response` answers this request: MTI, 11 and 41 match.
    pub fn answered_by(&self, response: &Message) -> bool {
        self.message.mti().response() == Some(response.mti())
            && response.get(11) == self.message.get(11)
            && response.get(41) == self.message.get(41)
    }

    /// The framed bytes to write.
    pub fn frame(&self) -> Result<Vec<u8>> {
        iso8583::encode_framed(&self.message, &self.envelope).map_err(codec("frame"))
    }
}

/// The result of one exchange, as the cashier sees it (and `--json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub transaction: String,
    pub approved: bool,
    /// Field 39 of the answer, or the terminal's own verdict (98, A0, 06); `None` when the
    /// answer had none or one that is no response code. `--json` prints it as text, `""` for
    /// `None`.
    #[serde(serialize_with = "code_text")]
    pub response_code: Option<ResponseCode>,
    pub message: String,
    pub rrn: Option<String>,
    pub auth_code: Option<String>,
    pub trace: String,
    pub batch_no: u32,
    pub amount_minor: Option<u64>,
    /// A balance answer's field 54: the available balance (and the ledger one).
    pub balance: Option<crate::Balance>,
    pub pan_masked: Option<String>,
    pub operator: Option<String>,
    /// The reason of a reversal now pending (`98`, `A0`, `06`, `96`), if any.
    pub reversal_pending: Option<String>,
    /// An advice (refund, offline completion) without a deciding answer: it is sent again.
    pub advice_pending: bool,
    pub sign_on_needed: bool,
    /// The slip of an approved transaction (merchant copy; the cardholder copy is the same
    /// with [`receipt::ReceiptCopy::Cardholder`]). Card number masked. Not in the JSON:
    /// [`Outcome::receipt_text`] renders it.
    #[serde(skip)]
    pub receipt: Option<receipt::Receipt>,
}

fn code_text<S: serde::Serializer>(code: &Option<ResponseCode>, serializer: S) -> std::result::Result<S::Ok, S::Error> {
    serializer.serialize_str(code.as_ref().map_or("", ResponseCode::as_str))
}

impl Outcome {
    /// The response code as text, `""` when there is none (for display and JSON).
    pub fn code_text(&self) -> &str {
        self.response_code.as_ref().map_or("", ResponseCode::as_str)
    }

    /// Both copies of the slip, as printed, in `lang`; `None` when nothing was approved.
    pub fn receipt_text(&self, lang: receipt::Lang) -> Option<String> {
        self.receipt.as_ref().map(|r| crate::slip::receipt_text(r, lang, false))
    }
}

/// One line of the power-on self-check.
#[derive(Debug, Clone, Serialize)]
pub struct SelfCheck {
    pub item: &'static str,
    pub ok: bool,
    pub detail: String,
    /// What to do when it failed.
    pub remedy: String,
}

/// The text of a response code (§7).
pub fn response_text(code: &str) -> &'static str {
    match code {
        "00" => "approved",
        "01" => "refer to issuer",
        "03" => "invalid merchant",
        "04" => "pick up card",
        "05" => "do not honour",
        "06" => "error",
        "12" => "invalid transaction",
        "13" => "invalid amount",
        "14" => "invalid card",
        "15" => "no such issuer",
        "22" => "operation error, sign on again",
        "25" => "original not found",
        "30" => "format error",
        "33" | "54" => "expired card",
        "34" => "suspected fraud",
        "38" | "75" => "PIN tries exceeded",
        "40" => "not supported",
        "41" => "lost card",
        "43" => "stolen card",
        "45" => "chip card: insert the chip",
        "51" => "insufficient funds",
        "55" => "wrong PIN",
        "57" => "not permitted for this card",
        "58" => "not permitted at this terminal",
        "59" => "card verification error",
        "61" => "amount limit exceeded",
        "62" => "restricted card",
        "64" => "amount differs from original",
        "65" => "count limit exceeded",
        "68" => "timeout",
        "77" => "batch mismatch, sign on again",
        "90" => "day-end cut-over",
        "91" => "issuer down",
        "92" => "issuer line fault",
        "94" => "duplicate transaction",
        "96" => "system fault",
        "97" => "terminal not registered",
        "98" => "no response in time",
        "99" => "PIN format error, sign on again",
        "A0" => "MAC error, sign on again",
        _ => "declined",
    }
}
