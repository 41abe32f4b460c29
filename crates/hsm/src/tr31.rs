//! TR-31 / ANSI X9.143 key blocks: the header that binds a key to its usage, algorithm, mode of
//! use and exportability, and the wrapping that keeps key and header together under a key block
//! protection key (KBPK).
//!
//! * [`wrap`] makes version `B` (TDES KBPK, CMAC key derivation) and `D` (AES KBPK) blocks.
//!   The software HSM stores every key as a version-D block under its AES-256 LMK.
//! * [`unwrap`] opens `A` and `C` (legacy variant binding, import only), `B` and `D`. It
//!   verifies the MAC before it looks at the key length or returns anything.
//! * [`Header`] parses and writes the 16-character header and its optional blocks.
//!
//! Errors name the field that is wrong; they never contain the encrypted or clear key data.

use zeroize::Zeroizing;

use crate::cipher::{Cipher, xor};
use crate::error::{Error, Result};
use crate::mac::{self, Padding};
use crate::secret::Secret;

/// The longest key block the 4-digit length field can describe.
pub const MAX_BLOCK_LENGTH: usize = 9999;

/// Length of the fixed part of the header, before any optional block.
pub const FIXED_HEADER_LENGTH: usize = 16;

/// Most optional blocks the 2-digit count can describe.
const MAX_OPTIONAL_BLOCKS: usize = 99;

/// Key block version: how the key is bound to the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// TDES key variant binding (legacy; import only).
    A,
    /// TDES key derivation binding (CMAC-derived KBEK/KBAK).
    B,
    /// TDES key variant binding, as A with clarified header values (legacy; import only).
    C,
    /// AES key derivation binding.
    D,
}

impl Version {
    pub fn from_id(id: u8) -> Result<Version> {
        match id {
            b'A' => Ok(Version::A),
            b'B' => Ok(Version::B),
            b'C' => Ok(Version::C),
            b'D' => Ok(Version::D),
            other => Err(Error::KeyBlock(format!("version {} is not supported (A, B, C or D)", show(&[other])))),
        }
    }

    /// The version ID character.
    pub fn id(self) -> u8 {
        match self {
            Version::A => b'A',
            Version::B => b'B',
            Version::C => b'C',
            Version::D => b'D',
        }
    }

    /// Cipher block size in bytes: 8 for TDES, 16 for AES. The header length and the
    /// payload are multiples of it.
    pub fn block_size(self) -> usize {
        match self {
            Version::D => 16,
            _ => 8,
        }
    }

    /// MAC length in bytes: 4 for the variant versions, 8 for B, 16 for D.
    pub fn mac_length(self) -> usize {
        match self {
            Version::A | Version::C => 4,
            Version::B => 8,
            Version::D => 16,
        }
    }

    /// The legacy variant-binding versions, which are accepted on import only.
    pub fn is_variant(self) -> bool {
        matches!(self, Version::A | Version::C)
    }
}

