//! The clearing file's speed on one core: `cargo run --release -p cardnet-clearing --example
//! file_speed [RECORDS]` generates RECORDS synthetic records (default 1,000,000) into memory,
//! then writes them to an in-memory file and reads that back (reusing one record), in each
//! form, and prints records per second for each. No disk: this is the format's own cost.

use std::time::Instant;

use clearing::file::{Form, Header, Reader, Writer, blank_record};
use clearing::{BusinessDate, FeeSchedule};

const RECORDS_DEFAULT: u64 = 1_000_000;
/// Bytes of a fixed-width line with its newline; sizes the in-memory file.
const LINE_BYTES: usize = clearing::file::LINE_BYTES + 1;

fn main() {
    let records: u64 = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(RECORDS_DEFAULT);
    let date = BusinessDate::from_ymd(2026, 12, 4).expect("a date");
    let day: Vec<_> = clearing::synthetic::records(1, records, 100, date, &FeeSchedule::china_2016()).collect();
    let header = Header { network: "10000000000".into(), member: "48000000000".into(), date };
    for form in [Form::FixedWidth, Form::Csv] {
        let mut file = Vec::with_capacity(LINE_BYTES * (day.len() + 3));
        let started = Instant::now();
        let mut writer = Writer::new(&mut file, form, &header).expect("header");
        for record in &day {
            writer.write(record).expect("record");
        }
        writer.finish().expect("trailer");
        let write_s = started.elapsed().as_secs_f64();

        let started = Instant::now();
        let mut reader = Reader::open(&file[..]).expect("header");
        let mut record = blank_record(date);
        let mut read = 0u64;
        while reader.read_into(&mut record).expect("record") {
            read += 1;
        }
        let read_s = started.elapsed().as_secs_f64();
        assert_eq!(read, records);
        println!(
            "{form:?}: {records} records, {} bytes; write {:.0} records/s, read {:.0} records/s",
            file.len(),
            records as f64 / write_s,
            records as f64 / read_s
        );
    }
}
