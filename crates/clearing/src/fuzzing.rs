//! The fuzz entry point of the clearing file reader, shared by a cargo-fuzz target and the
//! corpus replay test (`tests/fuzz_corpus.rs`, corpus in `tests/corpus/clearing_file/`), so the
//! fuzzer and `cargo test` exercise the same code. It must return without panicking for every
//! input.
//!
//! Whenever the reader accepts the bytes, the writer given what was read must write exactly
//! the same bytes: the reader accepts only canonical files, so a changed byte can never pass
//! as the same file. The `assert!`s are that promise; a panic is the fuzzer's report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::BufReader;

use crate::file::{self, Form, Reader, Writer, blank_record};

/// Reads `data` as a clearing file (through `read_all` and through `read_into`, with a small
/// input buffer so lines cross buffer boundaries); what is accepted must rewrite to itself.
pub fn clearing_file(data: &[u8]) {
    let all = file::read_all(data);
    let streamed = stream(data);
    match (&all, &streamed) {
        (Ok((_, records, trailer)), Ok((form, count))) => {
            assert_eq!(records.len() as u64, *count, "read_all and read_into disagree on the records");
            assert_eq!(trailer.records, *count);
            let (header, records, _) = all.as_ref().unwrap();
            let mut out = Vec::with_capacity(data.len());
            let mut writer = Writer::new(&mut out, *form, header).expect("an accepted header rewrites");
            for record in records {
                writer.write(record).expect("an accepted record rewrites");
            }
            let rewritten = writer.finish().expect("the trailer rewrites");
            assert_eq!(&rewritten, trailer, "the rewritten trailer differs");
            assert!(out == data, "an accepted file does not rewrite byte for byte");
        }
        (Err(a), Err(b)) => {
            assert_eq!(a.line, b.line, "the two ways of reading fail on different lines: {a} / {b}");
            let _ = a.to_string();
        }
        _ => panic!("read_all and read_into disagree: {:?} / {:?}", all.as_ref().err(), streamed.as_ref().err()),
    }
}

/// Reads record by record into one reused record; the form and the count.
fn stream(data: &[u8]) -> Result<(Form, u64), file::FileError> {
    // A 7-byte buffer: lines longer than the buffer, and newlines at every position in it.
    const BUFFER_BYTES: usize = 7;
    let mut reader = Reader::open(BufReader::with_capacity(BUFFER_BYTES, data))?;
    let mut record = blank_record(reader.header().date);
    let mut count = 0u64;
    while reader.read_into(&mut record)? {
        count += 1;
        assert_eq!(record.date, reader.header().date);
    }
    assert!(reader.trailer().is_some(), "read_into ended without a trailer");
    Ok((reader.form(), count))
}