/// Common key usage codes (header bytes 5–6).
pub mod usage {
    /// BDK: base derivation key.
    pub const BDK: [u8; 2] = *b"B0";
    /// DUKPT initial key (IPEK / IK).
    pub const DUKPT_INITIAL_KEY: [u8; 2] = *b"B1";
    /// Card verification key (CVK).
    pub const CVK: [u8; 2] = *b"C0";
    /// Symmetric data encryption.
    pub const DATA_ENCRYPTION: [u8; 2] = *b"D0";
    /// EMV issuer master key: application cryptograms.
    pub const EMV_MK_AC: [u8; 2] = *b"E0";
    /// EMV issuer master key: secure messaging for confidentiality.
    pub const EMV_MK_SMC: [u8; 2] = *b"E1";
    /// EMV issuer master key: secure messaging for integrity.
    pub const EMV_MK_SMI: [u8; 2] = *b"E2";
    /// EMV issuer master key: data authentication code.
    pub const EMV_MK_DAC: [u8; 2] = *b"E3";
    /// EMV issuer master key: dynamic numbers.
    pub const EMV_MK_DN: [u8; 2] = *b"E4";
    /// EMV issuer master key: card personalisation.
    pub const EMV_MK_PERSONALISATION: [u8; 2] = *b"E5";
    /// EMV issuer master key: other.
    pub const EMV_MK_OTHER: [u8; 2] = *b"E6";
    /// Key encryption or wrapping key (KEK, ZMK, TMK).
    pub const KEK: [u8; 2] = *b"K0";
    /// TR-31 key block protection key.
    pub const KBPK: [u8; 2] = *b"K1";
    /// ISO 16609 MAC algorithm 1 (TDES).
    pub const MAC_ISO16609: [u8; 2] = *b"M0";
    /// ISO 9797-1 MAC algorithm 1 (CBC-MAC; X9.9).
    pub const MAC_ALG1: [u8; 2] = *b"M1";
    /// ISO 9797-1 MAC algorithm 3 (X9.19 retail MAC).
    pub const MAC_ALG3: [u8; 2] = *b"M3";
    /// ISO 9797-1:2011 MAC algorithm 5 (CMAC).
    pub const MAC_CMAC: [u8; 2] = *b"M6";
    /// HMAC.
    pub const MAC_HMAC: [u8; 2] = *b"M7";
    /// PIN encryption (TPK, ZPK, PEK).
    pub const PIN_ENCRYPTION: [u8; 2] = *b"P0";
    /// PIN verification, other algorithm.
    pub const PIN_VERIFICATION: [u8; 2] = *b"V0";
    /// PIN verification, IBM 3624.
    pub const PIN_VERIFICATION_IBM3624: [u8; 2] = *b"V1";
    /// PIN verification, Visa PVV.
    pub const PIN_VERIFICATION_VISA_PVV: [u8; 2] = *b"V2";
}

/// Common algorithm codes (header byte 8).
pub mod algorithm {
    pub const AES: u8 = b'A';
    pub const DES: u8 = b'D';
    pub const ELLIPTIC_CURVE: u8 = b'E';
    pub const HMAC: u8 = b'H';
    pub const RSA: u8 = b'R';
    pub const DSA: u8 = b'S';
    pub const TDES: u8 = b'T';
}

/// Common mode-of-use codes (header byte 9).
pub mod mode {
    /// Encrypt and decrypt (wrap and unwrap).
    pub const ENCRYPT_DECRYPT: u8 = b'B';
    /// MAC generate and verify.
    pub const GENERATE_VERIFY: u8 = b'C';
    pub const DECRYPT_ONLY: u8 = b'D';
    pub const ENCRYPT_ONLY: u8 = b'E';
    pub const GENERATE_ONLY: u8 = b'G';
    /// No special restrictions.
    pub const NONE: u8 = b'N';
    pub const SIGN_ONLY: u8 = b'S';
    pub const SIGN_DECRYPT: u8 = b'T';
    pub const VERIFY_ONLY: u8 = b'V';
    /// Derive other keys.
    pub const DERIVE: u8 = b'X';
    /// Create key variants.
    pub const VARIANT: u8 = b'Y';
}

/// Exportability codes (header byte 12).
pub mod exportability {
    /// Exportable under a KEK, in a form meeting X9.24 (e.g. a key block).
    pub const TRUSTED: u8 = b'E';
    pub const NON_EXPORTABLE: u8 = b'N';
    /// Sensitive: exportable under a KEK in a form not necessarily meeting X9.24.
    pub const SENSITIVE: u8 = b'S';
}

/// One optional header block: a 2-character ID (`KS`, `KC`, `KP`, `PB`, …) and printable ASCII
/// data. Its length is written when the header is encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OptionalBlock {
    pub id: [u8; 2],
    pub data: String,
}

impl OptionalBlock {
    pub fn new(id: [u8; 2], data: impl Into<String>) -> OptionalBlock {
        OptionalBlock { id, data: data.into() }
    }

    /// The ID as text (`"??"` if it is not ASCII, which [`Header::validate`] rejects).
    pub fn id_str(&self) -> &str {
        std::str::from_utf8(&self.id).unwrap_or("??")
    }

