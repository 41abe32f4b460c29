//! `cardnet crypto ...`: the payment-crypto calculator. A person feeds it test keys and data
//! and gets back what the `hsm` library computes: KCVs, PIN blocks, MACs, DUKPT keys, EMV
//! cryptograms, TR-31 key blocks, CVVs and PVVs.
//!
//! Hex in and out is uppercase (input may also be lowercase, and may hold spaces between
//! groups). With `--json` every subcommand prints exactly one JSON object whose keys are
//! named in its help; without it, `label: value` lines. Bad input is one line on stderr and
//! exit status 2. Errors never repeat a key, PIN or PAN.

use std::io::Write;

use clap::{Args, Subcommand, ValueEnum};
use hsm::dukpt::{KeyType, WorkingUsage};
use hsm::emv::{self, ArqcResult, Scheme};
use hsm::kcv::KcvMethod;
use hsm::mac::{self, Padding};
use hsm::pinblock::{self, PinFormat};
use hsm::tr31::{self, Header};
use hsm::{Secret, card, cipher::Cipher};
use iso8583::hex;
use serde_json::{Map, Value};

use crate::cli_error::CliError;

#[derive(Subcommand)]
pub enum CryptoCommand {
    /// Key check value of a DES/TDES key (6 hex digits) or an AES key (10 hex digits).
    Kcv(KcvArgs),
    /// Build (encode) or read (decode) ISO 9564-1 PIN blocks, formats 0 to 4.
    #[command(subcommand)]
    Pinblock(PinblockCommand),
    /// A MAC over hex data: CBC-MAC (X9.9, ISO 9797-1 alg. 1), retail MAC (X9.19, alg. 3),
    /// CMAC (AES, TDES) or the UnionPay POS "ECB" MAC.
    Mac(MacArgs),
    /// DUKPT host derivation: initial key and working key from a BDK and a KSN (TDES DUKPT for
    /// a 10-byte KSN, AES DUKPT for a 12-byte KSN).
    Dukpt(DukptArgs),
    /// EMV issuer cryptography: ARQC (with the ICC master key and session key) and ARPC.
    #[command(subcommand)]
    Emv(EmvCommand),
    /// TR-31 / ANSI X9.143 key blocks: wrap (versions B and D) and unwrap (A, B, C, D).
    #[command(subcommand)]
    Tr31(Tr31Command),
    /// Visa CVV / Mastercard CVC (service code 000 for CVV2, 999 for iCVV).
    Cvv(CvvArgs),
    /// Visa PIN verification value (PVV).
    Pvv(PvvArgs),
}

pub fn run(command: CryptoCommand) -> Result<(), CliError> {
    match command {
        CryptoCommand::Kcv(args) => kcv(args),
        CryptoCommand::Pinblock(PinblockCommand::Encode(args)) => pinblock_encode(args),
        CryptoCommand::Pinblock(PinblockCommand::Decode(args)) => pinblock_decode(args),
        CryptoCommand::Mac(args) => mac(args),
        CryptoCommand::Dukpt(args) => dukpt(args),
        CryptoCommand::Emv(EmvCommand::Arqc(args)) => emv_arqc(args),
        CryptoCommand::Emv(EmvCommand::Arpc(args)) => emv_arpc(args),
        CryptoCommand::Tr31(Tr31Command::Wrap(args)) => tr31_wrap(args),
        CryptoCommand::Tr31(Tr31Command::Unwrap(args)) => tr31_unwrap(args),
        CryptoCommand::Cvv(args) => cvv(args),
        CryptoCommand::Pvv(args) => pvv(args),
    }
}

// ---------------------------------------------------------------------------------------------
// KCV

