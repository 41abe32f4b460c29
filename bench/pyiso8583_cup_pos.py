#!/usr/bin/env python3
"""pyiso8583 (4.0.1) against the same UnionPay samples cardnet's codec benches use.

The spec below is the cup-pos format of crates/iso8583/specs/cup-pos.toml written for pyiso8583:
BCD MTI and numbers (data_enc "b" with len_count "nibbles"), BCD length prefixes (len_enc
"bcd"), an 8-byte binary bitmap, ASCII text. Odd-length BCD is padded with a 0 nibble: on the
left for fixed-length numbers (left_pad), on the right for variable-length numbers and tracks
and for field 22, which UnionPay sends left-aligned (right_pad).

pyiso8583 does not know the UnionPay length/TPDU/header, so the V1 frame is decoded from the MTI
on: its first 13 bytes (2 length + 5 TPDU + 6 header) are stripped, as cardnet's
`unpack/v1_body` bench does.

Checks that the decode matches what cardnet decodes (tests/samples.rs) and re-encodes to the
same bytes, then times decode and encode with timeit and prints ns per operation as JSON.

    bench/.venv/bin/python bench/pyiso8583_cup_pos.py [--seconds 1.0] [--repeat 7]
"""

import argparse
import json
import platform
import sys
import timeit
from importlib.metadata import version

import iso8583

# The samples of tests/samples.rs (shared/reference/unionpay-pos-8583.md §8).
V1 = "01AA60000600006031003110030200702406C020C19A311662242429000001130000000000000000010004032806071000000012346224242900000113D280620139490310133130303030303139383530313030303832343130303032000100313536D1EEF419D0AE2609260000000000000001399F260895BBE372271DDA7C9F2701809F101307010103A00000010A010000000000ED538FE49F37047F9F349E9F36020157950500000000009A031908309C01009F02060000000000015F2A02015682027C009F1A0201569F03060000000000009F3303E0E1C89F3501229F1E0831303030303031398408A0000003330101029F0902008C9F410400000403015331323230383938363036313730383030303235383339393331333131484654313730383033303131343134323031393038333030393334333531353032303031373232424433302E3632313535352C3131342E333631393534413236303031303230323032313630303030323930323130303135373038303330363030303131333034303830343234373239323035303848373036323830310014220000240006003846363531423236"
V2_JSPOS = "08000020000000C00012000105303030303037363438343831303030353831323630303200110000000100300003303031"
FRAMING_BYTES = 13  # 2 length + 5 TPDU + 6 header


def n_fixed(length, desc, align="right"):
    """Fixed-length BCD number of `length` digits."""
    spec = {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": length, "len_count": "nibbles", "desc": desc}
    if length % 2:
        spec["left_pad" if align == "right" else "right_pad"] = "0"
    return spec


def n_var(prefix_digits, max_len, desc):
    """Variable-length BCD number or track (LL/LLL digits in BCD), left-aligned, 0-padded."""
    return {
        "data_enc": "b",
        "len_enc": "bcd",
        "len_type": (prefix_digits + 1) // 2,
        "max_len": max_len,
        "len_count": "nibbles",
        "right_pad": "0",
        "desc": desc,
    }


def text_fixed(length, desc):
    return {"data_enc": "ascii", "len_enc": "b", "len_type": 0, "max_len": length, "desc": desc}


def text_var(prefix_digits, max_len, desc):
    return {"data_enc": "ascii", "len_enc": "bcd", "len_type": (prefix_digits + 1) // 2, "max_len": max_len, "desc": desc}


def binary_fixed(length, desc):
    return {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": length, "desc": desc}


def binary_var(prefix_digits, max_len, desc):
    return {"data_enc": "b", "len_enc": "bcd", "len_type": (prefix_digits + 1) // 2, "max_len": max_len, "desc": desc}


# Fields of crates/iso8583/specs/cup-pos.toml (reference §2).
CUP_POS = {
    "h": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 0, "desc": "Message header (none: stripped)"},
    "t": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 2, "desc": "Message type (BCD)"},
    "p": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 8, "desc": "Bitmap, primary"},
    "1": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 8, "desc": "Bitmap, secondary (not used)"},
    "2": n_var(2, 19, "Primary account number"),
    "3": n_fixed(6, "Processing code"),
    "4": n_fixed(12, "Amount, transaction"),
    "11": n_fixed(6, "System trace audit number"),
    "12": n_fixed(6, "Time, local transaction"),
    "13": n_fixed(4, "Date, local transaction"),
    "14": n_fixed(4, "Date, expiration"),
    "15": n_fixed(4, "Date, settlement"),
    "22": n_fixed(3, "POS entry mode", align="left"),
    "23": n_fixed(3, "Card sequence number"),
    "25": n_fixed(2, "POS condition code"),
    "26": n_fixed(2, "POS PIN capture code"),
    "32": n_var(2, 11, "Acquiring institution identification code"),
    "35": n_var(2, 37, "Track 2 data"),
    "36": n_var(3, 104, "Track 3 data"),
    "37": text_fixed(12, "Retrieval reference number"),
    "38": text_fixed(6, "Authorization identification response"),
    "39": text_fixed(2, "Response code"),
    "41": text_fixed(8, "Card acceptor terminal identification"),
    "42": text_fixed(15, "Card acceptor identification code"),
    "44": text_var(2, 25, "Additional response data"),
    "48": n_var(3, 322, "Additional data, private"),
    "49": text_fixed(3, "Currency code, transaction"),
    "52": binary_fixed(8, "PIN data"),
    "53": n_fixed(16, "Security related control information"),
    "54": text_var(3, 20, "Additional amounts"),
    "55": binary_var(3, 255, "ICC system related data"),
    "58": text_var(3, 100, "PBOC electronic data"),
    "59": text_var(3, 600, "Terminal information"),
    "60": n_var(3, 17, "Reserved private"),
    "61": n_var(3, 29, "Original message"),
    "62": binary_var(3, 512, "Reserved private (keys, downloads)"),
    "63": text_var(3, 163, "Reserved private (operator, card organisation)"),
    "64": binary_fixed(8, "Message authentication code"),
}