    /// The encoded block length: ID, length field(s) and data.
    fn encoded_len(&self) -> usize {
        let short = 4 + self.data.len();
        if short <= 0xFF { short } else { 10 + self.data.len() }
    }

    fn validate(&self) -> Result<()> {
        if !self.id.iter().all(u8::is_ascii_alphanumeric) {
            return Err(Error::KeyBlock(format!(
                "optional block ID {} is not 2 alphanumeric characters",
                show(&self.id)
            )));
        }
        if !self.data.bytes().all(is_printable) {
            return Err(Error::KeyBlock(format!("optional block {} data is not printable ASCII", self.id_str())));
        }
        if self.encoded_len() > 0xFFFF {
            return Err(Error::KeyBlock(format!("optional block {} is too long", self.id_str())));
        }
        Ok(())
    }

    fn encode_into(&self, out: &mut String) {
        out.push_str(self.id_str());
        let length = self.encoded_len();
        if length <= 0xFF {
            out.push_str(&format!("{length:02X}"));
        } else {
            // Extended length: "00", the length of the length in bytes, then the length.
            out.push_str(&format!("0002{length:04X}"));
        }
        out.push_str(&self.data);
    }
}

/// The key block header: everything before the encrypted key data. All fields are ASCII.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub version: Version,
    /// Key usage, e.g. `P0`, `M3`, `K0`, `B0`, `D0`, `E0` (see [`usage`]).
    pub key_usage: [u8; 2],
    /// Algorithm of the wrapped key: `T`, `A`, `D`, `H`… (see [`algorithm`]).
    pub algorithm: u8,
    /// Mode of use: `E`, `D`, `B`, `N`, `G`, `V`, `C`, `X`… (see [`mode`]).
    pub mode_of_use: u8,
    /// Key version number (`00` when unused; `c1`… for components).
    pub key_version: [u8; 2],
    /// `E`, `N` or `S` (see [`exportability`]).
    pub exportability: u8,
    /// Optional blocks in header order, including any `PB` padding block read from a block.
    pub optional_blocks: Vec<OptionalBlock>,
    /// Header bytes 15–16: reserved (`00`) in TR-31:2018; X9.143 uses the first as key context.
    pub reserved: [u8; 2],
}

impl Header {
    /// A header with key version `00`, reserved `00` and no optional blocks.
    pub fn new(version: Version, key_usage: [u8; 2], algorithm: u8, mode_of_use: u8, exportability: u8) -> Header {
        Header {
            version,
            key_usage,
            algorithm,
            mode_of_use,
            key_version: *b"00",
            exportability,
            optional_blocks: Vec::new(),
            reserved: *b"00",
        }
    }

    pub fn with_key_version(mut self, key_version: [u8; 2]) -> Header {
        self.key_version = key_version;
        self
    }

    /// Append an optional block (e.g. `KS` with the initial key serial number).
    pub fn with_optional_block(mut self, id: [u8; 2], data: impl Into<String>) -> Header {
        self.optional_blocks.push(OptionalBlock::new(id, data));
        self
    }

    /// The data of the first optional block with this ID.
    pub fn optional_block(&self, id: [u8; 2]) -> Option<&str> {
        self.optional_blocks.iter().find(|block| block.id == id).map(|block| block.data.as_str())
    }

    /// The key usage as text (`"??"` if it is not ASCII).
    pub fn key_usage_str(&self) -> &str {
        std::str::from_utf8(&self.key_usage).unwrap_or("??")
    }

    /// Parse the header of a complete key block, checking the block's framing: the length
    /// field, the header fields, the optional blocks, the header alignment and the room for the
    /// encrypted key and the MAC. The encrypted data and MAC are not decoded.
    pub fn parse(block: &str) -> Result<Header> {
        Ok(split(block)?.header)
    }

