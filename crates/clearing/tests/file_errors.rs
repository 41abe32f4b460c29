//! Every refusal names its line and field: the writer's (InvalidInput) and the reader's
//! (`FileError`).

mod common;

use std::io::ErrorKind;

use clearing::file::{self, FileError, Form, Header, LINE_BYTES_MAX, Reader, Writer};
use common::{date, file, header, records};
use domain::{MerchantId, TerminalId};

fn write_error(form: Form, change: impl Fn(&mut clearing::ClearingRecord)) -> String {
    let mut record = records(1).remove(0);
    change(&mut record);
    let mut out = Vec::new();
    let mut writer = Writer::new(&mut out, form, &header()).unwrap();
    let error = writer.write(&record).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    // A refused record writes nothing: the file is still whole without it.
    writer.finish().unwrap();
    assert_eq!(file::read_all(&out[..]).unwrap().1.len(), 0);
    error.to_string()
}

#[test]
fn the_writer_refuses_what_does_not_fit_naming_the_field() {
    for form in [Form::FixedWidth, Form::Csv] {
        // A terminal id may hold a comma (field 41 is ans); the file cannot.
        let e = write_error(form, |r| r.terminal_id = Some(TerminalId::new("T,1").unwrap()));
        assert!(e.contains("clearing record 1: terminal_id:") && e.contains("commas or quotes"), "{e}");
        let e = write_error(form, |r| r.merchant_id = Some(MerchantId::new("8984\"015411").unwrap()));
        assert!(e.contains("merchant_id:") && e.contains("commas or quotes"), "{e}");
        let e = write_error(form, |r| r.auth_code = "AB12 ".into());
        assert!(e.contains("auth_code:") && e.contains("ends with a space"), "{e}");
        let e = write_error(form, |r| r.pan_masked = "622424\u{e9}***0113".into());
        assert!(e.contains("pan_masked:"), "{e}");
        let e = write_error(form, |r| r.amount_minor = 1_000_000_000_000);
        assert!(e.contains("amount_minor:") && e.contains("does not fit 12 digits"), "{e}");
        let e = write_error(form, |r| r.settlement_minor = -1_000_000_000_000);
        assert!(e.contains("settlement_minor:"), "{e}");
        let e = write_error(form, |r| r.date = date().next());
        assert!(e.contains("date: 20261205 is not the header's date 20261204"), "{e}");
    }
}

#[test]
fn the_writer_refuses_a_bad_header() {
    for (network, member, field) in [("1000000000x", "48000000001", "network"), ("1", "480000000012", "member")] {
        let header = Header { network: network.into(), member: member.into(), date: date() };
        let error = Writer::new(Vec::new(), Form::FixedWidth, &header).err().unwrap();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        assert!(error.to_string().contains(&format!("header {field}:")), "{error}");
    }
}

fn read_error(bytes: &[u8]) -> FileError {
    match file::read_all(bytes) {
        Ok(_) => panic!("accepted:\n{}", String::from_utf8_lossy(bytes)),
        Err(error) => error,
    }
}

/// The file's lines, changed by `change`, joined again.
fn edit(bytes: &[u8], change: impl Fn(&mut Vec<String>)) -> Vec<u8> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    change(&mut lines);
    let mut out = lines.join("\n");
    out.push('\n');
    out.into_bytes()
}

/// Replaces the field at `offset` of line `index` with `text` (same width) in a fixed-width file.
fn put(lines: &mut [String], index: usize, offset: usize, text: &str) {
    lines[index].replace_range(offset..offset + text.len(), text);
}

fn assert_error(error: FileError, line: u64, what: &str) {
    assert_eq!(error.line, line, "{error}");
    assert!(error.what.contains(what), "expected {what:?} in {error}");
}

