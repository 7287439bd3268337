//! Boot-time knobs: the registry and its parser live in the `knobs` crate
//! (shared with the host, which checks `--set` before it boots); this
//! module holds this boot's configuration, read from fw_cfg.

pub use knobs::*;
use spin::Once;

/// The configuration of this boot, set once by `main`.
static CONFIG: Once<Config> = Once::new();

/// Makes `config` the configuration of this boot.
pub fn set_global(config: Config) -> &'static Config {
    CONFIG.call_once(|| config)
}

/// The configuration of this boot (defaults if none was set).
pub fn global() -> &'static Config {
    CONFIG.call_once(Config::defaults)
}

/// Where the host puts the configuration.
pub const FW_CFG_CONFIG_FILE: &str = "opt/faultline/config";

/// Reads and parses the configuration passed through fw_cfg (defaults if
/// the host passed none).
pub fn load_from_fw_cfg() -> Result<Config, KnobError> {
    match crate::drivers::fw_cfg::read_text_file(FW_CFG_CONFIG_FILE) {
        Ok(Some(text)) => Config::parse(&text),
        Ok(None) => Ok(Config::defaults()),
        Err(why) => Err(KnobError::File { why }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shared parser, in the kernel (its own tests run on the host).
    #[test_case]
    fn the_shared_parser_works_in_the_kernel() {
        let c = Config::parse("workload=thrash; memcg.max=32M").unwrap();
        assert_eq!(c.word("workload"), "thrash");
        assert_eq!(c.number("memcg.max"), 32 << 20);
        let e = Config::parse("no.such=1").unwrap_err();
        assert!(alloc::format!("{e}").starts_with("unknown knob 'no.such'"));
    }
}