    /// Check every field is well formed.
    pub fn validate(&self) -> Result<()> {
        check_alphanumeric("key usage", &self.key_usage)?;
        check_alphanumeric("algorithm", &[self.algorithm])?;
        check_alphanumeric("mode of use", &[self.mode_of_use])?;
        check_alphanumeric("key version", &self.key_version)?;
        check_alphanumeric("exportability", &[self.exportability])?;
        check_alphanumeric("reserved field", &self.reserved)?;
        if self.optional_blocks.len() > MAX_OPTIONAL_BLOCKS {
            return Err(Error::KeyBlock(format!(
                "{} optional blocks; at most {MAX_OPTIONAL_BLOCKS} fit",
                self.optional_blocks.len()
            )));
        }
        self.optional_blocks.iter().try_for_each(OptionalBlock::validate)
    }

    /// Length of the encoded header in characters.
    pub fn encoded_len(&self) -> usize {
        FIXED_HEADER_LENGTH + self.optional_blocks.iter().map(OptionalBlock::encoded_len).sum::<usize>()
    }

    /// The header text exactly as these fields say, with `block_length` (the length of the whole
    /// key block) in the length field. No padding block is added: see [`wrap`] for that.
    pub fn encode(&self, block_length: usize) -> Result<String> {
        self.validate()?;
        if block_length > MAX_BLOCK_LENGTH {
            return Err(Error::KeyBlock(format!("block length {block_length} exceeds {MAX_BLOCK_LENGTH}")));
        }
        let mut out = String::with_capacity(self.encoded_len());
        out.push(char::from(self.version.id()));
        out.push_str(&format!("{block_length:04}"));
        for &byte in self.key_usage.iter().chain([&self.algorithm, &self.mode_of_use]) {
            out.push(char::from(byte));
        }
        for &byte in self.key_version.iter().chain([&self.exportability]) {
            out.push(char::from(byte));
        }
        out.push_str(&format!("{:02}", self.optional_blocks.len()));
        out.extend(self.reserved.iter().map(|&byte| char::from(byte)));
        for block in &self.optional_blocks {
            block.encode_into(&mut out);
        }
        Ok(out)
    }

    /// This header with any `PB` blocks replaced by one that pads it to the cipher block size
    /// (none if it is already aligned).
    fn aligned(&self) -> Header {
        let mut header = self.clone();
        header.optional_blocks.retain(|block| block.id != *b"PB");
        let size = header.version.block_size();
        let mut pad = (size - header.encoded_len() % size) % size;
        if pad != 0 && pad < 4 {
            pad += size;
        }
        if pad != 0 {
            header.optional_blocks.push(OptionalBlock::new(*b"PB", "0".repeat(pad - 4)));
        }
        header
    }
}

/// A key block split into its parts, framing checked.
struct Parts<'a> {
    header: Header,
    header_text: &'a str,
    encrypted_hex: &'a str,
    mac_hex: &'a str,
}

/// Parse a header — the 16 fixed characters and the optional blocks — from the start of
/// `text`, without looking at what follows. Returns the header and its length.
pub fn parse_header(text: &str) -> Result<(Header, usize)> {
    if !text.is_ascii() {
        return Err(bad("contains non-ASCII characters"));
    }
    let bytes = text.as_bytes();
    if bytes.len() < FIXED_HEADER_LENGTH {
        return Err(bad(format!("is {} characters, shorter than the 16-character header", bytes.len())));
    }
    let version = Version::from_id(bytes[0])?;
    decimal(&bytes[1..5]).ok_or_else(|| bad("length field is not 4 decimal digits"))?;
    let key_usage = [bytes[5], bytes[6]];
    let key_version = [bytes[9], bytes[10]];
    let reserved = [bytes[14], bytes[15]];
    check_alphanumeric("key usage", &key_usage)?;
    check_alphanumeric("algorithm", &bytes[7..8])?;
    check_alphanumeric("mode of use", &bytes[8..9])?;
    check_alphanumeric("key version", &key_version)?;
    check_alphanumeric("exportability", &bytes[11..12])?;
    let count = decimal(&bytes[12..14]).ok_or_else(|| bad("number of optional blocks is not 2 decimal digits"))?;
    check_alphanumeric("reserved field", &reserved)?;
    let mut optional_blocks = Vec::with_capacity(count);
    let mut position = FIXED_HEADER_LENGTH;
    for index in 1..=count {
        let (optional, end) = parse_optional_block(bytes, position, index)?;
        optional_blocks.push(optional);
        position = end;
    }
    let header = Header {
        version,
        key_usage,
        algorithm: bytes[7],
        mode_of_use: bytes[8],
        key_version,
        exportability: bytes[11],
        optional_blocks,
        reserved,
    };
    Ok((header, position))
}

