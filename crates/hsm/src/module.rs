//! The `SecurityModule` trait: the operations a payment HSM offers (payShield-style: keys come
//! in and go out as key blocks under the LMK, clear keys and PINs never leave), so a hardware or
//! cloud HSM can replace [`SoftHsm`](crate::SoftHsm) behind the same calls.

use crate::emv::Scheme;
use crate::error::{Error, Result};
use crate::keys::{KeyAlgorithm, KeyType, WrappedKey};
use crate::mac::Padding;
use crate::pinblock::PinFormat;
use crate::secret::Secret;
use crate::signon::{SignOnScheme, TerminalKeys};

/// MAC algorithms the module computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacAlgorithm {
    /// The UnionPay POS "ECB" MAC: 8 ASCII hex characters (field 64).
    CupEcb,
    /// ISO 9797-1 algorithm 1 (CBC-MAC): X9.9 with a single-DES key; 8 bytes.
    Alg1(Padding),
    /// ISO 9797-1 algorithm 3, the ANSI X9.19 retail MAC, double-length key; 8 bytes.
    Alg3(Padding),
    /// CMAC: 16 bytes with an AES key, 8 with a TDES key.
    Cmac,
}

/// A PIN block to move from one key (and format) to another.
#[derive(Debug, Clone)]
pub struct PinTranslation<'a> {
    pub source_key: &'a WrappedKey,
    pub source_format: PinFormat,
    pub pin_block: &'a [u8],
    /// The PAN the PIN block is bound to (formats 0, 3 and 4).
    pub pan: &'a str,
    pub target_key: &'a WrappedKey,
    pub target_format: PinFormat,
}

/// What an issuer needs to recompute an application cryptogram.
#[derive(Debug, Clone)]
pub struct ArqcRequest<'a> {
    pub scheme: Scheme,
    pub pan: &'a str,
    /// PAN sequence number, two digits (`00` when the card has none).
    pub psn: &'a str,
    /// Application transaction counter, 2 bytes.
    pub atc: &'a [u8],
    /// Unpredictable number, 4 bytes (Mastercard session keys only).
    pub un: Option<&'a [u8]>,
    /// The CDOL1 data the card signed.
    pub data: &'a [u8],
    pub arqc: &'a [u8],
}

/// How the issuer answers the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpcMethod<'a> {
    /// `TDES_K(ARQC XOR ARC‖000000000000)`, 8 bytes.
    Method1 { arc: [u8; 2] },
    /// Leftmost 4 bytes of the retail MAC over ARQC‖CSU‖proprietary data.
    Method2 { csu: [u8; 4], proprietary: &'a [u8] },
}

