//! The trace decoder: any bytes give a trace or an error, and a trace it
//! returns encodes back to something that decodes to the same trace.
#![no_main]

use faultline::trace::{decode, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(t) = decode(data) {
        let again = decode(&encode(&t)).expect("a decoded trace re-encodes");
        assert_eq!(again, t);
    }
});
