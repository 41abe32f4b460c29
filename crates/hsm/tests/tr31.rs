//! TR-31 / ANSI X9.143 key blocks: wrap→unwrap round trips for versions B and D, tampering,
//! wrong and truncated input, header parsing errors, and errors that never show key bytes.
//! (The published vectors are checked in `tests/vectors/tr31.rs`.)

use hsm::Error;
use hsm::cipher::Cipher;
use hsm::mac;
use hsm::tr31::{self, Header, OptionalBlock, Version, algorithm, exportability, mode, usage};
use iso8583::hex;

fn h(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap()
}

/// A key with no repeated bytes, so its hex is unlikely to appear by chance.
fn key(length: usize, seed: u8) -> Vec<u8> {
    (0..length).map(|i| seed.wrapping_add((i as u8).wrapping_mul(37)) ^ 0x5A).collect()
}

fn expect_key_block_error(result: Result<impl std::fmt::Debug, Error>, contains: &str) {
    match result {
        Err(Error::KeyBlock(why)) => assert!(why.contains(contains), "{why:?} does not mention {contains:?}"),
        other => panic!("expected a key block error mentioning {contains:?}, got {other:?}"),
    }
}

/// Every error message (Display and Debug) from unwrapping `block` must leave out the key.
fn assert_error_hides(result: Result<(Header, hsm::Secret), Error>, secret: &[u8]) {
    let Err(error) = result else { panic!("expected an error") };
    let secret_hex = hex::encode(secret);
    for shown in [error.to_string(), format!("{error:?}")] {
        assert!(!shown.to_uppercase().contains(&secret_hex), "{shown} contains the key");
        assert!(!shown.to_uppercase().contains(&secret_hex[..8]), "{shown} contains part of the key");
    }
}

#[test]
fn version_b_round_trips() {
    for kbpk_length in [16, 24] {
        let kbpk = key(kbpk_length, 1);
        for (algorithm, key_length) in [(algorithm::TDES, 16), (algorithm::TDES, 24), (algorithm::DES, 8)] {
            if key_length > kbpk_length {
                continue;
            }
            let clear = key(key_length, 99);
            let header = Header::new(Version::B, usage::PIN_ENCRYPTION, algorithm, mode::ENCRYPT_ONLY, b'E');
            let block = tr31::wrap(&kbpk, &header, &clear).unwrap();
            assert_eq!(block[1..5].parse::<usize>().unwrap(), block.len());
            assert_eq!(block, block.to_uppercase());
            // 16 header + payload (2 + key, padded to 8) + 8-byte MAC, in hex.
            assert_eq!(block.len(), 16 + 2 * (2 + key_length).div_ceil(8) * 8 + 16);
            let (opened, unwrapped) = tr31::unwrap(&kbpk, &block).unwrap();
            assert_eq!(opened, header);
            assert_eq!(unwrapped.expose(), clear.as_slice());
        }
    }
}

#[test]
fn version_d_round_trips() {
    let cases: &[(u8, usize)] = &[
        (algorithm::AES, 16),
        (algorithm::AES, 24),
        (algorithm::AES, 32),
        (algorithm::TDES, 16),
        (algorithm::TDES, 24),
        (algorithm::HMAC, 64),
    ];
    for kbpk_length in [16, 24, 32] {
        let kbpk = key(kbpk_length, 7);
        for &(algorithm, key_length) in cases {
            if algorithm == algorithm::AES && key_length > kbpk_length {
                continue;
            }
            let clear = key(key_length, 42);
            let header = Header::new(Version::D, usage::DATA_ENCRYPTION, algorithm, mode::ENCRYPT_DECRYPT, b'N');
            let block = tr31::wrap(&kbpk, &header, &clear).unwrap();
            assert_eq!(block.len(), 16 + 2 * (2 + key_length).div_ceil(16) * 16 + 32);
            let (opened, unwrapped) = tr31::unwrap(&kbpk, &block).unwrap();
            assert_eq!(opened, header);
            assert_eq!(unwrapped.expose(), clear.as_slice());
        }
    }
}

