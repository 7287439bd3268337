//! The knob parser the kernel runs on its fw_cfg file: any bytes, made
//! text the kernel's way (lossy UTF-8), must give a config or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(config) = knobs::Config::parse(&text) {
        // Every value of a parsed config is readable.
        for (name, _) in config.iter() {
            let _ = name;
        }
    }
});
