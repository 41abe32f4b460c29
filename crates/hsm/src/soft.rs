//! `SoftHsm`: the security module in software. It holds one secret, the local master key (LMK,
//! AES-256); every key comes in as a TR-31 version D key block under the LMK ([`WrappedKey`]),
//! is opened, and is checked against the roles the operation allows. Like a payShield it keeps no
//! key store: the caller holds the blocks. What it does keep is a bounded cache of working keys
//! it has already opened ([`crate::key_cache`]), so a block is unwrapped once rather than on
//! every MAC, PIN translation or card-number hash; the role check runs on every use, hit or miss.

use std::path::Path;
use std::sync::Arc;

use crate::card;
use crate::cipher::{Cipher, Family, set_odd_parity, xor_in_place};
use crate::data;
use crate::dukpt::{self, WorkingUsage};
use crate::emv::{self, ArqcResult};
use crate::error::{Error, Result};
use crate::kcv::{self, KcvMethod};
use crate::key_cache::{KEY_CACHE_ENTRIES_MAX, KeyCache, KeyCacheStats, OpenedKey};
use crate::keys::{KCV_BLOCK, KeyAlgorithm, KeyType, ROLE_BLOCK, WrappedKey};
use crate::mac;
use crate::module::{ArpcMethod, ArqcRequest, MacAlgorithm, PinTranslation, PinVerification, SecurityModule};
use crate::pinblock::{self, PinFormat};
use crate::secret::Secret;
use crate::signon::{self, SignOnScheme, TerminalKeys};
use crate::tr31::{self, Header, Version};

/// Bytes of the local master key (AES-256).
pub const LMK_LEN: usize = 32;

/// Most components a key may be split into or formed from.
pub const COMPONENTS_MAX: usize = 9;

/// Write `lmk` to `path` as hex digits and a newline, in a file only its owner can read (mode
/// 0600 on Unix; elsewhere a plain write), synced before it returns — the form
/// [`SoftHsm::from_lmk_file`] reads. Errors ([`Error::LmkFile`]) name the file, never the key.
/// Development only, like the software HSM itself.
pub fn write_lmk_file(path: &Path, lmk: &Secret) -> Result<()> {
    let text = Secret::from_vec(format!("{}\n", iso8583::hex::encode(lmk.expose())).into_bytes());
    write_owner_only(path, text.expose()).map_err(|e| Error::lmk_file(path, e))
}

fn write_owner_only(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // The mode above applies only to a file this call creates; one that was there keeps its
    // own until it is set.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.sync_all()
}

pub struct SoftHsm {
    lmk: Secret,
    /// Working keys already opened from their LMK blocks.
    keys: KeyCache,
}

impl std::fmt::Debug for SoftHsm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SoftHsm(LMK check value {}, {:?})", self.lmk_check_value(), self.keys)
    }
}

impl SoftHsm {
    /// A module over an existing LMK (32 bytes), caching up to [`KEY_CACHE_ENTRIES_MAX`]
    /// opened working keys.
    pub fn new(lmk: Secret) -> Result<SoftHsm> {
        if lmk.len() != LMK_LEN {
            return Err(Error::key_length("LMK (AES-256)", "32", lmk.len()));
        }
        Ok(SoftHsm { lmk, keys: KeyCache::new(KEY_CACHE_ENTRIES_MAX) })
    }

    /// The same module with a key cache of at most `entries_max` entries (capped at
    /// [`KEY_CACHE_ENTRIES_MAX`]); 0 turns the cache off, so every operation unwraps its key
    /// blocks again (the module as it was before the cache; benchmarks compare the two). Any
    /// keys cached so far are dropped.
    pub fn with_key_cache_entries(self, entries_max: usize) -> SoftHsm {
        SoftHsm { keys: KeyCache::new(entries_max), ..self }
    }