#[derive(Args)]
pub struct KcvArgs {
    /// The key, hex: 8, 16 or 24 bytes for tdes; 16, 24 or 32 bytes for aes.
    #[arg(long)]
    key: String,
    /// tdes: E_K(0…0) under DES/TDES, leftmost 3 bytes. aes: AES-CMAC of a zero block
    /// (X9.24-1:2017, TR-31 KC block), leftmost 5 bytes. tdes-cmac: TDES-CMAC of a zero block,
    /// 5 bytes. aes-ecb-legacy: AES-ECB of zeros, 3 bytes — not a standard KCV, offered only to
    /// recognise values older tools show. Default: tdes, or aes for a 32-byte key.
    #[arg(long, value_enum)]
    algorithm: Option<KcvAlgorithm>,
    /// Print one JSON object: {"kcv"}.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum KcvAlgorithm {
    Tdes,
    Aes,
    TdesCmac,
    AesEcbLegacy,
}

fn kcv(args: KcvArgs) -> Result<(), CliError> {
    let key = key_arg("key", &args.key)?;
    let algorithm = args.algorithm.unwrap_or(if key.len() == 32 { KcvAlgorithm::Aes } else { KcvAlgorithm::Tdes });
    let method = match algorithm {
        KcvAlgorithm::Tdes => KcvMethod::Tdes,
        KcvAlgorithm::Aes => KcvMethod::AesCmac,
        KcvAlgorithm::TdesCmac => KcvMethod::TdesCmac,
        KcvAlgorithm::AesEcbLegacy => KcvMethod::AesEcbLegacy,
    };
    let value = hsm::kcv::kcv(key.expose(), method)?;
    report(args.json, &[("kcv", "KCV", hex::encode(&value))])
}

// ---------------------------------------------------------------------------------------------
// PIN blocks

#[derive(Subcommand)]
pub enum PinblockCommand {
    /// Build a PIN block: the clear block, or enciphered under --key (TDES ECB for formats 0–3,
    /// the AES construction for format 4). Formats 1, 3 and 4 take random fill.
    Encode(PinblockEncodeArgs),
    /// Read the PIN out of a PIN block (clear, or enciphered under --key).
    Decode(PinblockDecodeArgs),
}

#[derive(Args)]
pub struct PinblockEncodeArgs {
    /// ISO 9564-1 format: 0, 1, 2, 3 or 4.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=4))]
    format: u8,
    /// The PIN: 4 to 12 decimal digits.
    #[arg(long)]
    pin: String,
    /// The PAN (decimal digits; its Luhn check digit is not verified). Needed by formats 0 and 3
    /// (12–19 digits) and by format 4 with --key (1–19 digits); ignored otherwise.
    #[arg(long)]
    pan: Option<String>,
    /// Encipher the block under this key, hex: DES/TDES (8, 16 or 24 bytes) for formats 0–3,
    /// AES (16, 24 or 32 bytes) for format 4. Without it the clear block is printed (for
    /// format 4, the clear 16-byte PIN field).
    #[arg(long)]
    key: Option<String>,
    /// For reproducing test vectors only: the fill nibbles, as hex digits, instead of random
    /// ones. Format 1: 14 − PIN length nibbles, any value; format 3: 14 − PIN length nibbles,
    /// A–F; format 4: the 16 nibbles of the random half of the PIN field. Formats 0 and 2 have
    /// no fill.
    #[arg(long, value_name = "HEX-NIBBLES")]
    fill: Option<String>,
    /// Print one JSON object: {"pin_block"}.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct PinblockDecodeArgs {
    /// ISO 9564-1 format: 0, 1, 2, 3 or 4.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=4))]
    format: u8,
    /// The PIN block, hex: 8 bytes, or 16 for format 4 (without --key: its clear PIN field).
    #[arg(long)]
    pin_block: String,
    /// The PAN: needed by formats 0 and 3, and by format 4 with --key; ignored otherwise.
    #[arg(long)]
    pan: Option<String>,
    /// Decipher the block under this key first, hex (DES/TDES for formats 0–3, AES for 4).
    #[arg(long)]
    key: Option<String>,
    /// Print one JSON object: {"pin"}.
    #[arg(long)]
    json: bool,
}