#[test]
fn optional_blocks_round_trip_and_the_header_is_aligned() {
    let long = "X".repeat(300);
    let headers = [
        Header::new(Version::B, usage::BDK, algorithm::TDES, mode::DERIVE, exportability::SENSITIVE)
            .with_key_version(*b"12")
            .with_optional_block(*b"KS", "00604B120F9292800000"),
        Header::new(Version::D, usage::BDK, algorithm::AES, mode::DERIVE, exportability::SENSITIVE)
            .with_optional_block(*b"KS", "00604B120F9292800000"),
        Header::new(Version::D, usage::MAC_CMAC, algorithm::AES, mode::GENERATE_VERIFY, exportability::NON_EXPORTABLE)
            .with_optional_block(*b"KC", "0108793E25AB")
            .with_optional_block(*b"T1", "")
            .with_optional_block(*b"LB", "a label with spaces & punctuation!"),
        Header::new(Version::B, usage::KEK, algorithm::TDES, mode::ENCRYPT_DECRYPT, exportability::TRUSTED)
            .with_optional_block(*b"KS", "00604B120F92928000")
            .with_optional_block(*b"HM", long.clone()),
    ];
    for header in headers {
        let size = header.version.block_size();
        let kbpk = key(if header.version == Version::D { 32 } else { 24 }, 3);
        let clear = key(16, 5);
        let block = tr31::wrap(&kbpk, &header, &clear).unwrap();
        let (opened, unwrapped) = tr31::unwrap(&kbpk, &block).unwrap();
        assert_eq!(unwrapped.expose(), clear.as_slice());
        // The header comes back with its blocks in order, plus a PB block if one was needed.
        let mut without_padding = opened.clone();
        without_padding.optional_blocks.retain(|block| block.id != *b"PB");
        assert_eq!(without_padding, header);
        assert_eq!(opened.encoded_len() % size, 0, "{block}");
        if header.encoded_len() % size != 0 {
            assert_eq!(opened.optional_blocks.last().map(|block| block.id), Some(*b"PB"));
        }
        // Wrapping the opened header again does not stack a second PB block.
        let again = tr31::wrap(&kbpk, &opened, &clear).unwrap();
        assert_eq!(again.len(), block.len());
        assert_eq!(Header::parse(&again).unwrap(), opened);
    }
    let header = Header::parse(
        &tr31::wrap(
            &key(24, 1),
            &Header::new(Version::B, usage::KEK, algorithm::TDES, mode::NONE, b'E').with_optional_block(*b"HM", long),
            &key(16, 2),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(header.optional_block(*b"HM").map(str::len), Some(300));
}

#[test]
fn masking_hides_the_key_length_and_padding_is_random() {
    let kbpk = key(32, 9);
    let header = Header::new(Version::D, usage::DATA_ENCRYPTION, algorithm::AES, mode::ENCRYPT_DECRYPT, b'N');
    let lengths: Vec<usize> =
        [16, 24, 32].iter().map(|&n| tr31::wrap_masked(&kbpk, &header, &key(n, 1), 32).unwrap().len()).collect();
    assert_eq!(lengths, [lengths[0]; 3]);
    let first = tr31::wrap(&kbpk, &header, &key(16, 1)).unwrap();
    let second = tr31::wrap(&kbpk, &header, &key(16, 1)).unwrap();
    assert_ne!(first, second, "random padding makes each block different");
    let masked = tr31::wrap_masked(&kbpk, &header, &key(16, 1), 32).unwrap();
    assert_eq!(tr31::unwrap(&kbpk, &masked).unwrap().1.expose(), key(16, 1).as_slice());
}

fn sample_blocks() -> Vec<(Vec<u8>, String, Vec<u8>)> {
    let b_kbpk = key(16, 11);
    let d_kbpk = key(32, 12);
    let clear_tdes = key(16, 13);
    let clear_aes = key(32, 14);
    let b = tr31::wrap(
        &b_kbpk,
        &Header::new(Version::B, usage::PIN_ENCRYPTION, algorithm::TDES, mode::ENCRYPT_ONLY, b'E')
            .with_optional_block(*b"KS", "00604B120F9292800000"),
        &clear_tdes,
    )
    .unwrap();
    let d = tr31::wrap(
        &d_kbpk,
        &Header::new(Version::D, usage::KEK, algorithm::AES, mode::ENCRYPT_DECRYPT, b'N')
            .with_optional_block(*b"KS", "00604B120F9292800000"),
        &clear_aes,
    )
    .unwrap();
    // Version A and C (import only): psec 1.3.0 tests/test_tr31.py known values.
    let a_kbpk = h("89E88CF7931444F334BD7547FC3F380C");
    let a_key = h("F039121BEC83D26B169BDCD5B22AAF8F");
    let a = "A0072P0TE00E0000F5161ED902807AF26F1D62263644BD24192FDB3193C730301CEE8701".to_string();
    let c_kbpk = h("B8ED59E0A279A295E9F5ED7944FD06B9");
    let c_key = h("EDB380DD340BC2620247D445F5B8D678");
    let c =
        "C0096B0TX12S0100KS1800604B120F9292800000BFB9B689CB567E66FC3FEE5AD5F52161FC6545B9D60989015D02155C".to_string();
    vec![(b_kbpk, b, clear_tdes), (d_kbpk, d, clear_aes), (a_kbpk, a, a_key), (c_kbpk, c, c_key)]
}

#[test]
fn variant_versions_a_and_c_unwrap_third_party_blocks() {
    // psec 1.3.0 tests/test_tr31.py (test_kb_known_values); these are not in the reference JSON.
    let cases = [
        (
            "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB",
            "EEEEEEEEEEEEEEEE",
            "A0088M3TC00E000062C2C14D8785A01A9E8283525CA96F490D0CC6346FC7C2AC1E6FF354468910379AA5BBA6",
        ),
        (
            "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB",
            "EEEEEEEEEEEEEEEE",
            "C0088M3TC00E0000A53CF172FE6562E7FDD5E6482E8925DA46F7FFE4D1BAD49EB33A9EDBB96A8A8D39F13A31",
        ),
        (
            "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCC",
            "CCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD",
            "A0088M3TC00E000022BD7EC46BBE2A6A73389D1BA6DB63120B386F912839F4679C0523399E4D8D0F1D9A356E",
        ),
        (
            "89E88CF7931444F334BD7547FC3F380C",
            "F039121BEC83D26B169BDCD5B22AAF8F",
            "A0072P0TE00E0000F5161ED902807AF26F1D62263644BD24192FDB3193C730301CEE8701",
        ),
        (
            "B8ED59E0A279A295E9F5ED7944FD06B9",
            "EDB380DD340BC2620247D445F5B8D678",
            "C0096B0TX12S0100KS1800604B120F9292800000BFB9B689CB567E66FC3FEE5AD5F52161FC6545B9D60989015D02155C",
        ),
        (
            "B8ED59E0A279A295E9F5ED7944FD06B9",
            "F039121BEC83D26B169BDCD5B22AAF8F",
            "A0112P0TE12E0200KS1400604B120F929280PB047A1BB737854CD7AF58A8A1E4506A942277EDA76EBA6BA228AF62ADDA3AD8799E8B2C8CD7",
        ),
        // Version B from the same table (a 1-DES-length key hidden in a 3-key-sized payload).
        (
            "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBB",
            "EEEEEEEEEEEEEEEE",
            "B0096M3TC00E0000B6CD513680EF255FC0DC590726FD0129A7CF6602E7F271631AB4EE7350642F11181AF4CC12F12FD9",
        ),
    ];
    for (kbpk, clear, block) in cases {
        let (header, unwrapped) = tr31::unwrap(&h(kbpk), block).unwrap_or_else(|e| panic!("{block}: {e}"));
        assert_eq!(hex::encode(unwrapped.expose()), clear, "{block}");
        assert_eq!(header.version, Version::from_id(block.as_bytes()[0]).unwrap());
    }
    let (header, _) = tr31::unwrap(&h(cases[5].0), cases[5].2).unwrap();
    assert_eq!(header.optional_block(*b"KS"), Some("00604B120F929280"));
    assert_eq!(header.optional_block(*b"PB"), Some(""));
    assert_eq!(header.key_version, *b"12");
    let (kbek, kbak) = tr31::derive_keys(Version::A, &h("89E88CF7931444F334BD7547FC3F380C")).unwrap();
    assert_eq!(hex::encode(kbek.expose()), "CCADC9B2D65101B671F83002B97A7D49");
    assert_eq!(hex::encode(kbak.expose()), "C4A5C1BADE5909BE79F0380AB1727541");
}

#[test]
fn a_flipped_bit_anywhere_is_rejected() {
    for (kbpk, block, clear) in sample_blocks() {
        tr31::unwrap(&kbpk, &block).unwrap();
        for position in 0..block.len() {
            for bit in 0..8 {
                let mut bytes = block.clone().into_bytes();
                bytes[position] ^= 1 << bit;
                let tampered = String::from_utf8_lossy(&bytes).into_owned();
                let result = tr31::unwrap(&kbpk, &tampered);
                assert!(result.is_err(), "bit {bit} of character {position} flipped in {block} was accepted");
                assert_error_hides(result, &clear);
            }
        }
    }
}

#[test]
fn a_wrong_kbpk_is_rejected() {
    for (kbpk, block, clear) in sample_blocks() {
        let mut wrong = kbpk.clone();
        wrong[0] ^= 0x10;
        let result = tr31::unwrap(&wrong, &block);
        assert!(matches!(result, Err(Error::Verification("key block MAC"))), "{result:?}");
        assert_error_hides(result, &clear);
        let short = &kbpk[..8];
        assert!(matches!(tr31::unwrap(short, &block), Err(Error::KeyLength { .. })));
    }
    // A TDES KBPK cannot open an AES block, nor an AES-sized one a TDES block.
    let (d_kbpk, d_block, _) = sample_blocks().swap_remove(1);
    assert!(matches!(tr31::unwrap(&d_kbpk[..24], &d_block), Err(Error::Verification(_))));
    assert!(matches!(tr31::unwrap(&key(32, 1), &sample_blocks()[0].1), Err(Error::KeyLength { .. })));
}

#[test]
fn truncated_blocks_are_rejected() {
    for (kbpk, block, clear) in sample_blocks() {
        for length in 0..block.len() {
            let result = tr31::unwrap(&kbpk, &block[..length]);
            assert!(result.is_err(), "{length} characters of {block} were accepted");
            assert_error_hides(result, &clear);
        }
        // Drop the last encrypted block and fix the length field: the framing is valid, the MAC is not.
        let version = Version::from_id(block.as_bytes()[0]).unwrap();
        let hex_block = 2 * version.block_size();
        let mac_hex = 2 * version.mac_length();
        let cut = block.len() - mac_hex - hex_block;
        let shortened =
            format!("{}{:04}{}{}", &block[..1], block.len() - hex_block, &block[5..cut], &block[cut + hex_block..]);
        if Header::parse(&shortened).is_ok() {
            let result = tr31::unwrap(&kbpk, &shortened);
            assert!(matches!(result, Err(Error::Verification(_))), "{result:?}");
        }
        // Extra characters at the end.
        expect_key_block_error(tr31::unwrap(&kbpk, &format!("{block}00")), "length field");
    }
}

/// Build a version-B block by hand with a chosen clear payload (valid MAC), to reach the checks
/// that run after MAC verification.
fn hand_made_b_block(kbpk: &[u8], payload: &[u8]) -> String {
    let header = format!("B{:04}P0TE00E0000", 16 + 2 * payload.len() + 16);
    let (kbek, kbak) = tr31::derive_keys(Version::B, kbpk).unwrap();
    let mut mac_input = header.as_bytes().to_vec();
    mac_input.extend_from_slice(payload);
    let mac = mac::cmac(&Cipher::tdes(kbak.expose()).unwrap(), &mac_input);
    let mut ciphertext = payload.to_vec();
    Cipher::tdes(kbek.expose()).unwrap().cbc_encrypt(&mac, &mut ciphertext).unwrap();
    format!("{header}{}{}", hex::encode(&ciphertext), hex::encode(&mac))
}

#[test]
fn key_length_fields_are_checked_after_the_mac() {
    let kbpk = key(16, 21);
    let clear = key(16, 22);
    let mut payload = vec![0x00, 0x80];
    payload.extend_from_slice(&clear);
    payload.extend_from_slice(&[0; 6]);
    // The hand-made block itself is well formed.
    assert_eq!(tr31::unwrap(&kbpk, &hand_made_b_block(&kbpk, &payload)).unwrap().1.expose(), clear.as_slice());
    for (bits, reason) in
        [([0x00, 0x00], "not a positive"), ([0x00, 0x81], "not a positive"), ([0x00, 0xC0], "longer than")]
    {
        payload[..2].copy_from_slice(&bits);
        let block = hand_made_b_block(&kbpk, &payload);
        expect_key_block_error(tr31::unwrap(&kbpk, &block), reason);
        assert_error_hides(tr31::unwrap(&kbpk, &block), &clear);
    }
    // 8 bytes of payload can hold at most a 6-byte key.
    payload[..2].copy_from_slice(&[0x00, 0x38]);
    expect_key_block_error(tr31::unwrap(&kbpk, &hand_made_b_block(&kbpk, &payload[..8])), "longer than");
}

#[test]
fn header_parsing_errors_are_precise() {
    let mac = "0".repeat(32);
    // "LLLL" is replaced by the block's real length, so each case fails where it says.
    let cases = [
        ("", "shorter than the 16-character header"),
        ("BLLLLP0TE00E00", "shorter than the 16-character header"),
        ("XLLLLP0TE00E0000", "version \"X\" is not supported"),
        ("B00X6P0TE00E0000", "length field is not 4 decimal digits"),
        ("B0099P0TE00E0000", "length field says 99 characters but the block has 16"),
        ("BLLLLP_TE00E0000", "key usage \"P_\" is not alphanumeric"),
        ("BLLLLP0T-00E0000", "mode of use \"-\" is not alphanumeric"),
        ("BLLLLP0TE0.E0000", "key version \"0.\" is not alphanumeric"),
        ("BLLLLP0TE00E0X00", "number of optional blocks is not 2 decimal digits"),
        ("BLLLLP0TE00E00\x010", "reserved field \"\\x010\" is not alphanumeric"),
        ("BLLLLP0TE00E0100KS", "optional block 1 runs past the end"),
        ("BLLLLP0TE00E0100**04", "optional block 1 ID \"**\" is not 2 alphanumeric"),
        ("BLLLLP0TE00E0100KS1Y", "optional block \"KS\" length is not 2 hex digits"),
        ("BLLLLP0TE00E0100KS03", "length 3 does not cover its ID and length"),
        ("BLLLLP0TE00E0100KS09", "optional block 1 runs past the end"),
        ("BLLLLP0TE00E0100KS0000", "length-of-length is not 01 or 02"),
        ("BLLLLP0TE00E0100KS00010H", "extended length is not hex"),
        ("BLLLLP0TE00E0100KS000105", "length 5 does not cover"),
        ("BLLLLP0TE00E0100KS06\x03\x03", "optional block \"KS\" data is not printable ASCII"),
        ("BLLLLP0TE00E0200KS04TT0Z", "optional block \"TT\" length is not 2 hex digits"),
        ("BLLLLP0TE00E0200KS04TT08", "optional block 2 runs past the end"),
    ];
    for (case, reason) in cases {
        let block = case.replace("LLLL", &format!("{:04}", case.len()));
        expect_key_block_error(Header::parse(&block), reason);
        expect_key_block_error(tr31::unwrap(&key(16, 1), &block), reason);
    }
    expect_key_block_error(Header::parse("B0016P0TE00E0000é"), "non-ASCII");
    // A header of 20 characters is not a multiple of 8.
    let block = format!("B{:04}P0TE00E0100KS04{}{}", 20 + 16 + 16, "0".repeat(16), &mac[..16]);
    expect_key_block_error(Header::parse(&block), "header is 20 characters, not a multiple of the 8-byte");
    // Version D needs 16-byte alignment: a 24-character header is fine for B, not for D.
    let body = format!("P0AE00E0100KS0800000{}", "0".repeat(32));
    expect_key_block_error(Header::parse(&format!("D{:04}{body}{mac}", 5 + body.len() + 32)), "16-byte cipher block");
    // Room for the encrypted data and MAC.
    expect_key_block_error(Header::parse(&format!("B0032P0TE00E0000{}", &mac[..16])), "too few");
    expect_key_block_error(
        Header::parse(&format!("B0052P0TE00E0000{}{}", "0".repeat(20), &mac[..16])),
        "not a whole number",
    );
    // Hex is checked when unwrapping: uppercase only.
    let good = &sample_blocks()[0];
    let lower = format!("{}{}", &good.1[..40], good.1[40..].to_lowercase());
    expect_key_block_error(tr31::unwrap(&good.0, &lower), "not uppercase hex");
}

#[test]
fn header_parse_reads_all_fields_and_extended_lengths() {
    // psec's extended-length example: KS block with "00" + length-of-length 01 + length 16.
    let text = format!("B0080P0TE00N0200KS00011600604B120F9292PB0A000000{}", "0".repeat(32));
    let header = Header::parse(&text).unwrap();
    assert_eq!(header.version, Version::B);
    assert_eq!(header.key_usage_str(), "P0");
    assert_eq!((header.algorithm, header.mode_of_use, header.exportability), (b'T', b'E', b'N'));
    assert_eq!(header.key_version, *b"00");
    assert_eq!(header.reserved, *b"00");
    assert_eq!(
        header.optional_blocks,
        [OptionalBlock::new(*b"KS", "00604B120F9292"), OptionalBlock::new(*b"PB", "000000")]
    );
    // Re-encoding uses the short length form.
    assert_eq!(header.encode(56).unwrap(), "B0056P0TE00N0200KS1200604B120F9292PB0A000000");
    // A block longer than 255 characters uses the extended form, which parses back.
    let long = Header::new(Version::B, usage::KEK, algorithm::TDES, mode::NONE, b'E')
        .with_optional_block(*b"KS", "P".repeat(256))
        .with_optional_block(*b"PB", "00");
    let encoded = long.encode(16 + 266 + 6 + 32 + 16).unwrap();
    assert!(encoded.starts_with("B0336K0TN00E0200KS0002010A"), "{encoded}");
    assert_eq!(Header::parse(&format!("{encoded}{}", "0".repeat(48))).unwrap(), long);
}

#[test]
fn wrap_rejects_what_it_must_not_make() {
    let header = |version, algorithm| Header::new(version, usage::PIN_ENCRYPTION, algorithm, mode::ENCRYPT_ONLY, b'E');
    // Variant versions are import-only.
    for version in [Version::A, Version::C] {
        assert!(matches!(tr31::wrap(&key(16, 1), &header(version, b'T'), &key(16, 2)), Err(Error::Unsupported(_))));
    }
    // KBPK sizes.
    assert!(matches!(tr31::wrap(&key(8, 1), &header(Version::B, b'T'), &key(16, 2)), Err(Error::KeyLength { .. })));
    assert!(matches!(tr31::wrap(&key(32, 1), &header(Version::B, b'T'), &key(16, 2)), Err(Error::KeyLength { .. })));
    assert!(matches!(tr31::wrap(&key(8, 1), &header(Version::D, b'A'), &key(16, 2)), Err(Error::KeyLength { .. })));
    // Key sizes that do not fit the algorithm.
    assert!(matches!(tr31::wrap(&key(16, 1), &header(Version::B, b'T'), &key(15, 2)), Err(Error::KeyLength { .. })));
    assert!(matches!(tr31::wrap(&key(32, 1), &header(Version::D, b'A'), &key(8, 2)), Err(Error::KeyLength { .. })));
    assert!(tr31::wrap(&key(32, 1), &header(Version::D, b'H'), &[]).is_err());
    // A key stronger than its KBPK.
    expect_key_block_error(tr31::wrap(&key(16, 1), &header(Version::B, b'T'), &key(24, 2)), "weaker");
    expect_key_block_error(tr31::wrap(&key(24, 1), &header(Version::B, b'A'), &key(16, 2)), "weaker");
    expect_key_block_error(tr31::wrap(&key(16, 1), &header(Version::D, b'A'), &key(32, 2)), "weaker");
    // Malformed header fields and optional blocks.
    let mut bad = header(Version::D, b'A');
    bad.key_usage = *b"P?";
    expect_key_block_error(tr31::wrap(&key(32, 1), &bad, &key(16, 2)), "key usage");
    let bad = header(Version::D, b'A').with_optional_block(*b"K-", "x");
    expect_key_block_error(tr31::wrap(&key(32, 1), &bad, &key(16, 2)), "ID");
    let bad = header(Version::D, b'A').with_optional_block(*b"KS", "tab\there");
    expect_key_block_error(tr31::wrap(&key(32, 1), &bad, &key(16, 2)), "printable");
    let big = header(Version::D, b'A').with_optional_block(*b"T1", "P".repeat(9990));
    expect_key_block_error(tr31::wrap(&key(32, 1), &big, &key(16, 2)), "at most 9999");
    // Wrapping errors do not show the key either.
    let error = tr31::wrap(&key(16, 1), &header(Version::B, b'T'), &key(24, 2)).unwrap_err();
    assert!(!error.to_string().contains(&hex::encode(&key(24, 2))[..8]));
}
