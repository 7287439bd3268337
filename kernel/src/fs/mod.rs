//! File systems. Only one so far: a read-only ext2 reader ([`ext2`]), the
//! first piece of a page cache for file pages (the build's sources and
//! headers will live in an ext2 image made on the host with `mke2fs -d`).

pub mod ext2;