fn split(block: &str) -> Result<Parts<'_>> {
    let (header, position) = parse_header(block)?;
    let bytes = block.as_bytes();
    let version = header.version;
    let declared = decimal(&bytes[1..5]).ok_or_else(|| bad("length field is not 4 decimal digits"))?;
    if declared != bytes.len() {
        return Err(bad(format!("length field says {declared} characters but the block has {}", bytes.len())));
    }
    let header_length = position;
    let size = version.block_size();
    if !header_length.is_multiple_of(size) {
        return Err(bad(format!(
            "header is {header_length} characters, not a multiple of the {size}-byte cipher block of version {}",
            char::from(version.id())
        )));
    }
    let mac_hex_length = 2 * version.mac_length();
    let rest = bytes.len() - header_length;
    if rest < mac_hex_length + 2 * size {
        return Err(bad(format!(
            "has {rest} characters after the header: too few for one encrypted block and a {mac_hex_length}-character MAC"
        )));
    }
    let encrypted_length = rest - mac_hex_length;
    if !encrypted_length.is_multiple_of(2 * size) {
        return Err(bad(format!(
            "encrypted key data is {encrypted_length} characters, not a whole number of {size}-byte blocks"
        )));
    }
    let mac_start = header_length + encrypted_length;
    Ok(Parts {
        header,
        header_text: &block[..header_length],
        encrypted_hex: &block[header_length..mac_start],
        mac_hex: &block[mac_start..],
    })
}

/// Parse optional block number `index` at `start`; returns it and where the next one starts.
fn parse_optional_block(bytes: &[u8], start: usize, index: usize) -> Result<(OptionalBlock, usize)> {
    let truncated = || bad(format!("optional block {index} runs past the end of the block"));
    let id_bytes = bytes.get(start..start + 2).ok_or_else(truncated)?;
    let id = [id_bytes[0], id_bytes[1]];
    if !id.iter().all(u8::is_ascii_alphanumeric) {
        return Err(bad(format!("optional block {index} ID {} is not 2 alphanumeric characters", show(&id))));
    }
    let name = show(&id);
    let short = bytes.get(start + 2..start + 4).ok_or_else(truncated)?;
    let short = hex_number(short).ok_or_else(|| bad(format!("optional block {name} length is not 2 hex digits")))?;
    let (length, data_start) = if short != 0 {
        (short, start + 4)
    } else {
        let of_length = bytes.get(start + 4..start + 6).ok_or_else(truncated)?;
        let of_length = hex_number(of_length)
            .filter(|&n| (1..=2).contains(&n))
            .ok_or_else(|| bad(format!("optional block {name} extended length-of-length is not 01 or 02")))?;
        let digits = bytes.get(start + 6..start + 6 + 2 * of_length).ok_or_else(truncated)?;
        let length =
            hex_number(digits).ok_or_else(|| bad(format!("optional block {name} extended length is not hex")))?;
        (length, start + 6 + 2 * of_length)
    };
    if length < data_start - start {
        return Err(bad(format!("optional block {name} length {length} does not cover its ID and length field")));
    }
    let end = start + length;
    let data = bytes.get(data_start..end).ok_or_else(truncated)?;
    if !data.iter().copied().all(is_printable) {
        return Err(bad(format!("optional block {name} data is not printable ASCII")));
    }
    let data = String::from_utf8_lossy(data).into_owned();
    Ok((OptionalBlock { id, data }, end))
}