fn pinblock_encode(args: PinblockEncodeArgs) -> Result<(), CliError> {
    let format = PinFormat::from_number(args.format)?;
    let pin = Secret::new(args.pin.as_bytes());
    let pan = args.pan.as_deref();
    let clear = match &args.fill {
        Some(fill) => pinblock::encode_with_fill(format, &pin, pan, &nibbles_arg("fill", fill)?)?,
        None => pinblock::encode(format, &pin, pan)?,
    };
    let (label, block) = match &args.key {
        None if format == PinFormat::Iso4 => ("PIN field (clear)", clear.expose().to_vec()),
        None => ("PIN block (clear)", clear.expose().to_vec()),
        Some(key) => {
            let key = key_arg("key", key)?;
            let block = if format == PinFormat::Iso4 {
                let pan = pan.ok_or_else(|| CliError::bad_input("--pan: format 4 enciphers with the PAN"))?;
                pinblock::encipher_iso4(key.expose(), &clear, pan)?.to_vec()
            } else {
                pinblock::encipher(key.expose(), &clear)?.to_vec()
            };
            ("PIN block", block)
        }
    };
    report(args.json, &[("pin_block", label, hex::encode(&block))])
}

fn pinblock_decode(args: PinblockDecodeArgs) -> Result<(), CliError> {
    let format = PinFormat::from_number(args.format)?;
    let block = hex_arg("pin-block", &args.pin_block)?;
    let pan = args.pan.as_deref();
    let pin = match &args.key {
        None => pinblock::decode(format, &block, pan)?,
        Some(key) => {
            let key = key_arg("key", key)?;
            if format == PinFormat::Iso4 && pan.is_none() {
                return Err(CliError::bad_input("--pan: format 4 enciphers with the PAN"));
            }
            pinblock::decrypt_pin(format, key.expose(), &block, pan)?
        }
    };
    report(args.json, &[("pin", "PIN", String::from_utf8_lossy(pin.expose()).into_owned())])
}

// ---------------------------------------------------------------------------------------------
// MACs

#[derive(Args)]
pub struct MacArgs {
    /// cup-ecb: UnionPay POS MAC (8 or 16-byte key); x9.9: CBC-MAC, single DES (8-byte key);
    /// x9.19 or iso9797-1-3: retail MAC (16-byte key); iso9797-1-1: CBC-MAC, DES or TDES
    /// (8, 16, 24-byte key); aes-cmac; tdes-cmac.
    #[arg(long, value_enum)]
    algorithm: MacAlgorithm,
    /// The MAC key, hex.
    #[arg(long)]
    key: String,
    /// The data, hex (may be empty); for cup-ecb, the MAB (MTI to field 63).
    #[arg(long)]
    data: String,
    /// ISO 9797-1 padding method for x9.9, x9.19 and iso9797-1-*: 1 (zeros, the default) or
    /// 2 (80 then zeros). The other algorithms have their own padding and refuse it.
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2))]
    padding: Option<u8>,
    /// Print one JSON object: {"mac"}: the full MAC (8 bytes; 16 for aes-cmac), or for cup-ecb
    /// the 8 characters that go into field 64.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MacAlgorithm {
    #[value(name = "cup-ecb")]
    CupEcb,
    #[value(name = "x9.9")]
    X99,
    #[value(name = "x9.19")]
    X919,
    #[value(name = "iso9797-1-1")]
    Iso9797Alg1,
    #[value(name = "iso9797-1-3")]
    Iso9797Alg3,
    #[value(name = "aes-cmac")]
    AesCmac,
    #[value(name = "tdes-cmac")]
    TdesCmac,
}

fn mac(args: MacArgs) -> Result<(), CliError> {
    let key = key_arg("key", &args.key)?;
    let data = hex_arg("data", &args.data)?;
    let padded = matches!(
        args.algorithm,
        MacAlgorithm::X99 | MacAlgorithm::X919 | MacAlgorithm::Iso9797Alg1 | MacAlgorithm::Iso9797Alg3
    );
    if !padded && args.padding.is_some() {
        return Err(CliError::bad_input("--padding: only x9.9, x9.19 and iso9797-1-* take a padding method"));
    }
    let padding = Padding::from_number(args.padding.unwrap_or(1))?;
    let key = key.expose();
    let value = match args.algorithm {
        MacAlgorithm::CupEcb => {
            let field = mac::cup_ecb_mac(key, &data)?;
            String::from_utf8_lossy(&field).into_owned()
        }
        MacAlgorithm::X99 => hex::encode(&mac::cbc_mac(&Cipher::des(key)?, &data, padding)),
        MacAlgorithm::Iso9797Alg1 => hex::encode(&mac::cbc_mac(&Cipher::tdes(key)?, &data, padding)),
        MacAlgorithm::X919 | MacAlgorithm::Iso9797Alg3 => hex::encode(&mac::retail_mac(key, &data, padding)?),
        MacAlgorithm::AesCmac => hex::encode(&mac::cmac(&Cipher::aes(key)?, &data)),
        MacAlgorithm::TdesCmac => hex::encode(&mac::cmac(&Cipher::tdes(key)?, &data)),
    };
    report(args.json, &[("mac", "MAC", value)])
}

