//! Codec benchmarks: pack and unpack the published UnionPay samples (tests/samples.rs, from
//! shared/reference/unionpay-pos-8583.md §8) with the built-in `cup-pos` spec.
//!
//! Run with `cargo bench -p cardnet-iso8583 --bench codec`; results and the pyiso8583
//! comparison (bench/pyiso8583_cup_pos.py) are recorded in docs/benchmarks.md.
//!
//! * `unpack/v1_framed`: `decode_framed` of the 428-byte V1 purchase request (length, TPDU,
//!   header, body), a fresh `Message` each time.
//! * `unpack/v1_body`: `decode` of the 415-byte V1 body (MTI onward).
//! * `unpack/v1_into`: `codec::decode_into` of the V1 body into one reused `Message`.
//! * `pack/v1_framed`: `encode_framed` of the decoded V1 message (fresh buffers).
//! * `pack/v1_body`: `Message::encode_into` into one reused, cleared `Vec`.
//! * `unpack/signon`, `pack/signon`: the V2 jsPOS sign-on request body (49 bytes).
//!
//! Throughput is in bytes of the input (unpack) or output (pack).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use iso8583::{Message, Mti, builtin, codec, decode, decode_framed, encode_framed, hex};

/// V1: a 428-byte framed purchase request (S4), copied from tests/samples.rs.
const V1: &str = "01AA60000600006031003110030200702406C020C19A311662242429000001130000000000000000010004032806071000000012346224242900000113D280620139490310133130303030303139383530313030303832343130303032000100313536D1EEF419D0AE2609260000000000000001399F260895BBE372271DDA7C9F2701809F101307010103A00000010A010000000000ED538FE49F37047F9F349E9F36020157950500000000009A031908309C01009F02060000000000015F2A02015682027C009F1A0201569F03060000000000009F3303E0E1C89F3501229F1E0831303030303031398408A0000003330101029F0902008C9F410400000403015331323230383938363036313730383030303235383339393331333131484654313730383033303131343134323031393038333030393334333531353032303031373232424433302E3632313535352C3131342E333631393534413236303031303230323032313630303030323930323130303135373038303330363030303131333034303830343234373239323035303848373036323830310014220000240006003846363531423236";
/// V2: the jsPOS sign-on request (MTI onward), copied from tests/samples.rs.
const V2_JSPOS: &str =
    "08000020000000C00012000105303030303037363438343831303030353831323630303200110000000100300003303031";

/// Bytes before the body in a cup-pos frame: length (2), TPDU (5), header (6).
const FRAMING_BYTES: usize = 13;

fn bytes(text: &str) -> Vec<u8> {
    hex::decode(text).expect("sample hex")
}

fn v1(c: &mut Criterion) {
    let spec = builtin::cup_pos();
    let frame = bytes(V1);
    assert_eq!(frame.len(), 428);
    let body = &frame[FRAMING_BYTES..];
    let (envelope, message) = decode_framed(&spec, &frame).expect("V1 decodes");
    // The benches only mean something if the codec round-trips the sample.
    assert_eq!(encode_framed(&message, &envelope).expect("V1 encodes"), frame);
    assert_eq!(message.encode().expect("V1 body encodes"), body);
    assert_eq!(message.get_str(2), Some("6224242900000113"));

    let mut unpack = c.benchmark_group("unpack");
    unpack.throughput(Throughput::Bytes(frame.len() as u64));
    unpack.bench_function("v1_framed", |b| b.iter(|| decode_framed(black_box(&spec), black_box(&frame))));
    unpack.throughput(Throughput::Bytes(body.len() as u64));
    unpack.bench_function("v1_body", |b| b.iter(|| decode(black_box(&spec), black_box(body))));
    let mut reused = Message::new(spec.clone(), Mti::new(*b"0000").expect("MTI"));
    codec::decode_into(body, &mut reused, FRAMING_BYTES).expect("V1 decodes into");
    assert_eq!(reused, message);
    unpack.bench_function("v1_into", |b| {
        b.iter(|| codec::decode_into(black_box(body), black_box(&mut reused), FRAMING_BYTES))
    });
    unpack.finish();

    let mut pack = c.benchmark_group("pack");
    pack.throughput(Throughput::Bytes(frame.len() as u64));
    pack.bench_function("v1_framed", |b| b.iter(|| encode_framed(black_box(&message), black_box(&envelope))));
    pack.throughput(Throughput::Bytes(body.len() as u64));
    let mut out = Vec::with_capacity(1024);
    message.encode_into(&mut out).expect("V1 encodes into");
    assert_eq!(out, body);
    pack.bench_function("v1_body", |b| {
        b.iter(|| -> iso8583::Result<()> {
            out.clear();
            black_box(&message).encode_into(&mut out)?;
            black_box(&out);
            Ok(())
        })
    });
    pack.finish();
}

fn signon(c: &mut Criterion) {
    let spec = builtin::cup_pos();
    let body = bytes(V2_JSPOS);
    let message = decode(&spec, &body).expect("sign-on decodes");
    assert_eq!(message.encode().expect("sign-on encodes"), body);

    let mut unpack = c.benchmark_group("unpack");
    unpack.throughput(Throughput::Bytes(body.len() as u64));
    unpack.bench_function("signon", |b| b.iter(|| decode(black_box(&spec), black_box(&body))));
    unpack.finish();

    let mut pack = c.benchmark_group("pack");
    pack.throughput(Throughput::Bytes(body.len() as u64));
    pack.bench_function("signon", |b| b.iter(|| black_box(&message).encode()));
    pack.finish();
}

criterion_group!(benches, v1, signon);
criterion_main!(benches);
