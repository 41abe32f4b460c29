//! Shared test fixtures: a development network (one LMK for everyone), messages as an acquirer
//! sends them, and a fake issuer as a plain function.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use hsm::pinblock::PinFormat;
use hsm::{KeyAlgorithm, KeyType, PinVerification, Secret, SecurityModule, SoftHsm, WrappedKey};
use iso8583::{Message, Mti};
use sqlstore::Database;
use switch::config::{Role, SwitchConfig};
use switch::dev::{self, DevMember, DevNetwork, MemberKeys};
use switch::{Step, Switch};

pub const ACQUIRER: &str = dev::ACQUIRER_ID;
/// Stand-in enabled (dev limits: 500.00 per transaction, 1000.00 and 3 transactions a day).
pub const ISSUER: &str = dev::ISSUER_ID;
/// No stand-in.
pub const ISSUER2: &str = dev::ISSUER2_ID;
/// A member that is only an issuer (sending as an acquirer is refused).
pub const PAN: &str = "6224242900000113";
pub const PAN2: &str = "6224242900000121";
pub const ISSUER2_PAN: &str = "6212340000000019";
pub const NO_BIN_PAN: &str = "4761739001010010";
pub const PIN: &str = "1234";
/// 2026-11-21 10:00:00 UTC.
pub const NOW_MS: u64 = 1_795_255_200_000;
pub const CNY: &str = "156";

/// Where the switch keeps its data in a test.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A SQLite file in a fresh temporary folder (a restart reopens the same file).
    Sqlite(PathBuf),
    /// A PostgreSQL schema of its own.
    Postgres { url: String, schema: String },
}

