//! Any bytes: parsing never panics, `render(parse(s)) == s`, and rendering the diagnostics never
//! panics (see `pulse_lvscf::fuzzing::roundtrip`).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    pulse_lvscf::fuzzing::roundtrip(data);
});
