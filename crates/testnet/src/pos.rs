//! A scripted UnionPay-style POS terminal (`../shared/reference/unionpay-pos-8583.md`), built on
//! the codec and the HSM's algorithm functions, not on the acquirer's code: it signs on (and
//! checks every key's check value with `hsm::signon::load_terminal_keys`), builds the §3
//! transactions, encrypts format-0 PIN blocks under its PIK and MACs under its MAK with the
//! UnionPay ECB MAC (§5). [`PosClient`] sends its messages over TCP in the cup-pos framing.
//!
//! A terminal is its own secure device: its TMK and working keys are clear here, as they are in
//! a real PIN pad. Test support only.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hsm::Secret;
use hsm::pinblock::PinFormat;
use hsm::signon::{SignOnScheme, TerminalWorkingKeys, load_terminal_keys};
use iso8583::{Envelope, Header, Message, Mti, Spec, Tpdu};
use transport::{Client, ClientConfig, TransportError};

/// The TPDU and header a cardnet test terminal sends (reference §1 examples).
pub const TPDU_HEX: &str = "6000060000";
pub const HEADER_HEX: &str = "603100311003";
/// Bytes of field 64.
const MAC_BYTES: usize = 8;

/// The card as the terminal reads it.
#[derive(Clone)]
pub struct PosCard {
    pub pan: String,
    /// Track 2 with `=` or `D` as the separator (swiped), if read from the stripe.
    pub track2: Option<String>,
    /// YYMM, for keyed entry.
    pub expiry_yymm: Option<String>,
}

impl std::fmt::Debug for PosCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PosCard").field("pan", &iso8583::mask::mask_pan(&self.pan)).finish_non_exhaustive()
    }
}

/// What the original of a void, refund or completion was, as the terminal's journal has it.
#[derive(Debug, Clone, Default)]
pub struct PosOriginal {
    pub batch_no: u32,
    pub trace: String,
    pub rrn: Option<String>,
    pub auth_code: Option<String>,
}

impl PosOriginal {
    /// From a request the terminal sent and the approval it got.
    pub fn of(request: &Message, response: &Message, batch_no: u32) -> PosOriginal {
        PosOriginal {
            batch_no,
            trace: request.get_str(11).unwrap_or_default().to_owned(),
            rrn: response.get_str(37).map(str::to_owned),
            auth_code: response.get_str(38).map(str::to_owned),
        }
    }
}

/// A POS terminal's state: ids, keys, batch and trace counters.
pub struct PosTerminal {
    pub terminal_id: String,
    pub merchant_id: String,
    pub spec: Arc<Spec>,
    pub envelope: Envelope,
    tmk: Secret,
    keys: Option<TerminalWorkingKeys>,
    pub scheme: Option<SignOnScheme>,
    pub batch_no: u32,
    trace: u32,
}

impl std::fmt::Debug for PosTerminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PosTerminal").field("terminal_id", &self.terminal_id).field("batch_no", &self.batch_no).finish()
    }
}