// ---------------------------------------------------------------------------------------------
// DUKPT

#[derive(Args)]
pub struct DukptArgs {
    /// The base derivation key, hex: 16 bytes (TDES DUKPT) or 16, 24, 32 bytes (AES DUKPT).
    #[arg(long)]
    bdk: String,
    /// The key serial number, hex: 10 bytes for TDES DUKPT, 12 bytes for AES DUKPT.
    #[arg(long)]
    ksn: String,
    /// The working key: pin (TDES: PIN variant; AES: PIN encryption), mac (TDES: MAC request
    /// variant; AES: MAC generation) or data (TDES: data request key; AES: data encryption).
    #[arg(long, value_enum, default_value = "pin")]
    usage: DukptUsage,
    /// AES DUKPT only: the working key's type (default: the BDK's type). TDES DUKPT working
    /// keys are always tdes2.
    #[arg(long, value_enum)]
    working_key: Option<WorkingKeyType>,
    /// Print one JSON object: {"initial_key", "working_key"}.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum DukptUsage {
    Pin,
    Mac,
    Data,
}

#[derive(Clone, Copy, ValueEnum)]
enum WorkingKeyType {
    Aes128,
    Aes192,
    Aes256,
    Tdes2,
    Tdes3,
}

fn dukpt(args: DukptArgs) -> Result<(), CliError> {
    let bdk = key_arg("bdk", &args.bdk)?;
    let ksn = hex_arg("ksn", &args.ksn)?;
    let usage = match args.usage {
        DukptUsage::Pin => WorkingUsage::Pin,
        DukptUsage::Mac => WorkingUsage::Mac,
        DukptUsage::Data => WorkingUsage::Data,
    };
    let working = args.working_key.map(|kind| match kind {
        WorkingKeyType::Aes128 => KeyType::Aes128,
        WorkingKeyType::Aes192 => KeyType::Aes192,
        WorkingKeyType::Aes256 => KeyType::Aes256,
        WorkingKeyType::Tdes2 => KeyType::Tdes2,
        WorkingKeyType::Tdes3 => KeyType::Tdes3,
    });
    let (initial, working) = hsm::dukpt::dukpt(bdk.expose(), &ksn, usage, working)?;
    report(
        args.json,
        &[
            ("initial_key", "initial key", hex::encode(initial.expose())),
            ("working_key", "working key", hex::encode(working.expose())),
        ],
    )
}

// ---------------------------------------------------------------------------------------------
// EMV

#[derive(Subcommand)]
pub enum EmvCommand {
    /// The ARQC a card computes, with the ICC master key and the AC session key (for
    /// visa-cvn10, which has no session key, the ICC master key again).
    Arqc(ArqcArgs),
    /// The issuer's ARPC for an ARQC: method 1 (--arc) or method 2 (--csu), under the key the
    /// scheme answers with (the session key for common and visa-cvn18, the ICC master key for
    /// mastercard and visa-cvn10).
    Arpc(ArpcArgs),
}

