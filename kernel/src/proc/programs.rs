//! The user programs embedded in the kernel image: every binary of the
//! `user/` crate (`user/src/bin/NAME.rs`), built for ring 3 by
//! kernel/build.rs and included here as ELF files.

include!(concat!(env!("OUT_DIR"), "/programs.rs"));

/// The program called `name` (its name as the table keeps it, and its
/// ELF file).
pub fn find(name: &str) -> Option<(&'static str, &'static [u8])> {
    PROGRAMS.iter().copied().find(|(n, _)| *n == name)
}

/// The ELF file of program `name`.
pub fn find_program(name: &str) -> Option<&'static [u8]> {
    find(name).map(|(_, f)| f)
}

/// Every program's name, in name order.
pub fn names() -> impl Iterator<Item = &'static str> {
    PROGRAMS.iter().map(|(n, _)| *n)
}
