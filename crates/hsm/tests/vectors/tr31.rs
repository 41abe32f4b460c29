//! TR-31 / ANSI X9.143 key blocks: every `tr31-*` vector is unwrapped under its KBPK, its
//! derived KBEK/KBAK intermediates are compared, its header fields are checked against the
//! block text, and the key is wrapped again with the same header to check that the new block
//! opens and has the same length (the vectors use minimal padding).
use hsm::tr31::{self, Header, Version};
use serde_json::Value;

use super::{hex_at, opt_str, str_at};

pub fn check(vector: &Value) {
    let id = str_at(vector, "/id");
    let kbpk = hex_at(vector, "/inputs/kbpk");
    let block = str_at(vector, "/inputs/key_block");
    let expected_key = hex_at(vector, "/expected/wrapped_key");

    let header = Header::parse(block).unwrap_or_else(|e| panic!("{id}: header: {e}"));
    let version = Version::from_id(block.as_bytes()[0]).unwrap();
    assert_eq!(header.version, version, "{id}: version");
    assert_eq!(&header.key_usage, &block.as_bytes()[5..7], "{id}: key usage");
    assert_eq!(header.algorithm, block.as_bytes()[7], "{id}: algorithm");
    assert_eq!(header.mode_of_use, block.as_bytes()[8], "{id}: mode of use");
    assert_eq!(&header.key_version, &block.as_bytes()[9..11], "{id}: key version");
    assert_eq!(header.exportability, block.as_bytes()[11], "{id}: exportability");
    assert_eq!(header.optional_blocks.len(), block[12..14].parse::<usize>().unwrap(), "{id}: optional block count");
    assert_eq!(&header.reserved, &block.as_bytes()[14..16], "{id}: reserved");
    let header_text = header.encode(block.len()).unwrap();
    assert!(block.starts_with(&header_text), "{id}: header re-encodes as {header_text}");

    if let (Some(kbek), Some(kbak)) = (opt_str(vector, "/intermediates/KBEK"), opt_str(vector, "/intermediates/KBAK")) {
        let (derived_kbek, derived_kbak) = tr31::derive_keys(version, &kbpk).unwrap();
        assert_eq!(iso8583::hex::encode(derived_kbek.expose()), kbek, "{id}: KBEK");
        assert_eq!(iso8583::hex::encode(derived_kbak.expose()), kbak, "{id}: KBAK");
    }

    let (unwrapped_header, key) = tr31::unwrap(&kbpk, block).unwrap_or_else(|e| panic!("{id}: unwrap: {e}"));
    assert_eq!(unwrapped_header, header, "{id}: unwrapped header");
    assert_eq!(iso8583::hex::encode(key.expose()), iso8583::hex::encode(&expected_key), "{id}: wrapped key");

    if !version.is_variant() {
        let again = tr31::wrap(&kbpk, &header, key.expose()).unwrap_or_else(|e| panic!("{id}: wrap: {e}"));
        assert_eq!(again.len(), block.len(), "{id}: re-wrapped length");
        assert!(again.starts_with(&header_text), "{id}: re-wrapped header");
        let (_, key_again) = tr31::unwrap(&kbpk, &again).unwrap();
        assert_eq!(key_again, key, "{id}: re-wrapped key");
    }
}