/// Derive the key block encryption key (KBEK) and authentication key (KBAK) from a KBPK:
/// variants (`45…`, `4D…`) for A and C, CMAC derivation for B (TDES) and D (AES).
pub fn derive_keys(version: Version, kbpk: &[u8]) -> Result<(Secret, Secret)> {
    check_kbpk(version, kbpk)?;
    match version {
        Version::A | Version::C => Ok((
            Secret::from_vec(xor(kbpk, &vec![0x45; kbpk.len()])),
            Secret::from_vec(xor(kbpk, &vec![0x4D; kbpk.len()])),
        )),
        Version::B | Version::D => {
            let cipher = if version == Version::D { Cipher::aes(kbpk)? } else { Cipher::tdes(kbpk)? };
            // Algorithm code and key length in bits, for the KBPK's own algorithm.
            let (algorithm, bits): (u16, u16) = match (version, kbpk.len()) {
                (Version::B, 16) => (0x0000, 0x0080),
                (Version::B, _) => (0x0001, 0x00C0),
                (_, 16) => (0x0002, 0x0080),
                (_, 24) => (0x0003, 0x00C0),
                _ => (0x0004, 0x0100),
            };
            let derive = |key_usage: u16| {
                let mut out = Zeroizing::new(Vec::with_capacity(kbpk.len() + 16));
                let mut counter = 1u8;
                while out.len() < kbpk.len() {
                    let mut input = [0u8; 8];
                    input[0] = counter;
                    input[1..3].copy_from_slice(&key_usage.to_be_bytes());
                    input[4..6].copy_from_slice(&algorithm.to_be_bytes());
                    input[6..8].copy_from_slice(&bits.to_be_bytes());
                    out.extend_from_slice(&mac::cmac(&cipher, &input));
                    counter += 1;
                }
                Secret::new(&out[..kbpk.len()])
            };
            Ok((derive(0x0000), derive(0x0001)))
        }
    }
}

/// Wrap `key` under `kbpk` in a version B or D key block with `header`. The payload is padded
/// with random bytes to the next cipher block. Any `PB` block in `header` is replaced by one
/// that aligns the header to the cipher block, if it needs one.
pub fn wrap(kbpk: &[u8], header: &Header, key: &[u8]) -> Result<String> {
    wrap_masked(kbpk, header, key, 0)
}

/// As [`wrap`], but pad the payload as if the key were `masked_length` bytes long (when that
/// is longer), so the block does not reveal the key length: e.g. 24 to make a 2-key TDES key
/// look like a 3-key one, or 32 for any AES key.
pub fn wrap_masked(kbpk: &[u8], header: &Header, key: &[u8], masked_length: usize) -> Result<String> {
    let version = header.version;
    if version.is_variant() {
        return Err(Error::Unsupported("wrapping in TR-31 versions A or C (variant binding is import-only)"));
    }
    check_kbpk(version, kbpk)?;
    header.validate()?;
    check_key(header, kbpk, key)?;
    let header = header.aligned();
    let size = version.block_size();
    let mac_length = version.mac_length();
    let payload_length = (2 + key.len().max(masked_length)).div_ceil(size) * size;
    let block_length = header.encoded_len() + 2 * payload_length + 2 * mac_length;
    if block_length > MAX_BLOCK_LENGTH {
        return Err(Error::KeyBlock(format!(
            "the block would be {block_length} characters; at most {MAX_BLOCK_LENGTH}"
        )));
    }
    let header_text = header.encode(block_length)?;

    let padding = Secret::random(payload_length - 2 - key.len())?;
    let bits = u16::try_from(key.len() * 8).map_err(|_| Error::input("key", "too long for a key block"))?;
    let mut payload = Zeroizing::new(Vec::with_capacity(payload_length));
    payload.extend_from_slice(&bits.to_be_bytes());
    payload.extend_from_slice(key);
    payload.extend_from_slice(padding.expose());

    let (kbek, kbak) = derive_keys(version, kbpk)?;
    let (encryption, authentication) = ciphers(version, &kbek, &kbak)?;
    let mut mac_input = Zeroizing::new(Vec::with_capacity(header_text.len() + payload_length));
    mac_input.extend_from_slice(header_text.as_bytes());
    mac_input.extend_from_slice(&payload);
    let mac = mac::cmac(&authentication, &mac_input);
    encryption.cbc_encrypt(&mac, &mut payload)?;

    let mut out = header_text;
    out.push_str(&iso8583::hex::encode(&payload));
    out.push_str(&iso8583::hex::encode(&mac));
    debug_assert_eq!(out.len(), block_length);
    Ok(out)
}

