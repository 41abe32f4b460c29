//! The published samples of shared/reference/unionpay-pos-8583.md §8, decoded field by field
//! and re-encoded byte for byte.

use iso8583::{Message, builtin, decode, decode_framed, encode_framed, hex, json};

/// V1: a 428-byte framed purchase request (S4).
pub const V1: &str = "01AA60000600006031003110030200702406C020C19A311662242429000001130000000000000000010004032806071000000012346224242900000113D280620139490310133130303030303139383530313030303832343130303032000100313536D1EEF419D0AE2609260000000000000001399F260895BBE372271DDA7C9F2701809F101307010103A00000010A010000000000ED538FE49F37047F9F349E9F36020157950500000000009A031908309C01009F02060000000000015F2A02015682027C009F1A0201569F03060000000000009F3303E0E1C89F3501229F1E0831303030303031398408A0000003330101029F0902008C9F410400000403015331323230383938363036313730383030303235383339393331333131484654313730383033303131343134323031393038333030393334333531353032303031373232424433302E3632313535352C3131342E333631393534413236303031303230323032313630303030323930323130303135373038303330363030303131333034303830343234373239323035303848373036323830310014220000240006003846363531423236";
/// V2: sign-on requests from two repositories (MTI onward).
pub const V2_JSPOS: &str =
    "08000020000000C00012000105303030303037363438343831303030353831323630303200110000000100300003303031";
pub const V2_ES: &str =
    "08000020000000C000120004563132333435363738313233343536373839303132333435001100123456003000023033";
/// V3: balance inquiry (MTI onward).
pub const V3: &str = "0200202004C020C0981131000000015402100006376227594325183289D1703101000000180000003031303031373934383730343531303037383030303236313536C411E6435383EB8526000000000000000013010000010005003030303030303030";

fn bytes(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap()
}

fn field_numbers(message: &Message) -> Vec<u8> {
    message.field_numbers().collect()
}

#[test]
fn v1_decodes_to_the_listed_fields_and_round_trips() {
    let frame = bytes(V1);
    assert_eq!(frame.len(), 428);
    let spec = builtin::cup_pos();
    let (envelope, message) = decode_framed(&spec, &frame).unwrap();
    assert_eq!(envelope.tpdu.unwrap().to_string(), "6000060000");
    assert_eq!(envelope.header.unwrap().to_string(), "603100311003");
    assert_eq!(message.mti().as_str(), "0200");
    assert_eq!(iso8583::dump::bitmap_hex(&message), "702406C020C19A31");
    assert_eq!(field_numbers(&message), [2, 3, 4, 11, 14, 22, 23, 25, 26, 35, 41, 42, 48, 49, 52, 53, 55, 59, 60, 64]);
    assert_eq!(message.get_str(2), Some("6224242900000113"));
    assert_eq!(message.get_str(3), Some("000000"));
    assert_eq!(message.get_u64(4), Some(1));
    assert_eq!(message.get_str(22), Some("071"));
    assert_eq!(message.get_str(49), Some("156"));
    assert_eq!(message.get_str(60), Some("22000024000600"));
    assert_eq!(message.get_path("60.1").unwrap(), Some(&b"22"[..]));
    assert_eq!(message.get_path("60.2").unwrap(), Some(&b"000024"[..]));
    assert_eq!(message.get_path("60.3").unwrap(), Some(&b"000"[..]));
    assert_eq!(message.get_path("60.4").unwrap(), Some(&b"6"[..]));
    assert_eq!(message.get_path("60.7").unwrap(), None);
    assert_eq!(message.get_path("55.9F26").unwrap(), Some(&bytes("95BBE372271DDA7C")[..]));
    assert_eq!(message.get_path("55.9F36").unwrap(), Some(&bytes("0157")[..]));
    assert_eq!(message.get(64), Some(&b"8F651B26"[..]));
    assert_eq!(encode_framed(&message, &envelope).unwrap(), frame);
}

#[test]
fn v2_sign_on_requests_decode_and_round_trip() {
    let spec = builtin::cup_pos();
    for sample in [V2_JSPOS, V2_ES] {
        let body = bytes(sample);
        let message = decode(&spec, &body).unwrap();
        assert_eq!(message.mti().as_str(), "0800");
        assert_eq!(field_numbers(&message), [11, 41, 42, 60, 63]);
        assert_eq!(message.get_path("60.1").unwrap(), Some(&b"00"[..]));
        assert_eq!(message.encode().unwrap(), body);
    }
    let message = decode(&spec, &bytes(V2_JSPOS)).unwrap();
    assert_eq!(message.get_str(11), Some("000105"));
    assert_eq!(message.get_str(41), Some("00000764"));
    assert_eq!(message.get_str(42), Some("848100058126002"));
    assert_eq!(message.get_path("60.2").unwrap(), Some(&b"000001"[..]));
    assert_eq!(message.get_path("60.3").unwrap(), Some(&b"003"[..]));
    assert_eq!(message.get_str(63), Some("001"));
    let message = decode(&spec, &bytes(V2_ES)).unwrap();
    assert_eq!(message.get_str(41), Some("12345678"));
    assert_eq!(message.get_str(42), Some("123456789012345"));
    assert_eq!(message.get_path("60.3").unwrap(), Some(&b"003"[..]));
    assert_eq!(message.get_str(63), Some("03"));
}

#[test]
fn v3_balance_inquiry_decodes_and_round_trips() {
    let spec = builtin::cup_pos();
    let body = bytes(V3);
    let message = decode(&spec, &body).unwrap();
    assert_eq!(message.mti().as_str(), "0200");
    assert_eq!(message.get_str(3), Some("310000"));
    assert_eq!(message.get_str(60), Some("0100000100050"));
    assert_eq!(message.get_path("60.1").unwrap(), Some(&b"01"[..]));
    assert_eq!(message.get_path("60.5").unwrap(), Some(&b"0"[..]));
    assert_eq!(message.get(64), Some(&b"00000000"[..]));
    assert_eq!(message.encode().unwrap(), body);
}

#[test]
fn v1_json_round_trip_unmasked() {
    let spec = builtin::cup_pos();
    let frame = bytes(V1);
    let (envelope, message) = decode_framed(&spec, &frame).unwrap();
    let value = json::to_json(&message, Some(&envelope), json::JsonOptions { unmask: true });
    assert_eq!(value["fields"]["60"]["1"], "22");
    assert_eq!(value["fields"]["55"]["9F26"], "95BBE372271DDA7C");
    let (envelope_back, message_back) = json::from_json(&spec, &value).unwrap();
    assert_eq!(encode_framed(&message_back, &envelope_back).unwrap(), frame);
}
