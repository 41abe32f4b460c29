#![no_main]
// The network dialect's readers over bytes from outside: `network::fuzzing::network_fields`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| network::fuzzing::network_fields(data));
