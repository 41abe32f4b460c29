#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| iso8583::fuzzing::load_spec(data));
