//! The test harness: an issuer on SQLite files in a fresh folder, or on PostgreSQL schemas
//! (when CARDNET_TEST_PG is set), a manual clock, and a request builder that plays the
//! switch: it signs with the link's ZAK, encrypts PINs under the ZPK with the HSM, and
//! computes chip cryptograms from a clear test IMK imported into the HSM.

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use clock::{Clock, ManualClock};
use hsm::emv::{ArqcResult, Scheme};
use hsm::pinblock::PinFormat;
use hsm::{KeyAlgorithm, KeyType, Secret, SecurityModule, SoftHsm, WrappedKey};
use iso8583::{Message, Mti};
use issuer::{IssuedCard, Issuer, IssuerConfig};

/// 2025-03-15 06:30:23 UTC: cards issued now expire 2803.
pub const START_MS: u64 = 1_742_020_223_000;
pub const ACQUIRER: &str = "10000000344";
pub const SWITCH: &str = "90000000001";
pub const CURRENCY: &str = "156";
/// The clear issuer master key for AC the tests compute cryptograms with.
pub const IMK_AC: &str = "0123456789ABCDEFFEDCBA9876543210";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

enum Storage {
    Files(PathBuf),
    Schemas { url: String, database: String, ledger: Option<String> },
}

pub struct Harness {
    pub issuer: Arc<Issuer>,
    pub hsm: Arc<SoftHsm>,
    pub config: IssuerConfig,
    pub clock: ManualClock,
    pub zmk: WrappedKey,
    pub zpk: WrappedKey,
    pub zak: WrappedKey,
    stan: AtomicU32,
    storage: Storage,
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

fn unique_name(prefix: &str) -> String {
    let n = UNIQUE.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("{prefix}_{}_{n}_{nanos}", std::process::id())
}

pub fn h(text: &str) -> Vec<u8> {
    iso8583::hex::decode(text).unwrap()
}

/// The harness's debit product with IBM 3624 PIN offsets.
pub const IBM3624_PRODUCT: &str = "debit-3624";

impl Harness {
    /// A fresh issuer (its ledger in its database), or `None` (with a loud note) for
    /// PostgreSQL when CARDNET_TEST_PG is unset.
    pub fn new(backend: Backend) -> Option<Harness> {
        Harness::open(backend, false)
    }

    /// A fresh issuer configured as before the ledger moved into its database: a separate
    /// ledger store (`ledger = URL`), each movement its own commit.
    pub fn with_separate_ledger(backend: Backend) -> Option<Harness> {
        Harness::open(backend, true)
    }