/// Open a key block of version A, B, C or D under `kbpk`: check the framing, verify the MAC
/// (in constant time), and only then read the key length and return the header and key.
pub fn unwrap(kbpk: &[u8], block: &str) -> Result<(Header, Secret)> {
    let parts = split(block)?;
    let version = parts.header.version;
    check_kbpk(version, kbpk)?;
    let mut payload = Zeroizing::new(decode_hex(parts.encrypted_hex, "encrypted key data")?);
    let received_mac = decode_hex(parts.mac_hex, "MAC")?;
    let (kbek, kbak) = derive_keys(version, kbpk)?;
    let (encryption, authentication) = ciphers(version, &kbek, &kbak)?;
    if version.is_variant() {
        // MAC over the header and the *encrypted* key data; IV = the first 8 header characters.
        let mut mac_input = parts.header_text.as_bytes().to_vec();
        mac_input.extend_from_slice(&payload);
        let mac = mac::cbc_mac(&authentication, &mac_input, Padding::Method1);
        mac::verify(&mac[..version.mac_length()], &received_mac).map_err(|_| key_block_mac())?;
        encryption.cbc_decrypt(&parts.header_text.as_bytes()[..8], &mut payload)?;
    } else {
        // The MAC is the IV, and it covers the header and the *clear* payload.
        encryption.cbc_decrypt(&received_mac, &mut payload)?;
        let mut mac_input = Zeroizing::new(Vec::with_capacity(parts.header_text.len() + payload.len()));
        mac_input.extend_from_slice(parts.header_text.as_bytes());
        mac_input.extend_from_slice(&payload);
        let mac = mac::cmac(&authentication, &mac_input);
        mac::verify(&mac, &received_mac).map_err(|_| key_block_mac())?;
    }
    let bits = usize::from(u16::from_be_bytes([payload[0], payload[1]]));
    if bits == 0 || !bits.is_multiple_of(8) {
        return Err(bad(format!("key length field ({bits} bits) is not a positive whole number of bytes")));
    }
    let length = bits / 8;
    if 2 + length > payload.len() {
        return Err(bad(format!(
            "key length field ({bits} bits) is longer than the {}-byte payload allows",
            payload.len()
        )));
    }
    Ok((parts.header, Secret::new(&payload[2..2 + length])))
}

fn ciphers(version: Version, kbek: &Secret, kbak: &Secret) -> Result<(Cipher, Cipher)> {
    if version == Version::D {
        Ok((Cipher::aes(kbek.expose())?, Cipher::aes(kbak.expose())?))
    } else {
        Ok((Cipher::tdes(kbek.expose())?, Cipher::tdes(kbak.expose())?))
    }
}

fn check_kbpk(version: Version, kbpk: &[u8]) -> Result<()> {
    match (version, kbpk.len()) {
        (Version::D, 16 | 24 | 32) => Ok(()),
        (Version::D, length) => Err(Error::key_length("TR-31 version D KBPK (AES)", "16, 24 or 32", length)),
        (_, 16 | 24) => Ok(()),
        (_, length) => Err(Error::key_length("TR-31 version A, B or C KBPK (TDES)", "16 or 24", length)),
    }
}

