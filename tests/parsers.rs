//! Property tests of the parsers that take outside input: the knob parser
//! and the trace header and table parser (both shared by the kernel and
//! the host: the `knobs` crate and `tracefile`'s no_std core are the
//! kernel's own), the trace decoder, and the `--fault` spec. For any input they
//! return a value or an error, never panic, and allocate at most a bounded
//! multiple of the input's size; valid inputs round-trip.
//!
//! One test at a time (a lock), so that the counting allocator measures
//! one parser.

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use std::sync::Mutex;

use faultline::fault::Fault;
use faultline::trace::{
    decode, encode_with, parse_header, parse_tables, Codec, Layout, PageTrace, HEADER_LEN,
    WRITE_BIT,
};
use proptest::prelude::*;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs `f` and returns its result and the peak of bytes it allocated.
fn measured<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = counting_alloc::live();
    counting_alloc::reset_peak();
    let r = f();
    (r, counting_alloc::peak().saturating_sub(base))
}

/// A knob text made of plausible pieces: real names, separators, values.
fn knob_text() -> impl Strategy<Value = String> {
    let names: Vec<&'static str> = knobs::KNOBS.iter().map(|k| k.name).collect();
    let item = (
        prop::sample::select(names),
        prop::sample::select(vec!["=", "==", " = ", "", "=\u{fffd}"]),
        prop_oneof![
            Just("1".to_string()),
            Just("max".to_string()),
            Just("18446744073709551616".to_string()),
            "[0-9]{1,22}[KMGkmg]?",
            "\\PC{0,12}",
        ],
        prop::sample::select(vec!["\n", ";", "\n#", "\r\n"]),
    )
        .prop_map(|(n, eq, v, sep)| format!("{n}{eq}{v}{sep}"));
    prop::collection::vec(item, 0..12).prop_map(|items| items.concat())
}

/// A small valid trace (every page is touched: the format requires it).
fn trace() -> impl Strategy<Value = PageTrace> {
    (1u32..40, prop::collection::vec(any::<u32>(), 0..300)).prop_map(|(n, raw)| {
        let records = (0..n)
            .chain(raw.into_iter().map(|r| (r % n) | (r & WRITE_BIT)))
            .collect();
        PageTrace {
            layout: Layout::dense(n, 0x1000),
            records,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn knob_parser_never_panics_and_allocates_little(text in knob_text()) {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        // What parsing nothing costs: the defaults of every knob.
        let (_, base) = measured(|| knobs::Config::parse(""));
        let (r, peak) = measured(|| knobs::Config::parse(&text));
        if let Err(e) = r {
            prop_assert!(!e.to_string().is_empty());
        }
        prop_assert!(
            // An error may quote the knob's valid values: bounded by the
            // registry, not the input.
            peak <= base + 16384 + 4 * text.len(),
            "{peak} bytes for {} bytes of text (nothing costs {base})",
            text.len()
        );
    }

    #[test]
    fn knob_parser_takes_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        // What the kernel does with its fw_cfg file: lossy UTF-8, then parse.
        let text = String::from_utf8_lossy(&bytes);
        let _ = knobs::Config::parse(&text);
    }

    #[test]
    fn knob_values_round_trip(pick in prop::collection::vec(any::<prop::sample::Index>(), 1..8)) {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        // Any set of knobs at their defaults, written out and read back.
        let mut names: Vec<&str> = pick.iter().map(|i| i.get(knobs::KNOBS).name).collect();
        names.sort();
        names.dedup();
        let text: String = names
            .iter()
            .map(|n| {
                let k = knobs::KNOBS.iter().find(|k| k.name == *n).unwrap();
                format!("{}={}\n", k.name, k.default)
            })
            .collect();
        let c = knobs::Config::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let d = knobs::Config::defaults();
        prop_assert!(c.iter().eq(d.iter()));
    }

    #[test]
    fn trace_decoder_never_panics_on_garbage(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let (_, peak) = measured(|| decode(&bytes));
        prop_assert!(peak <= 1 << 20, "{peak} bytes for {} bytes of garbage", bytes.len());
    }

    #[test]
    fn traces_round_trip_and_damage_is_an_error_not_a_panic(
        t in trace(),
        codec in prop::sample::select(vec![Codec::Raw, Codec::Lz4, Codec::Zstd]),
        per_chunk in 1usize..64,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = encode_with(&t, codec, per_chunk);
        prop_assert_eq!(decode(&bytes).map_err(TestCaseError::fail)?, t.clone());
        // Damaged: bytes changed, then cut short. Whatever it decodes to,
        // it must not panic, nor allocate much more than a record per
        // 4 bytes of what an lz4 block may expand to (255x).
        let mut bad = bytes.clone();
        for (i, b) in &flips {
            let at = i.index(bad.len());
            bad[at] ^= b | 1;
        }
        bad.truncate(cut.index(bad.len() + 1));
        let (decoded, peak) = measured(|| decode(&bad));
        prop_assert!(peak <= (1 << 20) + 300 * bytes.len(), "{peak} bytes");
        // The kernel opens a trace with the same header and table parser
        // (the no_std core of `tracefile`): what decodes, it accepts too.
        if decoded.is_ok() && bad.len() >= HEADER_LEN {
            let h = parse_header(&bad[..HEADER_LEN], bad.len() as u64)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            parse_tables(&bad[h.tables as usize..], &h)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
    }

    #[test]
    fn fault_specs_never_panic(spec in "(read|write|hang|[a-z]{0,5})(:[a-z]{0,6}(=[0-9a-z-]{0,8})?){0,3}") {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(f) = Fault::parse(&spec) {
            // A spec that parses makes a rule file (or is the hang device).
            prop_assert_eq!(f.blkdebug_rules().is_none(), f == Fault::Hang);
        }
    }
}