    fn open(backend: Backend, separate_ledger: bool) -> Option<Harness> {
        let hsm = Arc::new(SoftHsm::generate().unwrap());
        let (storage, database, ledger) = match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join(unique_name("cardnet_issuer_test"));
                std::fs::create_dir_all(&dir).unwrap();
                let database = format!("sqlite:{}", dir.join("issuer.db").display());
                let ledger = separate_ledger.then(|| format!("sqlite:{}", dir.join("issuer-ledger.db").display()));
                (Storage::Files(dir), database, ledger)
            }
            Backend::Postgres => {
                let Ok(url) = std::env::var("CARDNET_TEST_PG") else {
                    eprintln!("SKIPPED: CARDNET_TEST_PG not set");
                    return None;
                };
                let database = unique_name("issuer_db");
                let ledger = separate_ledger.then(|| unique_name("issuer_ledger"));
                let urls = (format!("{url}#{database}"), ledger.as_ref().map(|ledger| format!("{url}#{ledger}")));
                (Storage::Schemas { url, database, ledger }, urls.0, urls.1)
            }
        };
        let mut config = issuer::dev::config(
            &*hsm,
            "20000000455",
            "622424",
            &database,
            ledger.as_deref(),
            std::path::Path::new("unused-lmk.hex"),
        )
        .unwrap();
        // An IMK whose clear value the test knows, so it can play the card.
        let clear = h(IMK_AC);
        let first = Secret::random(clear.len()).unwrap();
        let second: Vec<u8> = clear.iter().zip(first.expose()).map(|(a, b)| a ^ b).collect();
        let imk =
            hsm.import_components(KeyType::ImkAc, KeyAlgorithm::Tdes2, &[first, Secret::from_vec(second)]).unwrap();
        config.keys.imk_ac = imk.block().to_owned();
        // A debit product whose PINs are verified by IBM 3624 offsets.
        let mut ibm3624 = config.products[0].clone();
        ibm3624.name = IBM3624_PRODUCT.into();
        ibm3624.pin_verification = issuer::config::PinMethod::Ibm3624;
        config.products.push(ibm3624);
        let clock = ManualClock::from_ms(START_MS);
        let issuer = Arc::new(Issuer::open(&config, hsm.clone(), Arc::new(clock.clone())).unwrap());
        let zmk = WrappedKey::from_block(config.keys.switch_zmk.clone()).unwrap();
        let zpk = WrappedKey::from_block(config.keys.switch_zpk.clone()).unwrap();
        let zak = WrappedKey::from_block(config.keys.switch_zak.clone()).unwrap();
        Some(Harness { issuer, hsm, config, clock, zmk, zpk, zak, stan: AtomicU32::new(0), storage })
    }

    /// Write `transfer` to the issuer's ledger from outside the issuer, wherever it lives (its
    /// database, or a separate store), as a crashed attempt or run would have left it.
    pub fn write_ledger(&self, transfer: ledger::Transfer) {
        let results = match &self.config.ledger {
            Some(url) => {
                let store = ledger::UrlStore::open(url).unwrap();
                ledger::Ledger::open(store, self.clock.clone()).unwrap().create_transfers(&[transfer])
            }
            None => {
                let db = sqlstore::Database::open(&self.config.database).unwrap();
                let store = ledger::sql_ledger::SqlStore::open(db).unwrap();
                ledger::Ledger::open(store, self.clock.clone()).unwrap().create_transfers(&[transfer])
            }
        };
        assert_eq!(results.unwrap(), vec![ledger::CreateTransferResult::Ok]);
        self.clock.advance_ms(1);
    }

    /// The same issuer opened again from its stores (a restart).
    pub fn reopen(&mut self) {
        let issuer = Issuer::open(&self.config, self.hsm.clone(), Arc::new(self.clock.clone())).unwrap();
        self.issuer = Arc::new(issuer);
    }

    pub fn now_ms(&self) -> u64 {
        self.clock.now_ms()
    }

    pub fn debit_card(&self, balance_minor: u64) -> IssuedCard {
        self.issuer.issue_card("debit", Some(balance_minor)).unwrap()
    }

    pub fn next_stan(&self) -> String {
        format!("{:06}", self.stan.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// A request from the switch for `card`: 2, 3, 4, 7, 11, 12, 13, 22 (keyed, PIN capable),
    /// 25, 32, 33, 37, 41, 42, 49, 100, and 14 (the card's expiry).
    pub fn request(&self, mti: &str, processing: &str, condition: &str, card: &IssuedCard, amount: u64) -> Req {
        let mut msg = Message::new(iso8583::builtin::network(), Mti::parse(mti).unwrap());
        let now = self.now_ms();
        let stan = self.next_stan();
        msg.set_str(2, card.pan.as_str()).unwrap();
        msg.set_str(3, processing).unwrap();
        if amount > 0 || processing.starts_with("31") {
            msg.set_str(4, &format!("{amount:012}")).unwrap();
        }
        msg.set_str(7, &network::transmission_time(now)).unwrap();
        msg.set_str(11, &stan).unwrap();
        msg.set_str(12, "143022").unwrap();
        msg.set_str(13, "0315").unwrap();
        msg.set_str(14, &card.expiry_yymm).unwrap();
        msg.set_str(22, "011").unwrap();
        msg.set_str(25, condition).unwrap();
        msg.set_str(32, ACQUIRER).unwrap();
        msg.set_str(33, SWITCH).unwrap();
        msg.set_str(37, &network::time::rrn(now, &stan)).unwrap();
        msg.set_str(41, "TERM0001").unwrap();
        msg.set_str(42, "898440154110001").unwrap();
        msg.set_str(49, CURRENCY).unwrap();
        msg.set_str(100, "20000000455").unwrap();
        Req { msg }
    }

    pub fn purchase(&self, card: &IssuedCard, amount: u64) -> Req {
        self.request("0200", "000000", "00", card, amount)
    }

    pub fn preauth(&self, card: &IssuedCard, amount: u64) -> Req {
        self.request("0100", "030000", "06", card, amount)
    }

    pub fn balance_inquiry(&self, card: &IssuedCard) -> Req {
        self.request("0100", "310000", "00", card, 0)
    }

    /// A follow-up (completion, void, refund, reversal) naming `original` in field 90.
    pub fn follow_up(
        &self,
        mti: &str,
        processing: &str,
        condition: &str,
        card: &IssuedCard,
        amount: u64,
        original: &Message,
    ) -> Req {
        let mut req = self.request(mti, processing, condition, card, amount);
        network::OriginalData::of_request(original).unwrap().set_field90(&mut req.msg).unwrap();
        req.msg.remove(22);
        req.msg.remove(14);
        req
    }

    pub fn reversal(&self, card: &IssuedCard, original: &Message) -> Req {
        let processing = original.get_str(3).unwrap().to_owned();
        let amount = original.get_u64(4).unwrap_or(0);
        let condition = original.get_str(25).unwrap_or("00").to_owned();
        self.follow_up("0420", &processing, &condition, card, amount, original)
    }

    /// An 0800/101 as the switch sends it: `new` under the ZMK in 48, `key` in 53, the check
    /// value in 96, MAC'd with `zak`.
    pub fn key_change(&self, key: transport::netmgmt::WorkingKey, new: &WrappedKey, zak: &WrappedKey) -> Message {
        use transport::netmgmt;
        let change = netmgmt::KeyChange {
            key,
            key_block: self.hsm.export_key_block(&self.zmk, new).unwrap(),
            check_value: netmgmt::check_value_field(new.kcv()).unwrap(),
        };
        let from = netmgmt::Institution { acquirer: SWITCH.into(), forwarding: Some(SWITCH.into()) };
        let stan = self.stan.fetch_add(1, Ordering::Relaxed) + 1;
        let time = network::transmission_time(self.now_ms());
        let mut request =
            netmgmt::key_change_request_at(&iso8583::builtin::network(), stan, &from, &time, &change).unwrap();
        network::mac::sign(&*self.hsm, zak, &mut request).unwrap();
        request
    }

    pub fn pin_block(&self, pan: &str, pin: &Secret) -> Vec<u8> {
        self.hsm.encrypt_pin(&self.zpk, PinFormat::Iso0, pin, pan).unwrap()
    }

    /// A PIN that is not the card's (its first digit moved on by one).
    pub fn wrong_pin(card: &IssuedCard) -> Secret {
        let mut digits = card.pin.expose().to_vec();
        digits[0] = if digits[0] == b'9' { b'0' } else { digits[0] + 1 };
        Secret::from_vec(digits)
    }

    /// Send a signed request; the response's MAC is checked with the ZAK.
    pub fn send(&self, request: &Message) -> Message {
        let response = self.issuer.handle(request).expect("a request is answered");
        network::mac::verify(&*self.hsm, &self.zak, &response).expect("the response is MAC'd with the ZAK");
        response
    }

    pub fn available(&self, card: &IssuedCard) -> i64 {
        self.issuer.balance(&issuer::CardRef::Id(card.card_id)).unwrap().available_minor
    }

    pub fn ledger_balance(&self, card: &IssuedCard) -> i64 {
        self.issuer.balance(&issuer::CardRef::Id(card.card_id)).unwrap().ledger_minor
    }

    /// The chip data a card computes for `amount` at `atc`: field 55 with its ARQC, and the
    /// cryptogram's keys (for checking the issuer's ARPC).
    pub fn chip_data(&self, card: &IssuedCard, amount: u64, atc: u16) -> (Vec<u8>, ArqcResult) {
        let bcd_amount = h(&format!("{amount:012}"));
        let elements: [(&[u8], Vec<u8>); 10] = [
            (&[0x9F, 0x02], bcd_amount),
            (&[0x9F, 0x03], vec![0; 6]),
            (&[0x9F, 0x1A], h("0156")),
            (&[0x95], vec![0; 5]),
            (&[0x5F, 0x2A], h("0156")),
            (&[0x9A], h("250315")),
            (&[0x9C], vec![0]),
            (&[0x9F, 0x37], h("1A2B3C4D")),
            (&[0x82], h("5800")),
            (&[0x9F, 0x36], atc.to_be_bytes().to_vec()),
        ];
        // Issuer application data (the whole of it is in the cryptogram's input).
        let iad = h("0110A00003240000000000000000000000");
        let mut data = Vec::new();
        let mut tlv = Vec::new();
        for (tag, value) in &elements {
            data.extend_from_slice(value);
            iso8583::tlv::write_element(tag, value, &mut tlv);
        }
        data.extend_from_slice(&iad);
        iso8583::tlv::write_element(&[0x9F, 0x10], &iad, &mut tlv);
        let result = hsm::emv::arqc(
            Scheme::Common,
            &h(IMK_AC),
            card.pan.as_str(),
            &card.card_sequence,
            &atc.to_be_bytes(),
            None,
            &data,
        )
        .unwrap();
        iso8583::tlv::write_element(&[0x9F, 0x26], &result.arqc, &mut tlv);
        (tlv, result)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        match &self.storage {
            Storage::Files(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Storage::Schemas { url, database, ledger } => {
                let _ = sqlstore::drop_postgres_schema(url, database);
                if let Some(ledger) = ledger {
                    let _ = ledger::postgres::drop_schema(url, ledger);
                }
            }
        }
    }
}

/// A request being built.
pub struct Req {
    pub msg: Message,
}

impl Req {
    pub fn set(mut self, field: u8, value: &str) -> Req {
        self.msg.set_str(field, value).unwrap();
        self
    }

    pub fn set_bytes(mut self, field: u8, value: &[u8]) -> Req {
        self.msg.set(field, value).unwrap();
        self
    }

    pub fn without(mut self, field: u8) -> Req {
        self.msg.remove(field);
        self
    }

    pub fn pin(self, harness: &Harness, card: &IssuedCard) -> Req {
        let block = harness.pin_block(card.pan.as_str(), &card.pin);
        self.set_bytes(52, &block)
    }

    pub fn wrong_pin(self, harness: &Harness, card: &IssuedCard) -> Req {
        let block = harness.pin_block(card.pan.as_str(), &Harness::wrong_pin(card));
        self.set_bytes(52, &block)
    }

    /// Magnetic stripe entry with the card's track 2.
    pub fn stripe(self, track2: &str) -> Req {
        self.set(22, "021").set(35, track2).without(14)
    }

    /// Chip entry: 23, the chip's track 2 equivalent and 55.
    pub fn chip(self, card: &IssuedCard, field55: &[u8]) -> Req {
        self.set(22, "051")
            .set(23, &format!("0{}", card.card_sequence))
            .set(35, &card.chip_track2)
            .without(14)
            .set_bytes(55, field55)
    }

    /// Signed with the link's ZAK, as the switch sends it.
    pub fn sign(mut self, harness: &Harness) -> Message {
        network::mac::sign(&*harness.hsm, &harness.zak, &mut self.msg).unwrap();
        self.msg
    }

    /// Signed with `zak` (a key the test changed to, or an old one).
    pub fn sign_with(mut self, harness: &Harness, zak: &WrappedKey) -> Message {
        network::mac::sign(&*harness.hsm, zak, &mut self.msg).unwrap();
        self.msg
    }

    /// A PIN block of the card's PIN under `zpk`.
    pub fn pin_under(self, harness: &Harness, card: &IssuedCard, zpk: &WrappedKey) -> Req {
        let block = harness.hsm.encrypt_pin(zpk, PinFormat::Iso0, &card.pin, card.pan.as_str()).unwrap();
        self.set_bytes(52, &block)
    }
}