    /// Counts of the key cache: entries held, its bound, hits, misses (full unwraps), evictions.
    pub fn key_cache_stats(&self) -> KeyCacheStats {
        self.keys.stats()
    }

    /// Drop every cached key (zeroized at once, or when an operation still using one returns).
    pub fn clear_key_cache(&self) {
        self.keys.clear();
    }

    /// The module over the LMK in `path`: 64 hex digits, surrounding whitespace ignored. Errors
    /// ([`Error::LmkFile`]) name the file and never its contents. Development only: a clear LMK
    /// on disk is what the software HSM is; production uses a hardware or cloud HSM.
    pub fn from_lmk_file(path: &Path) -> Result<SoftHsm> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::lmk_file(path, e))?;
        let bytes = iso8583::hex::decode(text.trim()).map_err(|_| Error::lmk_file(path, "not hex digits"))?;
        SoftHsm::new(Secret::from_vec(bytes)).map_err(|e| Error::lmk_file(path, e))
    }

    /// A module with a fresh random LMK (tests, simulations, a first start).
    pub fn generate() -> Result<SoftHsm> {
        SoftHsm::new(Secret::random(LMK_LEN)?)
    }

    /// The LMK's AES-CMAC check value, to confirm two modules hold the same LMK.
    pub fn lmk_check_value(&self) -> String {
        kcv::kcv(self.lmk.expose(), KcvMethod::AesCmac).map(|k| iso8583::hex::encode(&k)).unwrap_or_default()
    }

    /// Put a clear key under the LMK with its role and check value bound into the header.
    fn wrap(&self, key_type: KeyType, algorithm: KeyAlgorithm, key: &Secret) -> Result<WrappedKey> {
        if key.len() != algorithm.key_len() {
            return Err(Error::key_length("key", "the algorithm's length", key.len()));
        }
        let (kcv_method, kcv_code) =
            if algorithm.is_aes() { (KcvMethod::AesCmac, "01") } else { (KcvMethod::Tdes, "00") };
        let check_value = iso8583::hex::encode(&kcv::kcv(key.expose(), kcv_method)?);
        let exportability =
            if key_type.exportable() { tr31::exportability::TRUSTED } else { tr31::exportability::NON_EXPORTABLE };
        let header = Header::new(
            Version::D,
            key_type.tr31_usage(),
            algorithm.tr31_algorithm(),
            key_type.tr31_mode(),
            exportability,
        )
        .with_optional_block(ROLE_BLOCK, key_type.name())
        .with_optional_block(KCV_BLOCK, format!("{kcv_code}{check_value}"));
        WrappedKey::from_block(tr31::wrap(self.lmk.expose(), &header, key.expose())?)
    }

    /// Open a key for an operation that accepts `allowed` roles: from the cache if this exact
    /// block was opened before, else by unwrapping it (and caching it if it is a working key).
    /// The role comes from the authenticated header either way, so a relabelled block fails
    /// here, and the checks below run on a hit exactly as on a miss.
    fn open(&self, key: &WrappedKey, allowed: &[KeyType], operation: &'static str) -> Result<Arc<OpenedKey>> {
        let opened = match self.keys.get(key.block()) {
            Some(opened) => opened,
            None => {
                let opened = Arc::new(self.unwrap_key(key)?);
                // KEKs open only at key exchange; keeping them in clear between uses buys nothing.
                if !opened.role.is_kek() {
                    self.keys.insert(key.block(), Arc::clone(&opened));
                }
                opened
            }
        };
        if opened.role != key.key_type() || opened.usage != opened.role.tr31_usage() {
            return Err(Error::KeyBlock("the key's role does not match its authenticated header".into()));
        }
        if !allowed.contains(&opened.role) {
            return Err(Error::KeyUsage { usage: opened.role.name().into(), operation });
        }
        Ok(opened)
    }

    /// Unwrap a key block under the LMK (MAC verified first) and read its role and algorithm
    /// from the authenticated header. An algorithm that does not fit the key's length is refused
    /// here, before the role checks of [`SoftHsm::open`]; `wrap` never makes such a block, so no
    /// block whose MAC verifies has one.
    fn unwrap_key(&self, key: &WrappedKey) -> Result<OpenedKey> {
        let (header, clear) = tr31::unwrap(self.lmk.expose(), key.block())?;
        let role = header
            .optional_block(ROLE_BLOCK)
            .and_then(|name| KeyType::from_name(name).ok())
            .ok_or_else(|| Error::KeyBlock("no cardnet key role".into()))?;
        let algorithm = KeyAlgorithm::from_tr31(header.algorithm, clear.len())?;
        Ok(OpenedKey::new(role, header.key_usage, algorithm, clear))
    }

    fn pin_keys() -> &'static [KeyType] {
        &[KeyType::Tpk, KeyType::Zpk]
    }

    fn decrypt_pin(
        &self,
        key: &WrappedKey,
        format: PinFormat,
        block: &[u8],
        pan: &str,
        operation: &'static str,
    ) -> Result<Secret> {
        let clear_key = self.open(key, Self::pin_keys(), operation)?;
        clear_key.run(
            pinblock::cipher_family(format),
            |cipher| pinblock::decrypt_pin_with(format, cipher, block, Some(pan)),
            |bytes| pinblock::decrypt_pin(format, bytes, block, Some(pan)),
        )
    }

    /// `pin` enciphered in `format` under an open PIN key: under its kept cipher when that is
    /// the one the format builds from key bytes (TDES for formats 0–3, AES for 4), else from
    /// the bytes exactly as before (an AES key in format 0 stays what it always was).
    fn encrypt_pin_under(key: &OpenedKey, format: PinFormat, pin: &Secret, pan: &str) -> Result<Vec<u8>> {
        key.run(
            pinblock::cipher_family(format),
            |cipher| pinblock::encrypt_pin_with(format, cipher, pin, Some(pan)),
            |bytes| pinblock::encrypt_pin(format, bytes, pin, Some(pan)),
        )
    }

    /// The PVV of `pin` under an open PVK (its kept cipher if it is a DES or TDES key).
    fn pvv_under(pvk: &OpenedKey, pan: &str, pin: &Secret, pvki: u8) -> Result<String> {
        pvk.run(Family::Tdes, |cipher| card::pvv_with(cipher, pan, pin, pvki), |bytes| card::pvv(bytes, pan, pin, pvki))
    }

    fn arqc_keys(&self, imk: &WrappedKey, request: &ArqcRequest<'_>) -> Result<ArqcResult> {
        let clear = self.open(imk, &[KeyType::ImkAc], "verify an application cryptogram")?;
        emv::verify_arqc(
            request.scheme,
            clear.expose(),
            request.pan,
            request.psn,
            request.atc,
            request.un,
            request.data,
            request.arqc,
        )
    }

    fn random_key(algorithm: KeyAlgorithm) -> Result<Secret> {
        let mut bytes = Secret::random(algorithm.key_len())?.expose().to_vec();
        if !algorithm.is_aes() {
            set_odd_parity(&mut bytes);
        }
        Ok(Secret::from_vec(bytes))
    }

    /// Open a DEK; only AES ones are accepted (the data layout is AES-CTR and AES-CMAC).
    fn open_dek(&self, dek: &WrappedKey, operation: &'static str) -> Result<Arc<OpenedKey>> {
        let clear = self.open(dek, &[KeyType::Dek], operation)?;
        if !dek.is_aes() {
            return Err(Error::KeyUsage { usage: "DEK (not AES)".into(), operation });
        }
        Ok(clear)
    }

    fn kek_cipher(&self, kek: &WrappedKey, operation: &'static str) -> Result<Cipher> {
        let clear = self.open(kek, &[KeyType::Zmk, KeyType::Tmk], operation)?;
        if kek.is_aes() { Cipher::aes(clear.expose()) } else { Cipher::tdes(clear.expose()) }
    }
}

