//! Everything that is x86_64 hardware: CPU instructions, the GDT/TSS, the
//! interrupt descriptor table and exception reports, the ring 3 entry, the page-table entry
//! format, the page-fault entry, and the QEMU exit device.

pub mod cpu;
pub mod entry;
pub mod fault;
pub mod gdt;
pub mod idt;
pub mod paging;
pub mod pic;
pub mod pit;
pub mod qemu;
