//! From the bootloader to the first workload.
//!
//! 1. The bootloader (bootloader 0.11, BIOS) loads us with its own page
//!    tables, a direct map of physical memory at [`PAGE_OFFSET`] (we ask
//!    for Linux's address) and the kernel image at `0xffff_ffff_8000_0000`.
//! 2. [`boot`] brings up the serial console, the GDT/TSS and the IDT, builds
//!    the frame allocator from the memory map, builds the kernel's own page
//!    tables and switches to them and to a fresh stack.
//! 3. On the new stack the heap comes up and the caller's `main` runs.

use bootloader_api::config::{BootloaderConfig, Mapping};
use bootloader_api::info::MemoryRegionKind;
use bootloader_api::BootInfo;
use spin::Once;

use crate::mm::init::{build_kernel_page_table, switch_to_kernel_page_table, KernelImage};
use crate::mm::page_alloc::{self, RamRange};
use crate::mm::PAGE_OFFSET;
use crate::{arch, println};

/// Where the kernel image is loaded (Linux `__START_KERNEL_map`).
pub const KERNEL_IMAGE_BASE: u64 = 0xffff_ffff_8000_0000;

/// What we ask of the bootloader. It is serialised into the kernel ELF.
pub const BOOTLOADER_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::FixedAddress(PAGE_OFFSET));
    config.mappings.kernel_base = Mapping::FixedAddress(KERNEL_IMAGE_BASE);
    // Keep the bootloader's own mappings (boot info, its stack) in a range
    // that none of ours uses; they are dropped with its page tables.
    config.mappings.dynamic_range_start = Some(0xffff_fe00_0000_0000);
    config.mappings.dynamic_range_end = Some(0xffff_ff7f_ffff_ffff);
    config.mappings.aslr = false;
    config.kernel_stack_size = 128 * 1024;
    config
};

/// Defines a kernel's entry point: `kernel_entry!(main)` with
/// `fn main() -> !`. Used by `main.rs` and by every test kernel.
#[macro_export]
macro_rules! kernel_entry {
    ($main:path) => {
        $crate::bootloader_api::entry_point!(
            __faultline_entry,
            config = &$crate::boot::BOOTLOADER_CONFIG
        );
        fn __faultline_entry(info: &'static mut $crate::bootloader_api::BootInfo) -> ! {
            $crate::boot::boot(info, $main)
        }
    };
}

/// Up to this many usable RAM ranges are taken from the memory map.
const MAX_RAM_RANGES: usize = 64;

/// Facts about the machine, read once at boot.
#[derive(Debug, Clone, Copy)]
pub struct MachineInfo {
    pub ram_end: u64,
    pub kernel_image: KernelImage,
}

static MACHINE: Once<MachineInfo> = Once::new();
static MAIN: Once<fn() -> !> = Once::new();

/// Facts about the machine (after boot).
pub fn machine() -> &'static MachineInfo {
    MACHINE.get().expect("boot not finished")
}

/// The whole boot sequence; never returns.
pub fn boot(info: &'static mut BootInfo, main: fn() -> !) -> ! {
    arch::gdt::init();
    arch::idt::init();
    arch::pic::init();
    // A 100 Hz tick wakes I/O waits (interrupts stay off outside them).
    arch::pit::init(crate::sched::HZ);
    let phys_offset = info.physical_memory_offset.into_option();
    assert_eq!(
        phys_offset,
        Some(PAGE_OFFSET),
        "bootloader ignored the direct-map address"
    );

    let mut ranges = [RamRange { start: 0, end: 0 }; MAX_RAM_RANGES];
    let mut n = 0;
    let mut ram_end = 0;
    for r in info.memory_regions.iter() {
        let is_ram = matches!(
            r.kind,
            MemoryRegionKind::Usable | MemoryRegionKind::Bootloader
        );
        if is_ram {
            ram_end = ram_end.max(r.end);
        }
        if r.kind == MemoryRegionKind::Usable && n < MAX_RAM_RANGES {
            ranges[n] = RamRange {
                start: r.start,
                end: r.end,
            };
            n += 1;
        }
    }
    page_alloc::init(&ranges[..n]);
    let kernel_image = KernelImage {
        elf_pa: info.kernel_addr,
        elf_len: info.kernel_len,
        virt_offset: info.kernel_image_offset,
    };
    MACHINE.call_once(|| MachineInfo {
        ram_end,
        kernel_image,
    });
    MAIN.call_once(|| main);
    let pt = build_kernel_page_table(&kernel_image, ram_end);
    // `info` lives in the bootloader's mappings: not touched after this.
    switch_to_kernel_page_table(pt, after_switch)
}

/// Runs on the kernel's own stack and page tables.
fn after_switch() -> ! {
    let m = machine();
    crate::mm::heap::init(crate::mm::kernel_heap_size(m.ram_end));
    crate::mm::state::init(page_alloc::max_pfn());
    println!(
        "faultline: own page tables live (pgd {:#x}); {} MiB RAM, {} free pages; image at {:#x}",
        crate::mm::init::init_mm_pgd_pa(),
        m.ram_end >> 20,
        page_alloc::nr_free_pages(),
        m.kernel_image.virt_offset,
    );
    let main = MAIN.get().expect("main set before the switch");
    main()
}
