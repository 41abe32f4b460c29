//! Both forms write and read back every record that fits, byte-identically on a rewrite.

mod common;

use clearing::file::{self, Form, LINE_BYTES, Reader, Writer, blank_record};
use common::{any_record, file, header, records};
use proptest::prelude::*;

fn check_roundtrip(form: Form, records: &[clearing::ClearingRecord]) -> Result<(), TestCaseError> {
    let bytes = file(form, records);
    let (read_header, read, trailer) = file::read_all(&bytes[..]).map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(read_header, header());
    prop_assert_eq!(&read, records);
    prop_assert_eq!(trailer.records, records.len() as u64);
    // The same records, written again, are the same bytes.
    prop_assert!(file(form, &read) == bytes);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_records_round_trip_in_both_forms(records in proptest::collection::vec(any_record(), 0..8)) {
        check_roundtrip(Form::FixedWidth, &records)?;
        check_roundtrip(Form::Csv, &records)?;
    }
}

#[test]
fn synthetic_day_round_trips_and_the_trailer_sums_it() {
    let records = records(2_000);
    for form in [Form::FixedWidth, Form::Csv] {
        let mut out = Vec::new();
        let mut writer = Writer::new(&mut out, form, &header()).unwrap();
        for record in &records {
            writer.write(record).unwrap();
        }
        assert_eq!(writer.records(), 2_000);
        let trailer = writer.finish().unwrap();
        assert_eq!(trailer.records, 2_000);
        let debit: u64 = records.iter().filter(|r| r.code.direction() > 0).map(|r| r.amount_minor).sum();
        let credit: u64 = records.iter().filter(|r| r.code.direction() < 0).map(|r| r.amount_minor).sum();
        assert_eq!((trailer.debit_total_minor, trailer.credit_total_minor), (debit, credit));
        assert_eq!(trailer.settlement_total_minor, records.iter().map(|r| r.settlement_minor).sum::<i64>());
        assert_eq!(trailer.checksum.len(), 40);

        let mut reader = Reader::open(&out[..]).unwrap();
        assert_eq!(reader.form(), form);
        let mut record = blank_record(reader.header().date);
        let mut index = 0;
        while reader.read_into(&mut record).unwrap() {
            assert_eq!(record, records[index]);
            index += 1;
        }
        assert_eq!(index, records.len());
        assert_eq!(reader.trailer(), Some(&trailer));
        // And it stays done.
        assert!(!reader.read_into(&mut record).unwrap());
        assert_eq!(reader.next_record().unwrap(), None);
    }
}

#[test]
fn fixed_width_lines_are_all_one_length_and_ascii() {
    let bytes = file(Form::FixedWidth, &records(50));
    let text = std::str::from_utf8(&bytes).unwrap();
    assert!(text.is_ascii() && text.ends_with('\n') && !text.contains('\r'));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 52);
    assert!(lines.iter().all(|line| line.len() == LINE_BYTES));
    assert!(lines[0].starts_with("H100000000004800000000120261204"), "{}", lines[0]);
    assert!(lines[51].starts_with("T0000000000000000005"), "{}", lines[51]);
}

#[test]
fn csv_has_the_column_row_then_typed_rows() {
    let bytes = file(Form::Csv, &records(3));
    let text = String::from_utf8(bytes).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6);
    assert!(lines[0].starts_with("record_type,date,reference,code,acquirer,"));
    assert_eq!(lines[1], "H,10000000000,48000000001,20261204,1");
    assert!(lines[2].starts_with("D,20261204,1,"), "{}", lines[2]);
    assert!(lines[5].starts_with("T,3,"), "{}", lines[5]);
    assert_eq!(lines[2].split(',').count(), lines[0].split(',').count());
}

#[test]
fn a_rerun_is_byte_identical() {
    let once = file(Form::FixedWidth, &records(500));
    let again = file(Form::FixedWidth, &records(500));
    assert!(once == again);
    assert!(file(Form::Csv, &records(500)) == file(Form::Csv, &records(500)));
}