/// The key's length fits its algorithm, and the KBPK is at least as strong as the key.
fn check_key(header: &Header, kbpk: &[u8], key: &[u8]) -> Result<()> {
    if key.is_empty() {
        return Err(Error::input("key", "is empty"));
    }
    let (name, lengths): (&'static str, &[usize]) = match header.algorithm {
        algorithm::TDES => ("TDES", &[16, 24]),
        algorithm::DES => ("DES", &[8]),
        algorithm::AES => ("AES", &[16, 24, 32]),
        _ => ("", &[]),
    };
    if !lengths.is_empty() && !lengths.contains(&key.len()) {
        let expected = match header.algorithm {
            algorithm::TDES => "16 or 24",
            algorithm::DES => "8",
            _ => "16, 24 or 32",
        };
        return Err(Error::key_length(name, expected, key.len()));
    }
    let weaker = match (header.version, header.algorithm) {
        // A TDES KBPK protects DES and TDES keys no longer than itself, and no AES key.
        (Version::B, algorithm::AES) => true,
        (Version::B, algorithm::TDES | algorithm::DES) => key.len() > kbpk.len(),
        // Any TDES key is weaker than any AES KBPK; AES keys must not outsize it.
        (Version::D, algorithm::AES) => key.len() > kbpk.len(),
        _ => false,
    };
    if weaker {
        return Err(Error::KeyBlock(format!(
            "a {}-byte {name} key may not be protected by a weaker {}-byte KBPK",
            key.len(),
            kbpk.len()
        )));
    }
    Ok(())
}

fn decode_hex(text: &str, what: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 2);
    iso8583::hex::decode_upper_into(text.as_bytes(), &mut out)
        .map_err(|_| bad(format!("{what} is not uppercase hex")))?;
    Ok(out)
}

fn key_block_mac() -> Error {
    Error::Verification("key block MAC")
}

fn bad(why: impl Into<String>) -> Error {
    Error::KeyBlock(why.into())
}

fn check_alphanumeric(what: &str, field: &[u8]) -> Result<()> {
    if field.iter().all(u8::is_ascii_alphanumeric) {
        Ok(())
    } else {
        Err(bad(format!("{what} {} is not alphanumeric", show(field))))
    }
}

fn is_printable(byte: u8) -> bool {
    (0x20..=0x7E).contains(&byte)
}

/// A header field for an error message: quoted, with anything unprintable escaped.
fn show(field: &[u8]) -> String {
    format!("\"{}\"", field.escape_ascii())
}

fn decimal(digits: &[u8]) -> Option<usize> {
    digits.iter().try_fold(0usize, |n, &d| d.is_ascii_digit().then(|| n * 10 + usize::from(d - b'0')))
}

fn hex_number(digits: &[u8]) -> Option<usize> {
    digits.iter().try_fold(0usize, |n, &d| iso8583::hex::nibble_upper(d).map(|v| n * 16 + usize::from(v)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_with_extended_and_padding_blocks() {
        let header = Header::new(Version::B, usage::BDK, algorithm::TDES, mode::DERIVE, exportability::SENSITIVE)
            .with_optional_block(*b"KS", "00604B120F9292800000")
            .with_optional_block(*b"T1", "P".repeat(300));
        let aligned = header.aligned();
        assert_eq!(aligned.encoded_len() % 8, 0);
        assert_eq!(aligned.optional_blocks.last().unwrap().id, *b"PB");
        let text = aligned.encode(aligned.encoded_len() + 48 + 16).unwrap();
        assert!(text.contains(&format!("T100020136{}", "P".repeat(300))), "{text}");
        let block = format!("{text}{}", "0".repeat(64));
        assert_eq!(Header::parse(&block).unwrap(), aligned);
    }

    #[test]
    fn pad_block_is_at_least_four_characters() {
        // 16 + 22 = 38 characters: 2 short of 40, so the PB block takes 10 (to 48).
        let header = Header::new(Version::B, usage::BDK, algorithm::TDES, mode::DERIVE, exportability::SENSITIVE)
            .with_optional_block(*b"KS", "00604B120F92928000");
        let aligned = header.aligned();
        assert_eq!(aligned.encoded_len(), 48);
        assert_eq!(aligned.optional_block(*b"PB"), Some("000000"));
    }
}