/// The card and transaction: what derives the keys.
#[derive(Args)]
pub struct EmvCardArgs {
    /// The issuer master key for application cryptograms (IMK-AC), hex, 16 bytes.
    #[arg(long)]
    imk: String,
    /// The PAN, 12 to 19 digits (its Luhn check digit is not verified). ICC master key
    /// derivation option A up to 16 digits, option B beyond.
    #[arg(long)]
    pan: String,
    /// The PAN sequence number, 2 digits (00 when the card has none).
    #[arg(long)]
    psn: String,
    /// The application transaction counter (tag 9F36), hex, 2 bytes.
    #[arg(long)]
    atc: String,
    /// common: EMV CSK, R = ATC‖000000000000, padding 2; mastercard: M/Chip SKD,
    /// R = ATC‖0000‖UN, padding 2 (needs --un); visa-cvn10: the ICC MK as AC key, padding 1;
    /// visa-cvn18: EMV CSK, padding 2.
    #[arg(long, value_enum)]
    scheme: SchemeArg,
    /// The unpredictable number (tag 9F37), hex, 4 bytes: mastercard only.
    #[arg(long)]
    un: Option<String>,
}

#[derive(Args)]
pub struct ArqcArgs {
    #[command(flatten)]
    card: EmvCardArgs,
    /// The CDOL-selected transaction data the cryptogram covers, hex.
    #[arg(long)]
    data: String,
    /// Print one JSON object: {"icc_master_key", "session_key", "arqc"}.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ArpcArgs {
    #[command(flatten)]
    card: EmvCardArgs,
    /// ARPC method 1 (EMV Book 2 8.2.1, needs --arc) or 2 (8.2.2, needs --csu).
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=2))]
    method: u8,
    /// The ARQC answered, hex, 8 bytes.
    #[arg(long)]
    arqc: String,
    /// Method 1: the authorisation response code, hex, 2 bytes (e.g. 3030 for "00").
    #[arg(long)]
    arc: Option<String>,
    /// Method 2: the card status update, hex, 4 bytes.
    #[arg(long)]
    csu: Option<String>,
    /// Method 2: proprietary authentication data, hex, 0 to 8 bytes (default none).
    #[arg(long)]
    proprietary: Option<String>,
    /// Print one JSON object: {"arpc"}.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum SchemeArg {
    Common,
    Mastercard,
    #[value(name = "visa-cvn10")]
    VisaCvn10,
    #[value(name = "visa-cvn18")]
    VisaCvn18,
}

impl SchemeArg {
    fn scheme(self) -> Scheme {
        match self {
            SchemeArg::Common => Scheme::Common,
            SchemeArg::Mastercard => Scheme::Mastercard,
            SchemeArg::VisaCvn10 => Scheme::VisaCvn10,
            SchemeArg::VisaCvn18 => Scheme::VisaCvn18,
        }
    }
}

/// The parsed card arguments: IMK, ATC and UN as bytes.
struct Card<'a> {
    imk: Secret,
    pan: &'a str,
    psn: &'a str,
    atc: Vec<u8>,
    scheme: Scheme,
    un: Option<Vec<u8>>,
}

impl EmvCardArgs {
    fn parse(&self) -> Result<Card<'_>, CliError> {
        Ok(Card {
            imk: key_arg("imk", &self.imk)?,
            pan: &self.pan,
            psn: &self.psn,
            atc: hex_arg("atc", &self.atc)?,
            scheme: self.scheme.scheme(),
            un: self.un.as_deref().map(|un| hex_arg("un", un)).transpose()?,
        })
    }
}

fn emv_arqc(args: ArqcArgs) -> Result<(), CliError> {
    let card = args.card.parse()?;
    let data = hex_arg("data", &args.data)?;
    let result = emv::arqc(card.scheme, card.imk.expose(), card.pan, card.psn, &card.atc, card.un.as_deref(), &data)?;
    report(
        args.json,
        &[
            ("icc_master_key", "ICC master key", hex::encode(result.icc_master_key.expose())),
            ("session_key", "session key", hex::encode(result.session_key.expose())),
            ("arqc", "ARQC", hex::encode(&result.arqc)),
        ],
    )
}

