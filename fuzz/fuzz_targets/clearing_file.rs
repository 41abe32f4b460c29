#![no_main]
// The clearing file reader over bytes from outside: `clearing::fuzzing::clearing_file`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| clearing::fuzzing::clearing_file(data));