def check_v1(body):
    """The V1 body decodes to what cardnet's tests/samples.rs expects, and re-encodes."""
    dec, _ = iso8583.decode(body, CUP_POS)
    fields = sorted(int(k) for k in dec if k.isdigit())
    assert fields == [2, 3, 4, 11, 14, 22, 23, 25, 26, 35, 41, 42, 48, 49, 52, 53, 55, 59, 60, 64], fields
    assert dec["t"] == "0200", dec["t"]
    assert dec["p"] == "702406C020C19A31", dec["p"]
    assert dec["2"] == "6224242900000113", dec["2"]
    assert dec["3"] == "000000"
    assert dec["4"] == "000000000001"
    assert dec["22"] == "071", dec["22"]
    assert dec["49"] == "156"
    assert dec["60"] == "22000024000600", dec["60"]
    assert dec["55"].startswith("9F260895BBE372271DDA7C"), dec["55"][:24]
    assert "9F36020157" in dec["55"]
    assert bytes.fromhex(dec["64"]) == b"8F651B26", dec["64"]
    encoded, _ = iso8583.encode(dict(dec), CUP_POS)
    assert bytes(encoded) == body, "V1 does not re-encode to the same bytes"
    return dec


def check_signon(body):
    dec, _ = iso8583.decode(body, CUP_POS)
    assert dec["t"] == "0800"
    assert sorted(int(k) for k in dec if k.isdigit()) == [11, 41, 42, 60, 63]
    assert dec["11"] == "000105"
    assert dec["41"] == "00000764"
    assert dec["42"] == "848100058126002"
    assert dec["60"] == "00000001003", dec["60"]
    assert dec["63"] == "001"
    encoded, _ = iso8583.encode(dict(dec), CUP_POS)
    assert bytes(encoded) == body, "sign-on does not re-encode to the same bytes"
    return dec


def ns_per_op(statement, seconds, repeat):
    """Best of `repeat` timeit runs, each about `seconds` long, in ns per call."""
    timer = timeit.Timer(statement)
    number, elapsed = timer.autorange()
    number = max(1, int(number * seconds / max(elapsed, 1e-9)))
    best = min(timer.repeat(repeat=repeat, number=number))
    return best / number * 1e9, number


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="length of one timing run")
    parser.add_argument("--repeat", type=int, default=7, help="timing runs; the best is reported")
    args = parser.parse_args()

    frame = bytes.fromhex(V1)
    assert len(frame) == 428
    v1_body = frame[FRAMING_BYTES:]
    signon_body = bytes.fromhex(V2_JSPOS)
    v1_dec = check_v1(v1_body)
    signon_dec = check_signon(signon_body)

    spec = CUP_POS
    decode = iso8583.decode
    encode = iso8583.encode
    results = {}
    for name, statement in [
        ("decode_v1_body", lambda: decode(v1_body, spec)),
        ("encode_v1_body", lambda: encode(v1_dec, spec)),
        ("decode_signon", lambda: decode(signon_body, spec)),
        ("encode_signon", lambda: encode(signon_dec, spec)),
    ]:
        ns, number = ns_per_op(statement, args.seconds, args.repeat)
        results[name] = {"ns_per_op": round(ns, 1), "iterations_per_run": number, "runs": args.repeat}

    print(
        json.dumps(
            {
                "library": f"pyiso8583 {version('pyiso8583')}",
                "python": f"{platform.python_implementation()} {platform.python_version()}",
                "v1_body_bytes": len(v1_body),
                "signon_body_bytes": len(signon_body),
                "results": results,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