impl SecurityModule for SoftHsm {
    fn generate_key(&self, key_type: KeyType, algorithm: KeyAlgorithm) -> Result<WrappedKey> {
        self.wrap(key_type, algorithm, &Self::random_key(algorithm)?)
    }

    fn import_components(
        &self,
        key_type: KeyType,
        algorithm: KeyAlgorithm,
        components: &[Secret],
    ) -> Result<WrappedKey> {
        if components.is_empty() || components.len() > COMPONENTS_MAX {
            return Err(Error::input("components", format!("give 1 to {COMPONENTS_MAX}")));
        }
        let mut key = vec![0u8; algorithm.key_len()];
        for component in components {
            if component.len() != key.len() {
                return Err(Error::key_length("key component", "the algorithm's length", component.len()));
            }
            xor_in_place(&mut key, component.expose());
        }
        self.wrap(key_type, algorithm, &Secret::from_vec(key))
    }

    fn import_under_kek(&self, kek: &WrappedKey, key_type: KeyType, encrypted: &[u8]) -> Result<WrappedKey> {
        let cipher = self.kek_cipher(kek, "import a key")?;
        if cipher.is_aes() {
            return Err(Error::Unsupported("ECB key import under an AES KEK; use a key block"));
        }
        let algorithm = KeyAlgorithm::tdes_for_len(encrypted.len())?;
        let mut clear = encrypted.to_vec();
        cipher.ecb_decrypt(&mut clear)?;
        self.wrap(key_type, algorithm, &Secret::from_vec(clear))
    }