/// PIN verification data held by the issuer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinVerification<'a> {
    /// Visa PVV: key index (1 digit) and the 4-digit PVV on file.
    Pvv { pvki: u8, pvv: &'a str },
    /// IBM 3624: the offset on file, the decimalization table and validation data.
    Ibm3624 { offset: &'a str, decimalization_table: &'a str, validation_data: &'a str },
}

pub trait SecurityModule: Send + Sync {
    // ---- Key management ------------------------------------------------------------------

    /// A fresh random key of `key_type`, under the LMK.
    fn generate_key(&self, key_type: KeyType, algorithm: KeyAlgorithm) -> Result<WrappedKey>;

    /// A key formed by XOR of clear components (a key ceremony), under the LMK.
    fn import_components(
        &self,
        key_type: KeyType,
        algorithm: KeyAlgorithm,
        components: &[Secret],
    ) -> Result<WrappedKey>;

    /// A key sent encrypted under `kek` in ECB mode (the legacy exchange form).
    fn import_under_kek(&self, kek: &WrappedKey, key_type: KeyType, encrypted: &[u8]) -> Result<WrappedKey>;

    /// A key sent as a TR-31 key block under `kek`; its usage must match `key_type`.
    fn import_key_block(&self, kek: &WrappedKey, key_type: KeyType, key_block: &str) -> Result<WrappedKey>;

    /// The key encrypted under `kek` in ECB mode (what a terminal's field 62 carries).
    fn export_under_kek(&self, kek: &WrappedKey, key: &WrappedKey) -> Result<Vec<u8>>;

    /// The key as a TR-31 key block under `kek` (version B for a TDES KEK, D for AES).
    fn export_key_block(&self, kek: &WrappedKey, key: &WrappedKey) -> Result<String>;

    /// The key split into `count` clear components for key custodians (a TMK for a terminal
    /// injection, say). The one operation that lets clear key material out, by design: each
    /// component alone reveals nothing.
    fn export_components(&self, key: &WrappedKey, count: usize) -> Result<Vec<Secret>>;

    // ---- PIN -----------------------------------------------------------------------------

    /// Move a PIN block from one PIN key and format to another without the clear PIN leaving
    /// the module (TPK→ZPK at the acquirer, ZPK→ZPK at the switch).
    fn translate_pin(&self, request: &PinTranslation<'_>) -> Result<Vec<u8>>;

    /// Encrypt a PIN typed on a PIN pad the module serves (terminal simulation, card issuing).
    fn encrypt_pin(&self, key: &WrappedKey, format: PinFormat, pin: &Secret, pan: &str) -> Result<Vec<u8>>;

    /// Check a PIN block against the issuer's verification data.
    fn verify_pin(
        &self,
        pin_key: &WrappedKey,
        format: PinFormat,
        pin_block: &[u8],
        pan: &str,
        pvk: &WrappedKey,
        verification: &PinVerification<'_>,
    ) -> Result<()>;

    /// Visa PVV of the PIN in a PIN block (issuing a PIN).
    fn generate_pvv(
        &self,
        pin_key: &WrappedKey,
        format: PinFormat,
        pin_block: &[u8],
        pan: &str,
        pvk: &WrappedKey,
        pvki: u8,
    ) -> Result<String>;

    /// Re-encrypt a PIN block from a DUKPT terminal (TDES or AES DUKPT by the KSN's length)
    /// under a zone PIN key.
    fn translate_dukpt_pin(
        &self,
        bdk: &WrappedKey,
        ksn: &[u8],
        pin_block: &[u8],
        pan: &str,
        target_key: &WrappedKey,
        target_format: PinFormat,
    ) -> Result<Vec<u8>>;

    // ---- MAC -----------------------------------------------------------------------------

    fn generate_mac(&self, key: &WrappedKey, algorithm: MacAlgorithm, data: &[u8]) -> Result<Vec<u8>>;

    /// Constant-time comparison; `Error::Verification("MAC")` on mismatch.
    fn verify_mac(&self, key: &WrappedKey, algorithm: MacAlgorithm, data: &[u8], mac: &[u8]) -> Result<()>;

    // ---- Card and chip -------------------------------------------------------------------

    fn generate_cvv(&self, cvk: &WrappedKey, pan: &str, expiry: &str, service_code: &str) -> Result<String>;

    fn verify_cvv(&self, cvk: &WrappedKey, pan: &str, expiry: &str, service_code: &str, cvv: &str) -> Result<()>;

    /// Verify an ARQC; `Error::Verification("ARQC")` on mismatch.
    fn verify_arqc(&self, imk: &WrappedKey, request: &ArqcRequest<'_>) -> Result<()>;

    /// Verify an ARQC and compute the ARPC that answers it.
    fn generate_arpc(&self, imk: &WrappedKey, request: &ArqcRequest<'_>, method: ArpcMethod<'_>) -> Result<Vec<u8>>;

    /// Issue a PIN for IBM 3624 verification: a random PIN of `pin_length` digits (as
    /// [`SecurityModule::generate_pin`]) and its offset under `pvk` (as long as the PIN, so the
    /// whole PIN is checked) for `validation_data` (16 hex digits) and `decimalization_table`
    /// (16 decimal digits). The clear PIN comes out once, for the PIN mailer; the issuer keeps
    /// only the offset.
    ///
    /// A default body answers `Unsupported`, so a module written before this method still builds.
    fn generate_pin_ibm3624(
        &self,
        pvk: &WrappedKey,
        validation_data: &str,
        decimalization_table: &str,
        pin_length: usize,
    ) -> Result<(Secret, String)> {
        let _ = (pvk, validation_data, decimalization_table, pin_length);
        Err(Error::Unsupported("IBM 3624 PIN issuance"))
    }

    /// Card personalisation: the ICC master key for AC of the card `pan`/`psn` (option A or B
    /// by PAN length) derived from the issuer master key `imk`, in clear, for the chip. This
    /// is the one place a clear key leaves the module: into the card being personalised, as a
    /// data-preparation system writes it to a chip (here: the simulated card's file). The
    /// issuer keeps nothing of it; it re-derives the key from `imk` for every ARQC.
    ///
    /// A default body answers `Unsupported`, so a module written before this method still builds.
    fn personalise_icc_master_key(&self, imk: &WrappedKey, pan: &str, psn: &str) -> Result<Secret> {
        let _ = (imk, pan, psn);
        Err(Error::Unsupported("ICC master key personalisation"))
    }

    /// Issue a PIN: a random PIN of `pin_length` digits (4 to 12, never a trivial one such as
    /// `1111` or `1234`) and its Visa PVV under `pvk` with key index `pvki`. The clear PIN comes
    /// out once, for the PIN mailer; the issuer keeps only the PVV.
    ///
    /// A default body answers `Unsupported`, so a module written before this method still builds.
    fn generate_pin(&self, pvk: &WrappedKey, pan: &str, pin_length: usize, pvki: u8) -> Result<(Secret, String)> {
        let _ = (pvk, pan, pin_length, pvki);
        Err(Error::Unsupported("PIN generation"))
    }

    // ---- Data at rest ----------------------------------------------------------------------

    /// Authenticated encryption of a stored value under a DEK (AES); a fresh random IV each
    /// call, so equal values encrypt differently. See [`crate::data`] for the layout.
    fn encrypt_data(&self, dek: &WrappedKey, plaintext: &[u8]) -> Result<Vec<u8>> {
        let _ = (dek, plaintext);
        Err(Error::Unsupported("data encryption"))
    }

    /// The clear value of [`SecurityModule::encrypt_data`]'s output;
    /// `Error::Verification("data tag")` if it was altered or sealed under another key.
    fn decrypt_data(&self, dek: &WrappedKey, ciphertext: &[u8]) -> Result<Secret> {
        let _ = (dek, ciphertext);
        Err(Error::Unsupported("data decryption"))
    }

    /// A deterministic keyed hash (16 bytes) under a key derived from the DEK: the lookup key
    /// of a value stored encrypted (a PAN), useless to anyone without the DEK.
    fn keyed_hash(&self, dek: &WrappedKey, data: &[u8]) -> Result<Vec<u8>> {
        let _ = (dek, data);
        Err(Error::Unsupported("keyed hashing"))
    }

    // ---- UnionPay POS ----------------------------------------------------------------------

    /// The clear track of a track enciphered under a terminal's TDK (scheme 004,
    /// [`crate::track`]): the acquirer's view of field 35/36 when 53.3 = 1.
    ///
    /// A default body answers `Unsupported`, so a module written before this method still builds.
    fn decrypt_track(&self, tdk: &WrappedKey, track: &str) -> Result<Secret> {
        let _ = (tdk, track);
        Err(Error::Unsupported("track decryption"))
    }

    /// The key is being replaced or withdrawn (a key change, a terminal's new sign-on keys): a
    /// module that keeps opened keys between calls (`SoftHsm`'s key cache) drops and zeroizes
    /// its copy now rather than when the cache would evict it. The block itself stays usable: a
    /// later operation on it opens it again. A module that keeps nothing has nothing to do,
    /// which the default body does.
    fn forget_key(&self, key: &WrappedKey) {
        let _ = key;
    }

    /// Fresh working keys for a terminal's sign-on: the field 62 bytes (keys under the
    /// terminal's TMK with check values, in the layout of `scheme`) and the same keys under the
    /// LMK for the acquirer to keep.
    fn issue_terminal_keys(&self, tmk: &WrappedKey, scheme: SignOnScheme) -> Result<TerminalKeys>;
}