fn emv_arpc(args: ArpcArgs) -> Result<(), CliError> {
    let card = args.card.parse()?;
    let arqc: [u8; 8] = fixed_arg("arqc", &args.arqc)?;
    let icc_master_key = emv::icc_master_key(card.imk.expose(), card.pan, card.psn)?;
    let session_key = card.scheme.ac_key(&icc_master_key, &card.atc, card.un.as_deref())?;
    let keys = ArqcResult { icc_master_key, session_key, arqc };
    let key = card.scheme.arpc_key(&keys).expose();
    let arpc = match args.method {
        1 => {
            if args.csu.is_some() || args.proprietary.is_some() {
                return Err(CliError::bad_input("--csu and --proprietary are for method 2; method 1 takes --arc"));
            }
            let arc = args.arc.as_deref().ok_or_else(|| CliError::bad_input("--arc: method 1 needs it"))?;
            hex::encode(&emv::arpc_method1(key, &arqc, fixed_arg("arc", arc)?)?)
        }
        _ => {
            if args.arc.is_some() {
                return Err(CliError::bad_input("--arc is for method 1; method 2 takes --csu [--proprietary]"));
            }
            let csu = args.csu.as_deref().ok_or_else(|| CliError::bad_input("--csu: method 2 needs it"))?;
            let proprietary = args.proprietary.as_deref().map(|p| hex_arg("proprietary", p)).transpose()?;
            hex::encode(&emv::arpc_method2(key, &arqc, fixed_arg("csu", csu)?, proprietary.as_deref().unwrap_or(&[]))?)
        }
    };
    report(args.json, &[("arpc", "ARPC", arpc)])
}

// ---------------------------------------------------------------------------------------------
// TR-31

#[derive(Subcommand)]
pub enum Tr31Command {
    /// Wrap a key in a version B (TDES KBPK) or D (AES KBPK) key block. The payload padding is
    /// random, so each run gives a different block.
    Wrap(Tr31WrapArgs),
    /// Open a key block of version A, B, C or D: check its MAC, then print the key and header.
    Unwrap(Tr31UnwrapArgs),
}

#[derive(Args)]
pub struct Tr31WrapArgs {
    /// The key block protection key, hex: 16 or 24 bytes (TDES) for B, 16, 24 or 32 (AES) for D.
    #[arg(long)]
    kbpk: String,
    /// The key to wrap, hex.
    #[arg(long)]
    key: String,
    /// The header: the 16 fixed characters (e.g. B0000P0TE00E0000; the length field is filled
    /// in) then the optional blocks the count field announces. A PB block is added as needed.
    #[arg(long)]
    header: String,
    /// Print one JSON object: {"key_block"}.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct Tr31UnwrapArgs {
    /// The key block protection key, hex.
    #[arg(long)]
    kbpk: String,
    /// The key block.
    #[arg(long)]
    key_block: String,
    /// Print one JSON object: {"key", "header"} (the header as in the block: the 16 fixed
    /// characters and the optional blocks).
    #[arg(long)]
    json: bool,
}

fn tr31_wrap(args: Tr31WrapArgs) -> Result<(), CliError> {
    let kbpk = key_arg("kbpk", &args.kbpk)?;
    let key = key_arg("key", &args.key)?;
    let text = args.header.trim();
    let (header, length) = parse_header("header", text)?;
    if length != text.len() {
        return Err(CliError::bad_input(format!(
            "--header: {} characters follow the optional blocks the header announces",
            text.len() - length
        )));
    }
    if header.version.is_variant() {
        return Err(CliError::bad_input("--header: versions A and C are import-only; wrap in B or D"));
    }
    let block = tr31::wrap(kbpk.expose(), &header, key.expose())?;
    report(args.json, &[("key_block", "key block", block)])
}

fn tr31_unwrap(args: Tr31UnwrapArgs) -> Result<(), CliError> {
    let kbpk = key_arg("kbpk", &args.kbpk)?;
    let block = args.key_block.trim();
    let (_, key) = tr31::unwrap(kbpk.expose(), block).map_err(|error| match error {
        // Under a calculator a block that does not verify is the input's fault: the wrong
        // KBPK, or a damaged block.
        hsm::Error::Verification(_) => CliError::bad_input(format!("{error}: wrong KBPK or a damaged block")),
        other => CliError::from(other),
    })?;
    let (_, length) = parse_header("key-block", block)?;
    report(args.json, &[("key", "key", hex::encode(key.expose())), ("header", "header", block[..length].to_owned())])
}

