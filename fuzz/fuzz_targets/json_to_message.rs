#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| iso8583::fuzzing::json_to_message(data));