    fn import_key_block(&self, kek: &WrappedKey, key_type: KeyType, key_block: &str) -> Result<WrappedKey> {
        let clear_kek = self.open(kek, &[KeyType::Zmk, KeyType::Tmk], "import a key block")?;
        let (header, clear) = tr31::unwrap(clear_kek.expose(), key_block)?;
        if header.key_usage != key_type.tr31_usage() {
            return Err(Error::KeyUsage {
                usage: header.key_usage_str().to_owned(),
                operation: "be imported as this key type",
            });
        }
        let algorithm = KeyAlgorithm::from_tr31(header.algorithm, clear.len())?;
        self.wrap(key_type, algorithm, &clear)
    }

    fn export_under_kek(&self, kek: &WrappedKey, key: &WrappedKey) -> Result<Vec<u8>> {
        if !key.key_type().exportable() {
            return Err(Error::KeyUsage { usage: key.key_type().name().into(), operation: "leave the module" });
        }
        let cipher = self.kek_cipher(kek, "export a key")?;
        let clear = self.open(key, &KeyType::ALL, "be exported")?;
        if cipher.is_aes() || key.is_aes() {
            return Err(Error::Unsupported("ECB key export with AES keys; use a key block"));
        }
        let mut out = clear.expose().to_vec();
        cipher.ecb_encrypt(&mut out)?;
        Ok(out)
    }

    fn export_key_block(&self, kek: &WrappedKey, key: &WrappedKey) -> Result<String> {
        if !key.key_type().exportable() {
            return Err(Error::KeyUsage { usage: key.key_type().name().into(), operation: "leave the module" });
        }
        let clear_kek = self.open(kek, &[KeyType::Zmk, KeyType::Tmk], "export a key block")?;
        let clear = self.open(key, &KeyType::ALL, "be exported")?;
        let version = if kek.is_aes() { Version::D } else { Version::B };
        let header = Header::new(
            version,
            key.key_type().tr31_usage(),
            key.tr31_algorithm(),
            key.key_type().tr31_mode(),
            tr31::exportability::NON_EXPORTABLE,
        );
        tr31::wrap(clear_kek.expose(), &header, clear.expose())
    }

