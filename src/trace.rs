//! Page traces (format, reader, writer and trace disk: the `tracefile`
//! crate, re-exported here) and `faultline trace import`, which writes them
//! from valgrind lackey logs ([`import`]).

pub use tracefile::*;

pub mod import;

pub use import::{import, ImportOptions, ImportSummary};

#[cfg(test)]
mod tests;
