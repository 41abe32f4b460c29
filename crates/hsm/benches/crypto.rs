//! Security module throughput: PIN translation, MAC verification over a 200-byte message, ARQC
//! verification and key block unwrap, through `SoftHsm` (each call opens its keys from their
//! LMK key blocks, as in production). Figures in docs/benchmarks.md.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hsm::mac::Padding;
use hsm::pinblock::PinFormat;
use hsm::{
    ArqcRequest, KeyAlgorithm, KeyType, MacAlgorithm, PinTranslation, Secret, SecurityModule, SoftHsm, WrappedKey,
};
use iso8583::hex;

fn h(text: &str) -> Vec<u8> {
    hex::decode(text).expect("hex")
}

fn import(hsm: &SoftHsm, key_type: KeyType, algorithm: KeyAlgorithm, clear: &str) -> WrappedKey {
    hsm.import_components(key_type, algorithm, &[Secret::from_vec(h(clear))]).expect("import")
}

fn benches(c: &mut Criterion) {
    let hsm = SoftHsm::generate().expect("LMK");
    let pan = "4012345678909";

    let tpk = hsm.generate_key(KeyType::Tpk, KeyAlgorithm::Tdes2).expect("TPK");
    let zpk = hsm.generate_key(KeyType::Zpk, KeyAlgorithm::Tdes2).expect("ZPK");
    let pin_block = hsm.encrypt_pin(&tpk, PinFormat::Iso0, &Secret::new(b"1234"), pan).expect("PIN block");
    let translation = PinTranslation {
        source_key: &tpk,
        source_format: PinFormat::Iso0,
        pin_block: &pin_block,
        pan,
        target_key: &zpk,
        target_format: PinFormat::Iso0,
    };
    let mut group = c.benchmark_group("hsm");
    group.throughput(Throughput::Elements(1));
    group.bench_function("translate_pin/tpk_to_zpk_iso0", |b| b.iter(|| hsm.translate_pin(black_box(&translation))));

    let zak = hsm.generate_key(KeyType::Zak, KeyAlgorithm::Tdes2).expect("ZAK");
    let message = vec![0x5Au8; 200];
    for (name, algorithm) in [
        ("verify_mac/x9.19_200B", MacAlgorithm::Alg3(Padding::Method1)),
        ("verify_mac/cup_ecb_200B", MacAlgorithm::CupEcb),
        ("verify_mac/tdes_cmac_200B", MacAlgorithm::Cmac),
    ] {
        let mac = hsm.generate_mac(&zak, algorithm, &message).expect("MAC");
        group.bench_function(name, |b| b.iter(|| hsm.verify_mac(&zak, algorithm, black_box(&message), &mac)));
    }

    // emv-3-csk of the reference vectors.
    let imk = import(&hsm, KeyType::ImkAc, KeyAlgorithm::Tdes2, "12345678123456781234567812345678");
    let (atc, data, arqc) = (
        h("3456"),
        h("000000010000000000001000084000000010800840980704001111111158003456A08003242000"),
        h("55BE45DD2C9E0CBF"),
    );
    let request = ArqcRequest {
        scheme: hsm::emv::Scheme::Common,
        pan: "1234567890123456",
        psn: "00",
        atc: &atc,
        un: None,
        data: &data,
        arqc: &arqc,
    };
    hsm.verify_arqc(&imk, &request).expect("the reference ARQC verifies");
    group.bench_function("verify_arqc/emv_csk", |b| b.iter(|| hsm.verify_arqc(&imk, black_box(&request))));

    let kbpk = h("88E1AB2A2E3DD38C1FA039A536500CC8A87AB9D62DC92C01058FA79F44657DE6");
    let block = "D0112P0AE00E0000B82679114F470F540165EDFBF7E250FCEA43F810D215F8D207E2E417C07156A27E8E31DA05F7425509593D03A457DC34";
    group
        .bench_function("tr31_unwrap/version_d_aes256_kbpk", |b| b.iter(|| hsm::tr31::unwrap(&kbpk, black_box(block))));
    let tdes_kbpk = h("DD7515F2BFC17F85CE48F3CA25CB21F6");
    let tdes_block = "B0080P0TE00E000094B420079CC80BA3461F86FE26EFC4A3B8E4FA4C5F5341176EED7B727B8A248E";
    group.bench_function("tr31_unwrap/version_b_tdes_kbpk", |b| {
        b.iter(|| hsm::tr31::unwrap(&tdes_kbpk, black_box(tdes_block)))
    });
    group.finish();
}

criterion_group!(crypto, benches);
criterion_main!(crypto);