    fn export_components(&self, key: &WrappedKey, count: usize) -> Result<Vec<Secret>> {
        if !key.key_type().exportable() {
            return Err(Error::KeyUsage { usage: key.key_type().name().into(), operation: "leave the module" });
        }
        if !(2..=COMPONENTS_MAX).contains(&count) {
            return Err(Error::input("components", format!("split into 2 to {COMPONENTS_MAX}")));
        }
        let clear = self.open(key, &KeyType::ALL, "be split into components")?;
        let mut last = clear.expose().to_vec();
        let mut components = Vec::with_capacity(count);
        for _ in 1..count {
            let component = Secret::random(clear.len())?;
            xor_in_place(&mut last, component.expose());
            components.push(component);
        }
        components.push(Secret::from_vec(last));
        Ok(components)
    }

    fn translate_pin(&self, request: &PinTranslation<'_>) -> Result<Vec<u8>> {
        let pin = self.decrypt_pin(
            request.source_key,
            request.source_format,
            request.pin_block,
            request.pan,
            "translate a PIN",
        )?;
        let target = self.open(request.target_key, Self::pin_keys(), "translate a PIN")?;
        Self::encrypt_pin_under(&target, request.target_format, &pin, request.pan)
    }

    fn encrypt_pin(&self, key: &WrappedKey, format: PinFormat, pin: &Secret, pan: &str) -> Result<Vec<u8>> {
        let clear = self.open(key, Self::pin_keys(), "encrypt a PIN")?;
        Self::encrypt_pin_under(&clear, format, pin, pan)
    }

    fn verify_pin(
        &self,
        pin_key: &WrappedKey,
        format: PinFormat,
        pin_block: &[u8],
        pan: &str,
        pvk: &WrappedKey,
        verification: &PinVerification<'_>,
    ) -> Result<()> {
        let pin = self.decrypt_pin(pin_key, format, pin_block, pan, "verify a PIN")?;
        let clear_pvk = self.open(pvk, &[KeyType::Pvk], "verify a PIN")?;
        let result = match *verification {
            PinVerification::Pvv { pvki, pvv } => clear_pvk.run(
                Family::Tdes,
                |cipher| card::verify_pvv_with(cipher, pan, &pin, pvki, pvv),
                |bytes| card::verify_pvv(bytes, pan, &pin, pvki, pvv),
            ),
            PinVerification::Ibm3624 { offset, decimalization_table, validation_data } => {
                card::ibm3624_verify(clear_pvk.expose(), validation_data, decimalization_table, &pin, offset)
            }
        };
        result.map_err(|error| match error {
            Error::Verification(_) => Error::Verification("PIN"),
            other => other,
        })
    }

    fn generate_pvv(
        &self,
        pin_key: &WrappedKey,
        format: PinFormat,
        pin_block: &[u8],
        pan: &str,
        pvk: &WrappedKey,
        pvki: u8,
    ) -> Result<String> {
        let pin = self.decrypt_pin(pin_key, format, pin_block, pan, "issue a PIN")?;
        let clear_pvk = self.open(pvk, &[KeyType::Pvk], "issue a PIN")?;
        Self::pvv_under(&clear_pvk, pan, &pin, pvki)
    }

    fn generate_pin(&self, pvk: &WrappedKey, pan: &str, pin_length: usize, pvki: u8) -> Result<(Secret, String)> {
        let clear_pvk = self.open(pvk, &[KeyType::Pvk], "issue a PIN")?;
        let pin = card::random_pin(pin_length)?;
        let pvv = Self::pvv_under(&clear_pvk, pan, &pin, pvki)?;
        Ok((pin, pvv))
    }

    fn generate_pin_ibm3624(
        &self,
        pvk: &WrappedKey,
        validation_data: &str,
        decimalization_table: &str,
        pin_length: usize,
    ) -> Result<(Secret, String)> {
        let clear_pvk = self.open(pvk, &[KeyType::Pvk], "issue a PIN")?;
        let pin = card::random_pin(pin_length)?;
        let offset = card::ibm3624_offset(clear_pvk.expose(), validation_data, decimalization_table, &pin, pin_length)?;
        Ok((pin, offset))
    }