impl Backend {
    pub fn sqlite(name: &str) -> Backend {
        let dir = std::env::temp_dir().join(format!("cardnet-switch-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Backend::Sqlite(dir.join("switch.db"))
    }

    /// `None` (and a loud line) without `CARDNET_TEST_PG`.
    pub fn postgres(name: &str) -> Option<Backend> {
        let Ok(url) = std::env::var("CARDNET_TEST_PG") else {
            eprintln!("SKIPPED: CARDNET_TEST_PG not set; the switch was not tested on PostgreSQL ({name})");
            return None;
        };
        let schema = format!("switch_test_{name}_{}", std::process::id());
        let _ = sqlstore::drop_postgres_schema(&url, &schema);
        Some(Backend::Postgres { url, schema })
    }

    pub fn open(&self) -> Database {
        match self {
            Backend::Sqlite(path) => Database::open_sqlite(path).unwrap(),
            Backend::Postgres { url, schema } => Database::connect_postgres(url, schema).unwrap(),
        }
    }

    pub fn url(&self) -> String {
        match self {
            Backend::Sqlite(path) => format!("sqlite:{}", path.display()),
            Backend::Postgres { url, schema } => format!("{url}#{schema}"),
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        match self {
            Backend::Sqlite(path) => {
                if let Some(dir) = path.parent() {
                    let _ = std::fs::remove_dir_all(dir);
                }
            }
            Backend::Postgres { url, schema } => {
                let _ = sqlstore::drop_postgres_schema(url, schema);
            }
        }
    }
}

/// Everything a test needs: the HSM every party shares, the configuration and keys, and the
/// issuer's PIN verification data for [`PIN`].
pub struct Net {
    pub hsm: Arc<SoftHsm>,
    pub dev: DevNetwork,
    pub pvk: WrappedKey,
    pub backend: Backend,
}

impl Net {
    pub fn new(backend: Backend) -> Net {
        Net::with(backend, |_| {})
    }

    /// A network with two issuers (the first stands in, the second does not) and one acquirer;
    /// `adjust` may change the configuration before use.
    pub fn with(backend: Backend, adjust: impl FnOnce(&mut SwitchConfig)) -> Net {
        let hsm = Arc::new(SoftHsm::generate().unwrap());
        let members = [
            DevMember::acquirer(ACQUIRER, "Test Acquirer"),
            DevMember::issuer(ISSUER, "Test Issuer", "127.0.0.1:1", &[dev::ISSUER_BIN], Some(dev::stip(true))),
            DevMember::issuer(ISSUER2, "Second Issuer", "127.0.0.1:1", &[dev::ISSUER2_BIN], None),
        ];
        let mut dev =
            dev::network(hsm.as_ref(), "127.0.0.1:0", &backend.url(), &PathBuf::from("unused.lmk"), &members).unwrap();
        adjust(&mut dev.config);
        dev.config.validate().unwrap();
        let pvk = hsm.generate_key(KeyType::Pvk, KeyAlgorithm::Tdes2).unwrap();
        Net { hsm, dev, pvk, backend }
    }

    pub fn switch(&self) -> Switch {
        let hsm: Arc<dyn SecurityModule> = self.hsm.clone();
        Switch::with_database(&self.dev.config, hsm, self.backend.open()).unwrap()
    }

    pub fn keys(&self, member: &str) -> &MemberKeys {
        self.dev.keys(member).unwrap()
    }

    pub fn sign(&self, member: &str, message: &mut Message) {
        network::mac::sign(self.hsm.as_ref(), &self.keys(member).zak, message).unwrap();
    }

    pub fn verify(&self, member: &str, message: &Message) -> Result<(), network::Error> {
        network::mac::verify(self.hsm.as_ref(), &self.keys(member).zak, message)
    }

    /// A PIN block of `pin` for `pan` under `member`'s ZPK.
    pub fn pin_block(&self, member: &str, pin: &str, pan: &str) -> Vec<u8> {
        self.hsm.encrypt_pin(&self.keys(member).zpk, PinFormat::Iso0, &Secret::new(pin.as_bytes()), pan).unwrap()
    }

    /// The PVV of [`PIN`] for `pan` (what the issuer keeps).
    pub fn pvv(&self, pan: &str) -> String {
        let block = self.pin_block(ISSUER, PIN, pan);
        self.hsm.generate_pvv(&self.keys(ISSUER).zpk, PinFormat::Iso0, &block, pan, &self.pvk, 1).unwrap()
    }

    /// An acquirer request, MAC'd. `stan` also makes 37 unique.
    pub fn request(&self, mti: &str, processing: &str, pan: &str, amount_minor: u64, stan: u32) -> Message {
        let mut m = unsigned_request(mti, processing, pan, amount_minor, stan);
        self.sign(ACQUIRER, &mut m);
        m
    }

    pub fn purchase(&self, pan: &str, amount_minor: u64, stan: u32) -> Message {
        self.request("0200", "000000", pan, amount_minor, stan)
    }

    pub fn purchase_with_pin(&self, pan: &str, amount_minor: u64, stan: u32, pin: &str) -> Message {
        let mut m = unsigned_request("0200", "000000", pan, amount_minor, stan);
        m.set_str(22, "021").unwrap();
        m.set(52, &self.pin_block(ACQUIRER, pin, pan)).unwrap();
        self.sign(ACQUIRER, &mut m);
        m
    }

    /// A message that refers to `original` (reversal 0420, void 0200 020000, …).
    pub fn referring(&self, mti: &str, processing: &str, original: &Message, stan: u32) -> Message {
        let pan = original.get_str(2).unwrap();
        let amount = original.get_u64(4).unwrap_or(0);
        let mut m = unsigned_request(mti, processing, pan, amount, stan);
        m.set_str(37, original.get_str(37).unwrap()).unwrap();
        network::OriginalData::of_request(original).unwrap().set_field90(&mut m).unwrap();
        self.sign(ACQUIRER, &mut m);
        m
    }

    /// The fake issuer: checks the MAC (A0), the PIN when there is one (against the PVV of
    /// [`PIN`]; 55 when wrong), and approves with 38 = "AB1234"; advices are acknowledged.
    pub fn issuer_answer(&self, issuer: &str, request: &Message) -> Message {
        self.issuer_answer_with(issuer, request, |_| None)
    }

    /// The fake issuer with a decision of its own first (`Some(code)` answers that code).
    pub fn issuer_answer_with(
        &self,
        issuer: &str,
        request: &Message,
        decide: impl FnOnce(&Message) -> Option<&'static str>,
    ) -> Message {
        let mut response = request.response(&[2, 3, 4, 7, 11, 32, 33, 37, 41, 42, 49, 100]).unwrap();
        let code = if self.verify(issuer, request).is_err() {
            "A0"
        } else if let Some(code) = decide(request) {
            code
        } else if let Some(block) = request.get(52) {
            let pan = request.get_str(2).unwrap();
            let pvv = self.pvv(pan);
            let verification = PinVerification::Pvv { pvki: 1, pvv: &pvv };
            match self.hsm.verify_pin(&self.keys(issuer).zpk, PinFormat::Iso0, block, pan, &self.pvk, &verification) {
                Ok(()) => "00",
                Err(_) => "55",
            }
        } else {
            "00"
        };
        response.set_str(39, code).unwrap();
        if code == "00" && request.mti().class() != 4 && !request.mti().is_advice() {
            response.set_str(38, "AB1234").unwrap();
        }
        self.sign(issuer, &mut response);
        response
    }
}

pub fn unsigned_request(mti: &str, processing: &str, pan: &str, amount_minor: u64, stan: u32) -> Message {
    let mut m = Message::new(iso8583::builtin::network(), Mti::parse(mti).unwrap());
    m.set_str(2, pan).unwrap();
    m.set_str(3, processing).unwrap();
    if amount_minor > 0 {
        m.set_u64(4, amount_minor).unwrap();
    }
    m.set_str(7, &network::transmission_time(NOW_MS)).unwrap();
    m.set_u64(11, u64::from(stan)).unwrap();
    m.set_str(12, "180000").unwrap();
    m.set_str(13, "1121").unwrap();
    m.set_str(18, "5411").unwrap();
    m.set_str(22, "012").unwrap();
    let condition = if processing.starts_with("03") || (mti.starts_with("01") && processing.starts_with("02")) {
        "06"
    } else {
        "00"
    };
    m.set_str(25, condition).unwrap();
    m.set_str(32, ACQUIRER).unwrap();
    m.set_str(37, &network::time::rrn(NOW_MS, &format!("{stan:06}"))).unwrap();
    m.set_str(41, "TERM0001").unwrap();
    m.set_str(42, "898440154110001").unwrap();
    m.set_padded(43, "CARDNET COFFEE           SHANGHAI     CN").unwrap();
    m.set_str(49, CNY).unwrap();
    m
}

/// The response of a `Step::Respond`, or a panic naming what came instead.
pub fn respond(step: Step) -> switch::Reply {
    match step {
        Step::Respond(reply) => reply,
        other => panic!("expected a response, got {other:?}"),
    }
}

pub fn forward(step: Step) -> switch::Forward {
    match step {
        Step::Forward(forward) => *forward,
        other => panic!("expected a forward, got {other:?}"),
    }
}

pub fn code(message: &Message) -> &str {
    message.get_str(39).unwrap_or("--")
}

/// Roles as a helper for configuration tests.
pub fn roles(acquirer: bool, issuer: bool) -> Vec<Role> {
    let mut roles = Vec::new();
    if acquirer {
        roles.push(Role::Acquirer);
    }
    if issuer {
        roles.push(Role::Issuer);
    }
    roles
}
