//! The acquirer core's test rig, shared by the test files: a scripted terminal
//! (crates/testnet/src/pos.rs) on one side, the test playing the switch on the other, on SQLite
//! or on PostgreSQL when CARDNET_TEST_PG is set.
#![allow(dead_code)]

#[path = "../../../testnet/src/pos.rs"]
pub mod pos;

use std::sync::Arc;

use acquirer::dev::SwitchKeys;
use acquirer::{
    Acquirer, AcquirerConfig, MemoryDirectory, MerchantRecord, MerchantStatus, Reply, Step, TerminalRecord,
    TerminalStatus,
};
use hsm::SignOnScheme;
use hsm::{KeyAlgorithm, KeyType, Secret, SecurityModule, SoftHsm};
use iso8583::Message;
use pos::{PosCard, PosTerminal};

pub const TERMINAL: &str = "TERM0001";
pub const MERCHANT: &str = "898440154110001";
pub const NOW_MS: u64 = 1_709_208_000_000;
pub const TMK_CLEAR: [u8; 16] = [0x44; 16];

pub struct Rig {
    pub acquirer: Acquirer,
    pub hsm: Arc<SoftHsm>,
    pub directory: Arc<MemoryDirectory>,
    pub keys: SwitchKeys,
    pub schema: Option<(String, String)>,
    pub config: AcquirerConfig,
    /// The database's URL, and the SQLite file to remove afterwards (none in memory).
    pub url: String,
    pub file: Option<std::path::PathBuf>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some((url, schema)) = &self.schema {
            let _ = sqlstore::drop_postgres_schema(url, schema);
        }
        if let Some(file) = &self.file {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// The test database: a PostgreSQL schema when CARDNET_TEST_PG is set, else SQLite — in memory,
/// or in a file when a second host must open it too (`shared`).
pub fn database(name: &str, shared: bool) -> (sqlstore::Database, Option<(String, String)>, String) {
    match std::env::var("CARDNET_TEST_PG") {
        Ok(url) if !url.is_empty() => {
            let schema = format!("acq_{}_{name}", std::process::id());
            let _ = sqlstore::drop_postgres_schema(&url, &schema);
            let full = format!("{url}#{schema}");
            (sqlstore::Database::open(&full).unwrap(), Some((url, schema)), full)
        }
        _ if shared => {
            let path = std::env::temp_dir().join(format!("cardnet-acq-{}-{name}.sqlite", std::process::id()));
            let _ = std::fs::remove_file(&path);
            let url = format!("sqlite:{}", path.display());
            (sqlstore::Database::open(&url).unwrap(), None, url)
        }
        _ => (sqlstore::Database::open("sqlite::memory:").unwrap(), None, "sqlite::memory:".into()),
    }
}

pub fn rig(name: &str) -> Rig {
    rig_on(name, false, |_| {})
}

/// A rig whose configuration `configure` changes first.
pub fn rig_configured(name: &str, configure: impl FnOnce(&mut AcquirerConfig)) -> Rig {
    rig_on(name, false, configure)
}

/// A rig on a database a second host can open ([`Rig::second_host`]).
pub fn rig_shared(name: &str) -> Rig {
    rig_on(name, true, |_| {})
}

pub fn rig_on(name: &str, shared: bool, configure: impl FnOnce(&mut AcquirerConfig)) -> Rig {
    let hsm = Arc::new(SoftHsm::generate().unwrap());
    let keys = SwitchKeys::generate(hsm.as_ref()).unwrap();
    let mut config: AcquirerConfig = acquirer::dev::config_with_switch_keys(
        hsm.as_ref(),
        &keys,
        "10000000344",
        "127.0.0.1:0",
        "127.0.0.1:9100",
        "sqlite::memory:",
        std::path::Path::new("lmk.hex"),
    )
    .unwrap();
    config.switch.timeout_ms = 1_000;
    configure(&mut config);
    let directory = Arc::new(MemoryDirectory::new());
    let tmk = hsm.import_components(KeyType::Tmk, KeyAlgorithm::Tdes2, &[Secret::new(&TMK_CLEAR)]).unwrap();
    directory.put_merchant(merchant());
    directory.put_terminal(TerminalRecord {
        terminal_id: TERMINAL.into(),
        merchant_id: MERCHANT.into(),
        status: TerminalStatus::Installed,
        tmk,
        batch_no: 7,
    });
    let (db, schema, url) = database(name, shared);
    let acquirer = Acquirer::with_database(
        &config,
        Arc::clone(&hsm) as Arc<dyn SecurityModule>,
        db,
        Arc::clone(&directory) as Arc<dyn acquirer::TerminalDirectory>,
    )
    .unwrap();
    let file = url.strip_prefix("sqlite:").filter(|path| *path != ":memory:").map(std::path::PathBuf::from);
    Rig { acquirer, hsm, directory, keys, schema, config, url, file }
}

/// The rig's merchant, as the registry gives it by default.
pub fn merchant() -> MerchantRecord {
    MerchantRecord {
        merchant_id: MERCHANT.into(),
        name: "CARDNET COFFEE".into(),
        mcc: "5411".into(),
        city: "SHANGHAI".into(),
        status: MerchantStatus::Active,
        single_max_minor: Some(1_000_000),
        daily_max_minor: Some(2_000_000),
        void_any_terminal: false,
        onboarded_ms: None,
    }
}

pub fn terminal() -> PosTerminal {
    PosTerminal::new(TERMINAL, MERCHANT, Secret::new(&TMK_CLEAR))
}

pub fn card() -> PosCard {
    PosCard {
        pan: "6224240000000017".into(),
        track2: Some("6224240000000017=28062011234567890000".into()),
        expiry_yymm: None,
    }
}

pub fn respond(step: Step) -> Reply {
    match step {
        Step::Respond(reply) => reply,
        other => panic!("expected an answer, got {other:?}"),
    }
}

impl Rig {
    /// Another acquirer host on the same database, with its own connection (a second process).
    pub fn second_host(&self) -> Acquirer {
        let db = sqlstore::Database::open(&self.url).unwrap();
        let hsm = Arc::clone(&self.hsm) as Arc<dyn SecurityModule>;
        let directory = Arc::clone(&self.directory) as Arc<dyn acquirer::TerminalDirectory>;
        Acquirer::with_database(&self.config, hsm, db, directory).unwrap()
    }

    pub fn send(&self, envelope: iso8583::Envelope, message: Message) -> Step {
        self.acquirer.on_terminal_request(envelope, message, NOW_MS)
    }

    pub fn sign_on(&self, terminal: &mut PosTerminal, scheme: SignOnScheme) -> Reply {
        let request = terminal.sign_on_request(scheme).unwrap();
        let reply = respond(self.send(terminal.envelope, request));
        terminal.accept_sign_on(scheme, &reply.response).unwrap();
        reply
    }

    /// The switch's answer to a forwarded request: echo, 39, 38 when approved, 15, 100, MAC.
    pub fn switch_answer(&self, request: &Message, code: &str) -> Message {
        let mut response = request.response(&network::request::RESPONSE_ECHO_FIELDS).unwrap();
        response.set_str(7, request.get_str(7).unwrap()).unwrap();
        response.set_str(39, code).unwrap();
        if code == "00" {
            response.set_str(38, "A12345").unwrap();
        }
        if request.get_str(3) == Some("310000") {
            // As the issuer sends them: the ledger balance, then the available one.
            response.set_str(54, "1001156C0000000123451002156C000000010000").unwrap();
        }
        response.set_str(15, "0229").unwrap();
        response.set_str(100, "20000000455").unwrap();
        network::mac::sign(self.hsm.as_ref(), &self.keys.zak, &mut response).unwrap();
        response
    }

    /// Send a financial request; if forwarded, the switch answers `code`.
    pub fn exchange(&self, envelope: iso8583::Envelope, message: Message, code: &str) -> Reply {
        match self.send(envelope, message) {
            Step::Respond(reply) => reply,
            Step::Forward(forward) => {
                let forward = *forward;
                network::mac::verify(self.hsm.as_ref(), &self.keys.zak, &forward.network_request).unwrap();
                let answer = self.switch_answer(&forward.network_request, code);
                self.acquirer.on_network_response(forward.pending, answer, NOW_MS + 100)
            }
            Step::Ignore => panic!("ignored"),
        }
    }

    pub fn forwarded(&self, envelope: iso8583::Envelope, message: Message) -> acquirer::Forward {
        match self.send(envelope, message) {
            Step::Forward(forward) => *forward,
            other => panic!("expected a forward, got {other:?}"),
        }
    }
}

pub fn code(reply: &Reply) -> &str {
    reply.response.get_str(39).unwrap_or("")
}