    fn encrypt_data(&self, dek: &WrappedKey, plaintext: &[u8]) -> Result<Vec<u8>> {
        let clear = self.open_dek(dek, "encrypt data")?;
        clear.sealer()?.seal(plaintext)
    }

    fn decrypt_data(&self, dek: &WrappedKey, ciphertext: &[u8]) -> Result<Secret> {
        let clear = self.open_dek(dek, "decrypt data")?;
        clear.sealer()?.open(ciphertext)
    }

    fn keyed_hash(&self, dek: &WrappedKey, data: &[u8]) -> Result<Vec<u8>> {
        let clear = self.open_dek(dek, "hash data")?;
        data::keyed_hash_with(clear.hasher()?, data)
    }

    fn decrypt_track(&self, tdk: &WrappedKey, track: &str) -> Result<Secret> {
        let clear = self.open(tdk, &[KeyType::Tdk], "decrypt a track")?;
        // Tracks are TDES: the kept cipher of a DES or TDES TDK, else the bytes as before.
        clear.run(
            Family::Tdes,
            |cipher| crate::track::decrypt_with(cipher, track),
            |bytes| crate::track::decrypt(bytes, track),
        )
    }

    fn translate_dukpt_pin(
        &self,
        bdk: &WrappedKey,
        ksn: &[u8],
        pin_block: &[u8],
        pan: &str,
        target_key: &WrappedKey,
        target_format: PinFormat,
    ) -> Result<Vec<u8>> {
        let clear_bdk = self.open(bdk, &[KeyType::Bdk], "derive DUKPT keys")?;
        let (_, working) = dukpt::dukpt(clear_bdk.expose(), ksn, WorkingUsage::Pin, None)?;
        // TDES DUKPT terminals send ISO format 0; AES DUKPT terminals ISO format 4.
        let source_format = if ksn.len() == 12 { PinFormat::Iso4 } else { PinFormat::Iso0 };
        let pin = pinblock::decrypt_pin(source_format, working.expose(), pin_block, Some(pan))?;
        let target = self.open(target_key, &[KeyType::Zpk], "translate a PIN")?;
        Self::encrypt_pin_under(&target, target_format, &pin, pan)
    }

    fn generate_mac(&self, key: &WrappedKey, algorithm: MacAlgorithm, data: &[u8]) -> Result<Vec<u8>> {
        let aes = key.is_aes();
        let clear = self.open(key, &[KeyType::Tak, KeyType::Zak], "compute a MAC")?;
        // The network's MAC (X9.19) and the terminals' (UnionPay ECB) run on the schedules kept
        // with the open key; the length rules are the functions' own.
        match (algorithm, clear.des_parts()) {
            (MacAlgorithm::Alg3(padding), Some([left, right])) => {
                return Ok(mac::retail_mac_des(left, right, data, padding).to_vec());
            }
            (MacAlgorithm::CupEcb, Some(parts @ ([_] | [_, _]))) => {
                return Ok(mac::cup_ecb_mac_des(parts, data).to_vec());
            }
            _ => {}
        }
        let key = clear.expose();
        Ok(match algorithm {
            MacAlgorithm::CupEcb => mac::cup_ecb_mac(key, data)?.to_vec(),
            MacAlgorithm::Alg1(padding) => mac::cbc_mac(&Cipher::tdes(key)?, data, padding),
            MacAlgorithm::Alg3(padding) => mac::retail_mac(key, data, padding)?.to_vec(),
            MacAlgorithm::Cmac if aes => mac::cmac(&Cipher::aes(key)?, data),
            MacAlgorithm::Cmac => mac::cmac(&Cipher::tdes(key)?, data),
        })
    }

