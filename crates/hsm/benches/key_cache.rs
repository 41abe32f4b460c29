//! The working-key cache of `SoftHsm`, off (`with_key_cache_entries(0)`: every call unwraps its
//! key blocks, as before the cache) and on (the default bound; after the first call every key
//! comes from the cache), for the operations one authorization repeats most: the network MAC
//! (X9.19 under a ZAK over a swiped 0200 with a PIN, as `network::mac::sign` computes it), ZPK →
//! ZPK PIN translation (the switch), CVV verification and the card-number keyed hash under a
//! DEK (the issuer). Figures in docs/benchmarks.md, "HSM key cache".

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hsm::mac::Padding;
use hsm::pinblock::PinFormat;
use hsm::{KeyAlgorithm, KeyType, MacAlgorithm, PinTranslation, Secret, SecurityModule, SoftHsm};
use iso8583::{Message, Mti};

const PAN: &str = "6224242900000113";

/// A network 0200 as the acquirer sends it, with field 128 present: the MAC covers the body
/// up to it (its last 8 bytes cut off).
fn network_mac_input(pin_block: &[u8]) -> Vec<u8> {
    let mut m = Message::new(iso8583::builtin::network(), Mti::parse("0200").expect("MTI"));
    let fields = [
        (2, PAN),
        (3, "000000"),
        (4, "000000012500"),
        (7, "1204163000"),
        (11, "118204"),
        (12, "163000"),
        (13, "1204"),
        (14, "2806"),
        (18, "5411"),
        (22, "021"),
        (25, "00"),
        (26, "12"),
        (32, "10000000344"),
        (35, "6224242900000113=28062010000000000"),
        (37, "433816118204"),
        (41, "TERM0001"),
        (42, "MERCHANT0000001"),
        (43, "CARDNET TEST STORE       SHANGHAI     CN"),
        (49, "156"),
    ];
    for (field, value) in fields {
        m.set_str(field, value).expect("field");
    }
    m.set(52, pin_block).expect("field 52");
    m.set(128, &[0u8; 8]).expect("field 128");
    let mut body = m.encode().expect("encode");
    body.truncate(body.len() - 8);
    body
}

fn benches(c: &mut Criterion) {
    let lmk = Secret::random(hsm::soft::LMK_LEN).expect("LMK");
    let modules = [
        ("off", SoftHsm::new(lmk.clone()).expect("module").with_key_cache_entries(0)),
        ("on", SoftHsm::new(lmk).expect("module")),
    ];
    // Keys made once; both modules share the LMK, so both open them.
    let hsm = &modules[0].1;
    let zak = hsm.generate_key(KeyType::Zak, KeyAlgorithm::Tdes2).expect("ZAK");
    let acquirer_zpk = hsm.generate_key(KeyType::Zpk, KeyAlgorithm::Tdes2).expect("ZPK");
    let issuer_zpk = hsm.generate_key(KeyType::Zpk, KeyAlgorithm::Tdes2).expect("ZPK");
    let cvk = hsm.generate_key(KeyType::Cvk, KeyAlgorithm::Tdes2).expect("CVK");
    let dek = hsm.generate_key(KeyType::Dek, KeyAlgorithm::Aes256).expect("DEK");
    let pin_block = hsm.encrypt_pin(&acquirer_zpk, PinFormat::Iso0, &Secret::new(b"1234"), PAN).expect("PIN block");
    let message = network_mac_input(&pin_block);
    let translation = PinTranslation {
        source_key: &acquirer_zpk,
        source_format: PinFormat::Iso0,
        pin_block: &pin_block,
        pan: PAN,
        target_key: &issuer_zpk,
        target_format: PinFormat::Iso0,
    };
    let cvv = hsm.generate_cvv(&cvk, PAN, "2806", "201").expect("CVV");
    let mac = MacAlgorithm::Alg3(Padding::Method1);

    let mut group = c.benchmark_group("key_cache");
    group.throughput(Throughput::Elements(1));
    for (cache, hsm) in &modules {
        // Every answer checked once, and the keys put in the cache that is on.
        hsm.generate_mac(&zak, mac, &message).expect("MAC");
        hsm.translate_pin(&translation).expect("PIN translation");
        hsm.verify_cvv(&cvk, PAN, "2806", "201", &cvv).expect("CVV verifies");
        hsm.keyed_hash(&dek, PAN.as_bytes()).expect("keyed hash");
        let name = |operation: &str| format!("{operation}/{cache}");
        group.bench_function(name("generate_mac/x9.19_network_0200"), |b| {
            b.iter(|| hsm.generate_mac(&zak, mac, black_box(&message)))
        });
        group.bench_function(name("translate_pin/zpk_to_zpk_iso0"), |b| {
            b.iter(|| hsm.translate_pin(black_box(&translation)))
        });
        group.bench_function(name("verify_cvv"), |b| {
            b.iter(|| hsm.verify_cvv(&cvk, black_box(PAN), "2806", "201", &cvv))
        });
        group
            .bench_function(name("keyed_hash/dek_pan"), |b| b.iter(|| hsm.keyed_hash(&dek, black_box(PAN.as_bytes()))));
    }
    group.finish();
    for (cache, hsm) in &modules {
        eprintln!("key cache {cache}: {:?}", hsm.key_cache_stats());
    }
}

criterion_group!(key_cache, benches);
criterion_main!(key_cache);