/// A key block header at the start of `text` (the library's parser; the length field is not
/// checked against anything: wrap fills it in).
fn parse_header(flag: &str, text: &str) -> Result<(Header, usize), CliError> {
    tr31::parse_header(text).map_err(|error| CliError::bad_input(format!("--{flag}: {error}")))
}

// ---------------------------------------------------------------------------------------------
// CVV and PVV

#[derive(Args)]
pub struct CvvArgs {
    /// The card verification key A‖B, hex, 16 bytes.
    #[arg(long)]
    cvk: String,
    /// The PAN, 12 to 19 digits. Its Luhn check digit is not verified: CVV does not need it
    /// (and the published test PAN fails it).
    #[arg(long)]
    pan: String,
    /// The expiry date as on the track, 4 digits (usually YYMM).
    #[arg(long)]
    expiry: String,
    /// The service code, 3 digits (000 for CVV2, 999 for iCVV).
    #[arg(long)]
    service_code: String,
    /// Print one JSON object: {"cvv"}.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct PvvArgs {
    /// The PIN verification key, hex (8, 16 or 24 bytes; Visa uses 16).
    #[arg(long)]
    pvk: String,
    /// The PAN, 12 to 19 digits (its Luhn check digit is not verified; PVV does not need it).
    #[arg(long)]
    pan: String,
    /// The PIN, 4 to 12 digits (the PVV uses the first 4).
    #[arg(long)]
    pin: String,
    /// The PIN verification key index, 0 to 9.
    #[arg(long)]
    pvki: u8,
    /// Print one JSON object: {"pvv"}.
    #[arg(long)]
    json: bool,
}

fn cvv(args: CvvArgs) -> Result<(), CliError> {
    let cvk = key_arg("cvk", &args.cvk)?;
    let value = card::cvv(cvk.expose(), &args.pan, &args.expiry, &args.service_code)?;
    report(args.json, &[("cvv", "CVV", value)])
}

fn pvv(args: PvvArgs) -> Result<(), CliError> {
    let pvk = key_arg("pvk", &args.pvk)?;
    let value = card::pvv(pvk.expose(), &args.pan, &Secret::new(args.pin.as_bytes()), args.pvki)?;
    report(args.json, &[("pvv", "PVV", value)])
}

// ---------------------------------------------------------------------------------------------
// Arguments and output

/// Hex bytes from an argument (either case; whitespace between groups ignored).
fn hex_arg(flag: &str, text: &str) -> Result<Vec<u8>, CliError> {
    let compact: String = text.split_whitespace().collect();
    hex::decode(&compact).map_err(|error| CliError::bad_input(format!("--{flag}: {error}")))
}

/// A key from an argument, held as a [`Secret`] from then on.
fn key_arg(flag: &str, text: &str) -> Result<Secret, CliError> {
    Ok(Secret::from_vec(hex_arg(flag, text)?))
}

/// Exactly `N` bytes of hex.
fn fixed_arg<const N: usize>(flag: &str, text: &str) -> Result<[u8; N], CliError> {
    let bytes = hex_arg(flag, text)?;
    bytes.as_slice().try_into().map_err(|_| {
        CliError::bad_input(format!("--{flag}: must be {N} bytes ({} hex digits), got {}", 2 * N, bytes.len()))
    })
}

/// One nibble value per hex digit.
fn nibbles_arg(flag: &str, text: &str) -> Result<Vec<u8>, CliError> {
    text.bytes()
        .map(|c| {
            hex::nibble(c).ok_or_else(|| CliError::bad_input(format!("--{flag}: only hex digits, one per nibble")))
        })
        .collect()
}

/// Print `(JSON key, label, value)` triples: one JSON object, or `label: value` lines.
fn report(json: bool, items: &[(&str, &str, String)]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    if json {
        let object: Map<String, Value> =
            items.iter().map(|(key, _, value)| ((*key).to_owned(), Value::String(value.clone()))).collect();
        writeln!(out, "{}", Value::Object(object))?;
    } else {
        for (_, label, value) in items {
            writeln!(out, "{label}: {value}")?;
        }
    }
    Ok(())
}
