//! Nothing a file can hold makes the reader panic, and no change to a valid file's bytes reads
//! as a valid file: random bytes, and random mutations of valid files of both forms (flip a
//! byte, drop, duplicate or swap a line, truncate), all go through the fuzz entry point
//! (`clearing::fuzzing::clearing_file`), which also checks that whatever is accepted rewrites
//! byte for byte.

mod common;

use clearing::file::{self, Form};
use clearing::fuzzing::clearing_file;
use common::{file, records};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, mask: u8 },
    Drop { line: usize },
    Duplicate { line: usize },
    Swap { a: usize, b: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        any::<usize>().prop_map(|line| Mutation::Drop { line }),
        any::<usize>().prop_map(|line| Mutation::Duplicate { line }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap { a, b }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

/// Applies `mutation` (indexes taken modulo the file's size).
fn apply(bytes: &[u8], mutation: &Mutation) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = bytes.split_inclusive(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    let count = lines.len();
    match *mutation {
        Mutation::Flip { at, mask } => {
            let mut out = bytes.to_vec();
            out[at % bytes.len()] ^= mask;
            return out;
        }
        Mutation::Truncate { at } => return bytes[..at % bytes.len()].to_vec(),
        Mutation::Drop { line } => drop(lines.remove(line % count)),
        Mutation::Duplicate { line } => {
            let copy = lines[line % count].clone();
            lines.insert(line % count, copy);
        }
        Mutation::Swap { a, b } => lines.swap(a % count, b % count),
    }
    lines.concat()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        clearing_file(&bytes);
    }

    #[test]
    fn random_lines_of_valid_bytes_never_panic(
        csv in any::<bool>(),
        lines in proptest::collection::vec(prop_oneof![Just('H'), Just('D'), Just('T'), Just('X')], 0..5),
        fill in proptest::collection::vec(prop_oneof![Just(b'0'), Just(b' '), Just(b'+'), Just(b',')], 0..400),
    ) {
        let mut bytes = Vec::new();
        if csv {
            bytes.extend(file::layout::csv_columns().bytes());
            bytes.push(b'\n');
        }
        for letter in lines {
            bytes.push(letter as u8);
            bytes.extend(&fill);
            bytes.push(b'\n');
        }
        clearing_file(&bytes);
    }

    #[test]
    fn a_mutated_file_is_refused_never_read_as_valid(
        csv in any::<bool>(),
        count in 0u64..5,
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let form = if csv { Form::Csv } else { Form::FixedWidth };
        let good = file(form, &records(count));
        let mut bytes = good.clone();
        for mutation in &mutations {
            if !bytes.is_empty() {
                bytes = apply(&bytes, mutation);
            }
        }
        clearing_file(&bytes);
        if bytes != good {
            prop_assert!(file::read_all(&bytes[..]).is_err(), "a changed file read as valid after {:?}", mutations);
        } else {
            prop_assert!(file::read_all(&bytes[..]).is_ok());
        }
    }
}