fn bad(what: &str) -> impl Fn(iso8583::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

impl PosTerminal {
    /// A terminal with its injected TMK (clear, as the PIN pad holds it).
    pub fn new(terminal_id: &str, merchant_id: &str, tmk: Secret) -> PosTerminal {
        let envelope = Envelope { tpdu: Tpdu::from_hex(TPDU_HEX).ok(), header: Header::from_hex(HEADER_HEX).ok() };
        PosTerminal {
            terminal_id: terminal_id.to_owned(),
            merchant_id: merchant_id.to_owned(),
            spec: iso8583::builtin::cup_pos(),
            envelope,
            tmk,
            keys: None,
            scheme: None,
            batch_no: 1,
            trace: 0,
        }
    }

    /// Working keys loaded from outside (the §5 vector), as if signed on.
    pub fn with_keys(mut self, keys: TerminalWorkingKeys, scheme: SignOnScheme, batch_no: u32) -> PosTerminal {
        self.keys = Some(keys);
        self.scheme = Some(scheme);
        self.batch_no = batch_no;
        self
    }

    pub fn signed_on(&self) -> bool {
        self.keys.is_some()
    }

    /// The next trace number (field 11).
    pub fn next_trace(&mut self) -> String {
        self.trace = if self.trace >= 999_999 { 1 } else { self.trace + 1 };
        format!("{:06}", self.trace)
    }

    fn message(&self, mti: &str) -> Result<Message, String> {
        let mut m = Message::new(Arc::clone(&self.spec), Mti::parse(mti).map_err(bad("MTI"))?);
        m.set_str(41, &self.terminal_id).map_err(bad("41"))?;
        m.set_str(42, &self.merchant_id).map_err(bad("42"))?;
        Ok(m)
    }

    /// 0800 sign-on with key scheme `scheme` (60.3 001/003/004).
    pub fn sign_on_request(&mut self, scheme: SignOnScheme) -> Result<Message, String> {
        let mut m = self.message("0800")?;
        m.set_str(11, &self.next_trace()).map_err(bad("11"))?;
        m.set_str(60, &format!("00{:06}{}", self.batch_no, scheme.code())).map_err(bad("60"))?;
        m.set_str(63, "001").map_err(bad("63"))?;
        Ok(m)
    }

    /// Take the 0810: load the keys of field 62 (every check value checked) and adopt the
    /// host's batch number (60.2).
    pub fn accept_sign_on(&mut self, scheme: SignOnScheme, response: &Message) -> Result<(), String> {
        if response.get_str(39) != Some("00") {
            return Err(format!("sign-on answered {:?}", response.get_str(39)));
        }
        let field62 = response.get(62).ok_or("no field 62")?;
        let keys = load_terminal_keys(&self.tmk, scheme, field62).map_err(|e| format!("field 62: {e}"))?;
        let batch = response
            .get_path("60.2")
            .ok()
            .flatten()
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u32>().ok())
            .ok_or("no batch number in 60.2")?;
        self.keys = Some(keys);
        self.scheme = Some(scheme);
        self.batch_no = batch;
        Ok(())
    }

    /// Forget the working keys (a terminal that never signed on).
    pub fn drop_keys(&mut self) {
        self.keys = None;
    }

    /// The §5 MAB: MTI through field 63 with bit 64 set.
    pub fn mab(message: &mut Message) -> Result<Vec<u8>, String> {
        message.set(64, &[0u8; MAC_BYTES]).map_err(bad("64"))?;
        let mut body = message.encode().map_err(bad("encode"))?;
        body.truncate(body.len().saturating_sub(MAC_BYTES));
        Ok(body)
    }

    /// Set field 64 to the UnionPay ECB MAC under the MAK.
    pub fn mac(&self, message: &mut Message) -> Result<(), String> {
        let keys = self.keys.as_ref().ok_or("not signed on")?;
        let mab = Self::mab(message)?;
        let mac = hsm::mac::cup_ecb_mac(keys.mak.expose(), &mab).map_err(|e| e.to_string())?;
        message.set(64, &mac).map_err(bad("64"))
    }

    /// Whether the response's field 64 is right under the MAK.
    pub fn verify(&self, response: &Message) -> bool {
        let (Some(keys), Some(received)) = (self.keys.as_ref(), response.get(64)) else { return false };
        let mut copy = response.clone();
        let Ok(mab) = Self::mab(&mut copy) else { return false };
        hsm::mac::cup_ecb_mac(keys.mak.expose(), &mab).is_ok_and(|mac| hsm::mac::verify(&mac, received).is_ok())
    }

    fn pin_block(&self, pan: &str, pin: &str) -> Result<Vec<u8>, String> {
        let keys = self.keys.as_ref().ok_or("not signed on")?;
        hsm::pinblock::encrypt_pin(PinFormat::Iso0, keys.pik.expose(), &Secret::new(pin.as_bytes()), Some(pan))
            .map_err(|e| e.to_string())
    }

    /// A financial request: the card, 3, 4, 11, 22, 25, 49, 60 (type + batch), 52/53 with a
    /// PIN, 61 with an original; MAC'd.
    #[allow(clippy::too_many_arguments)]
    fn financial(
        &mut self,
        mti: &str,
        processing: &str,
        condition: &str,
        type_code: &str,
        card: &PosCard,
        amount_minor: Option<u64>,
        pin: Option<&str>,
        original: Option<&PosOriginal>,
    ) -> Result<Message, String> {
        let mut m = self.message(mti)?;
        m.set_str(3, processing).map_err(bad("3"))?;
        if let Some(amount) = amount_minor {
            m.set_str(4, &format!("{amount:012}")).map_err(bad("4"))?;
        }
        m.set_str(11, &self.next_trace()).map_err(bad("11"))?;
        let entry = match (&card.track2, &card.expiry_yymm) {
            (Some(track2), _) => {
                // Scheme 004: the track leaves enciphered under the TDK (53.3 = 1).
                let track = match self.keys.as_ref().and_then(|k| k.tdk.as_ref()) {
                    Some(tdk) => hsm::track::encrypt(tdk.expose(), track2).map_err(|e| e.to_string())?,
                    None => track2.replace('=', "D"),
                };
                m.set_str(35, &track).map_err(bad("35"))?;
                "02"
            }
            (None, expiry) => {
                m.set_str(2, &card.pan).map_err(bad("2"))?;
                if let Some(expiry) = expiry {
                    m.set_str(14, expiry).map_err(bad("14"))?;
                }
                "01"
            }
        };
        m.set_str(22, &format!("{entry}{}", if pin.is_some() { 1 } else { 2 })).map_err(bad("22"))?;
        m.set_str(25, condition).map_err(bad("25"))?;
        if let Some(pin) = pin {
            m.set_str(26, "12").map_err(bad("26"))?;
            let block = self.pin_block(&card.pan, pin)?;
            m.set(52, &block).map_err(bad("52"))?;
        }
        let track_encrypted = card.track2.is_some() && self.keys.as_ref().is_some_and(|k| k.tdk.is_some());
        if pin.is_some() || track_encrypted {
            m.set_str(53, &hsm::track::security_control(pin.is_some(), track_encrypted)).map_err(bad("53"))?;
        }
        m.set_str(49, "156").map_err(bad("49"))?;
        m.set_str(60, &format!("{type_code}{:06}000", self.batch_no)).map_err(bad("60"))?;
        if let Some(original) = original {
            if let Some(rrn) = &original.rrn {
                m.set_str(37, rrn).map_err(bad("37"))?;
            }
            if let Some(auth) = &original.auth_code {
                m.set_str(38, auth).map_err(bad("38"))?;
            }
            m.set_str(61, &format!("{:06}{}", original.batch_no, original.trace)).map_err(bad("61"))?;
        }
        self.mac(&mut m)?;
        Ok(m)
    }

    pub fn balance(&mut self, card: &PosCard, pin: Option<&str>) -> Result<Message, String> {
        self.financial("0200", "310000", "00", "01", card, None, pin, None)
    }

    pub fn purchase(&mut self, card: &PosCard, amount_minor: u64, pin: Option<&str>) -> Result<Message, String> {
        self.financial("0200", "000000", "00", "22", card, Some(amount_minor), pin, None)
    }

    pub fn void(&mut self, card: &PosCard, amount_minor: u64, original: &PosOriginal) -> Result<Message, String> {
        self.financial("0200", "200000", "00", "23", card, Some(amount_minor), None, Some(original))
    }

    pub fn refund(&mut self, card: &PosCard, amount_minor: u64, original: &PosOriginal) -> Result<Message, String> {
        let mut without_auth = original.clone();
        without_auth.auth_code = None;
        self.financial("0220", "200000", "00", "25", card, Some(amount_minor), None, Some(&without_auth))
    }

    pub fn pre_auth(&mut self, card: &PosCard, amount_minor: u64, pin: Option<&str>) -> Result<Message, String> {
        self.financial("0100", "030000", "06", "10", card, Some(amount_minor), pin, None)
    }

    pub fn pre_auth_void(
        &mut self,
        card: &PosCard,
        amount_minor: u64,
        original: &PosOriginal,
    ) -> Result<Message, String> {
        self.financial("0100", "200000", "06", "11", card, Some(amount_minor), None, Some(original))
    }

    /// Completion request (0200, 60.1 20) or advice (0220, 60.1 24).
    pub fn completion(
        &mut self,
        card: &PosCard,
        amount_minor: u64,
        original: &PosOriginal,
        advice: bool,
    ) -> Result<Message, String> {
        let (mti, type_code) = if advice { ("0220", "24") } else { ("0200", "20") };
        self.financial(mti, "000000", "06", type_code, card, Some(amount_minor), None, Some(original))
    }

    /// Completion void (0200, 3 = 20, 25 = 06, 60.1 21): the whole completion back.
    pub fn completion_void(
        &mut self,
        card: &PosCard,
        amount_minor: u64,
        original: &PosOriginal,
    ) -> Result<Message, String> {
        self.financial("0200", "200000", "06", "21", card, Some(amount_minor), None, Some(original))
    }

    /// The 0400 of `request` (reference §3: the original without 26/35/36/52/53, original 11,
    /// 39 = reason), MAC'd.
    pub fn reversal(&self, request: &Message, reason: &str) -> Result<Message, String> {
        let mut m = request.clone();
        m.set_mti(Mti::parse("0400").map_err(bad("MTI"))?);
        for field in [26u8, 35, 36, 52, 53, 64] {
            m.remove(field);
        }
        // The PAN from the clear part of track 2 (never cipher digits of an enciphered one).
        if !m.has(2)
            && let Some(pan) = iso8583::mask::request_pan(request)
        {
            m.set_str(2, &pan).map_err(bad("2"))?;
        }
        m.set_str(39, reason).map_err(bad("39"))?;
        self.mac(&mut m)?;
        Ok(m)
    }

    /// 0500 settlement of the current batch with these 62 digits of totals (result digits 0).
    pub fn settlement(&mut self, totals48: &str) -> Result<Message, String> {
        let mut m = self.message("0500")?;
        m.set_str(11, &self.next_trace()).map_err(bad("11"))?;
        m.set_str(48, totals48).map_err(bad("48"))?;
        m.set_str(49, "156").map_err(bad("49"))?;
        m.set_str(60, &format!("00{:06}201", self.batch_no)).map_err(bad("60"))?;
        m.set_str(63, "001").map_err(bad("63"))?;
        Ok(m)
    }

    /// 0320/201 with up to 8 records of (trace, PAN, amount), domestic flag `00`.
    pub fn upload(&mut self, batch_no: u32, records: &[(&str, &str, u64)]) -> Result<Message, String> {
        let mut m = self.message("0320")?;
        m.set_str(11, &self.next_trace()).map_err(bad("11"))?;
        let mut field = format!("{:02}", records.len());
        for (trace, pan, amount) in records {
            field.push_str(&format!("00{trace}{pan:0>20}{amount:012}"));
        }
        m.set_str(60, &format!("00{batch_no:06}201")).map_err(bad("60"))?;
        m.set_str(48, &field).map_err(bad("48"))?;
        Ok(m)
    }

    /// 0320 end of upload: 202 (unbalanced) or 207 (balanced), 48 = total count.
    pub fn upload_end(&mut self, batch_no: u32, code: &str, count: usize) -> Result<Message, String> {
        let mut m = self.message("0320")?;
        m.set_str(11, &self.next_trace()).map_err(bad("11"))?;
        m.set_str(60, &format!("00{batch_no:06}{code}")).map_err(bad("60"))?;
        m.set_str(48, &format!("{count:04}")).map_err(bad("48"))?;
        Ok(m)
    }

    /// 0820 sign-off (002) or echo (301).
    pub fn management(&mut self, code: &str) -> Result<Message, String> {
        let mut m = self.message("0820")?;
        m.set_str(11, &self.next_trace()).map_err(bad("11"))?;
        m.set_str(60, &format!("00{:06}{code}", self.batch_no)).map_err(bad("60"))?;
        Ok(m)
    }

    /// 0800/360 parameter download.
    pub fn parameters(&mut self) -> Result<Message, String> {
        let mut m = self.message("0800")?;
        m.set_str(11, &self.next_trace()).map_err(bad("11"))?;
        m.set_str(60, &format!("00{:06}360", self.batch_no)).map_err(bad("60"))?;
        Ok(m)
    }
}