#[test]
fn the_reader_names_each_fault_fixed_width() {
    let good = file(Form::FixedWidth, &records(3));
    assert_eq!(file::read_all(&good[..]).unwrap().1.len(), 3);
    let cases: Vec<(Vec<u8>, u64, &str)> = vec![
        (edit(&good, |l| put(l, 2, 29, "XYZ")), 3, r#"code: unknown code "XYZ""#),
        (edit(&good, |l| put(l, 1, 169, "X")), 2, r#"card_kind: "X" is not D or C"#),
        (edit(&good, |l| put(l, 1, 170, "00000000001x")), 2, "amount_minor:"),
        (edit(&good, |l| put(l, 1, 54, "1 3456")), 2, "stan:"),
        (edit(&good, |l| put(l, 1, 292, "*")), 2, "settlement_minor: "),
        (edit(&good, |l| put(l, 1, 305, "y")), 2, "stand_in:"),
        (edit(&good, |l| put(l, 1, 1, "20261205")), 2, "date: 20261205 is not the header's date 20261204"),
        (edit(&good, |l| put(l, 1, 1, "20261301")), 2, "date:"),
        (edit(&good, |l| l[1].push(' ')), 2, "the line is 308 bytes, a fixed-width line is 307"),
        (edit(&good, |l| put(l, 1, 0, "X")), 2, r#"unknown record type "X""#),
        (edit(&good, |l| put(l, 4, 20, "4")), 5, "bad trailer: count 4, records read 3"),
        (edit(&good, |l| l.insert(2, l[1].clone())), 6, "bad trailer: count 3, records read 4"),
        (edit(&good, |l| put(l, 1, 236, "1")), 5, "bad checksum"),
        (edit(&good, |l| put(l, 4, 81, "0")), 5, "bad checksum"),
        (edit(&good, |l| put(l, 4, 200, "x")), 5, "filler: not spaces"),
        (edit(&good, |l| put(l, 0, 31, "02")), 1, "unknown format version 2"),
        (edit(&good, |l| put(l, 0, 300, "x")), 1, "filler: not spaces"),
        (edit(&good, |l| l.insert(2, l[0].clone())), 3, "a second header"),
        (edit(&good, |l| drop(l.pop())), 5, "no trailer: the file ends after line 4"),
        (edit(&good, |l| l.push(l[4].clone())), 6, "a line after the trailer"),
        (edit(&good, |l| l.push(String::new())), 6, "a line after the trailer"),
        (edit(&good, |l| l[1].push('\r')), 2, "the line is 308 bytes"),
        (good[..good.len() - 1].to_vec(), 5, "the last line has no newline"),
        (Vec::new(), 1, "an empty file"),
        (b"hello\n".to_vec(), 1, "not a clearing file"),
        (vec![b'D'; LINE_BYTES_MAX + 1], 1, "longer than 1024 bytes"),
    ];
    for (bytes, line, what) in cases {
        assert_error(read_error(&bytes), line, what);
    }
}

#[test]
fn the_trailer_totals_are_checked() {
    let records = records(5);
    let good = file(Form::FixedWidth, &records);
    let text = String::from_utf8(good.clone()).unwrap();
    let trailer_line = text.lines().last().unwrap().to_owned();
    let trailer = file::read_all(&good[..]).unwrap().2;
    let debit = format!("{:020}", trailer.debit_total_minor + 1);
    let changed = trailer_line.replacen(&format!("{:020}", trailer.debit_total_minor), &debit, 1);
    let bytes = edit(&good, |l| *l.last_mut().unwrap() = changed.clone());
    assert_error(read_error(&bytes), 7, &format!("bad trailer: debit total {}", trailer.debit_total_minor + 1));
    let settlement = trailer.settlement_total_minor;
    let flipped = format!("{}{:019}", if settlement < 0 { '+' } else { '-' }, settlement.unsigned_abs());
    let original = format!("{}{:019}", if settlement < 0 { '-' } else { '+' }, settlement.unsigned_abs());
    let changed = trailer_line.replacen(&original, &flipped, 1);
    let bytes = edit(&good, |l| *l.last_mut().unwrap() = changed.clone());
    assert_error(read_error(&bytes), 7, "bad trailer: settlement total");
}

#[test]
fn the_reader_names_each_fault_csv() {
    let good = file(Form::Csv, &records(3));
    assert_eq!(Reader::open(&good[..]).unwrap().form(), Form::Csv);
    let replace_column = |line: usize, column: usize, text: &'static str| {
        edit(&good, move |l| {
            let mut columns: Vec<String> = l[line].split(',').map(str::to_owned).collect();
            columns[column] = text.to_owned();
            l[line] = columns.join(",");
        })
    };
    let cases: Vec<(Vec<u8>, u64, &str)> = vec![
        (replace_column(2, 3, "XYZ"), 3, r#"code: unknown code "XYZ""#),
        (replace_column(2, 2, "01"), 3, "reference: \"01\" has a leading zero"),
        (replace_column(2, 24, "-0"), 3, "network_fee_minor: -0 is written +0"),
        (replace_column(2, 24, "5"), 3, "network_fee_minor: \"5\" does not start with + or -"),
        (replace_column(2, 16, "T1 "), 3, "terminal_id:"),
        (replace_column(5, 1, "4"), 6, "bad trailer: count 4, records read 3"),
        (replace_column(2, 13, "1"), 6, "bad trailer: debit total"),
        (replace_column(1, 4, "2"), 2, "unknown format version 2"),
        (edit(&good, |l| l[2].push(',')), 3, "the row has 29 columns, a D row has 28"),
        (edit(&good, |l| l[0].push('x')), 1, "not a clearing file"),
        (edit(&good, |l| l[2].insert(1, 'X')), 3, "record type \"DX\" is not one letter"),
        (edit(&good, |l| l.insert(3, l[2].clone())), 7, "bad trailer: count 3, records read 4"),
        (edit(&good, |l| drop(l.remove(1))), 2, "does not start with a header"),
        (edit(&good, |l| l.truncate(1)), 2, "no header after the column names"),
    ];
    for (bytes, line, what) in cases {
        assert_error(read_error(&bytes), line, what);
    }
}

#[test]
fn an_error_is_sticky_and_records_before_it_were_read() {
    let good = file(Form::FixedWidth, &records(3));
    let bad = edit(&good, |l| put(l, 3, 29, "XYZ"));
    let mut reader = Reader::open(&bad[..]).unwrap();
    assert_eq!(reader.header(), &header());
    assert!(reader.next_record().unwrap().is_some());
    assert!(reader.next_record().unwrap().is_some());
    let error = reader.next_record().unwrap_err();
    assert_eq!(reader.next_record().unwrap_err(), error);
    assert!(reader.trailer().is_none());
    assert_eq!(error.to_string(), r#"line 4: code: unknown code "XYZ""#);
}