    fn verify_mac(&self, key: &WrappedKey, algorithm: MacAlgorithm, data: &[u8], received: &[u8]) -> Result<()> {
        let expected = self.generate_mac(key, algorithm, data)?;
        mac::verify(&expected, received)
    }

    fn generate_cvv(&self, cvk: &WrappedKey, pan: &str, expiry: &str, service_code: &str) -> Result<String> {
        let clear = self.open(cvk, &[KeyType::Cvk], "compute a CVV")?;
        card::cvv(clear.expose(), pan, expiry, service_code)
    }

    fn verify_cvv(&self, cvk: &WrappedKey, pan: &str, expiry: &str, service_code: &str, cvv: &str) -> Result<()> {
        let clear = self.open(cvk, &[KeyType::Cvk], "verify a CVV")?;
        card::verify_cvv(clear.expose(), pan, expiry, service_code, cvv)
    }

    fn verify_arqc(&self, imk: &WrappedKey, request: &ArqcRequest<'_>) -> Result<()> {
        self.arqc_keys(imk, request).map(|_| ())
    }

    fn personalise_icc_master_key(&self, imk: &WrappedKey, pan: &str, psn: &str) -> Result<Secret> {
        let clear = self.open(imk, &[KeyType::ImkAc], "personalise a card's chip")?;
        emv::icc_master_key(clear.expose(), pan, psn)
    }

    fn generate_arpc(&self, imk: &WrappedKey, request: &ArqcRequest<'_>, method: ArpcMethod<'_>) -> Result<Vec<u8>> {
        let keys = self.arqc_keys(imk, request)?;
        let key = request.scheme.arpc_key(&keys);
        Ok(match method {
            ArpcMethod::Method1 { arc } => emv::arpc_method1(key.expose(), &keys.arqc, arc)?.to_vec(),
            ArpcMethod::Method2 { csu, proprietary } => {
                emv::arpc_method2(key.expose(), &keys.arqc, csu, proprietary)?.to_vec()
            }
        })
    }

    fn forget_key(&self, key: &WrappedKey) {
        self.keys.forget(key.block());
    }

    fn issue_terminal_keys(&self, tmk: &WrappedKey, scheme: SignOnScheme) -> Result<TerminalKeys> {
        let clear_tmk = self.open(tmk, &[KeyType::Tmk], "issue terminal keys")?;
        let cipher = Cipher::tdes(clear_tmk.expose())?;
        let encrypt = |key: &Secret| -> Result<(Vec<u8>, [u8; 4])> {
            let mut encrypted = key.expose().to_vec();
            cipher.ecb_encrypt(&mut encrypted)?;
            Ok((encrypted, signon::sign_on_kcv(key.expose())?))
        };
        let pik = Self::random_key(scheme.pik_algorithm())?;
        let mak = Self::random_key(KeyAlgorithm::Des)?;
        let tdk = if scheme.has_tdk() { Some(Self::random_key(KeyAlgorithm::Tdes2)?) } else { None };
        let (pik_encrypted, pik_kcv) = encrypt(&pik)?;
        let (mak_encrypted, mak_kcv) = encrypt(&mak)?;
        let tdk_encrypted = tdk.as_ref().map(&encrypt).transpose()?;
        let field62 = signon::field62(
            scheme,
            (&pik_encrypted, pik_kcv),
            (&mak_encrypted, mak_kcv),
            tdk_encrypted.as_ref().map(|(encrypted, kcv)| (encrypted.as_slice(), *kcv)),
        );
        Ok(TerminalKeys {
            field62,
            pik: self.wrap(KeyType::Tpk, scheme.pik_algorithm(), &pik)?,
            mak: self.wrap(KeyType::Tak, KeyAlgorithm::Des, &mak)?,
            tdk: tdk.map(|tdk| self.wrap(KeyType::Tdk, KeyAlgorithm::Tdes2, &tdk)).transpose()?,
        })
    }
}