/// Settlement field 48 from totals: domestic debit amount/count, credit amount/count, `0`, then
/// foreign the same (reference §6).
pub fn totals48(debit_minor: u64, debit_count: u64, credit_minor: u64, credit_count: u64) -> String {
    format!("{debit_minor:012}{debit_count:03}{credit_minor:012}{credit_count:03}0{:030}0", 0)
}

/// A terminal's TCP connection to its acquirer, cup-pos framing.
pub struct PosClient {
    client: Client,
}

impl PosClient {
    pub async fn connect(address: SocketAddr, timeout_ms: u64) -> Result<PosClient, String> {
        let stream = tokio::net::TcpStream::connect(address).await.map_err(|e| format!("connect: {e}"))?;
        let _ = stream.set_nodelay(true);
        let config = ClientConfig { timeout: Duration::from_millis(timeout_ms), ..ClientConfig::default() };
        let (client, _unmatched) =
            Client::connect(stream, iso8583::builtin::cup_pos(), config).map_err(|e| format!("client: {e}"))?;
        Ok(PosClient { client })
    }

    /// Send `message` in the terminal's envelope and wait for the answer.
    pub async fn send(&self, terminal: &PosTerminal, message: &Message) -> Result<Message, TransportError> {
        self.client.request_with(&terminal.envelope, message).await
    }
}
