//! Building a new process image from an embedded program (Linux
//! fs/exec.c `execve` → fs/binfmt_elf.c `load_elf_binary`,
//! `setup_arg_pages`, `start_thread`).
//!
//! Simplifications: no arguments or environment on the stack (programs
//! take none), no auxiliary vector, a fixed-size stack VMA (no growth),
//! and the segments copied into anonymous pages at once (see
//! [`install_anon_page`]).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::elf::{self, Program};
use super::programs::find_program;
use crate::arch::entry::{TrapFrame, RFLAGS_IF};
use crate::mm::memory::install_anon_page;
use crate::mm::mm_types::{register_new_mm, MmHandle, MmStruct, VmFlags};
use crate::mm::mmap::{STACK_SIZE, STACK_TOP};
use crate::mm::state::with_mm_state;
use crate::mm::{page_align_down, page_align_up, PAGE_SIZE};

/// A loaded program, ready to run.
pub struct Image {
    pub mm: MmHandle,
    pub frame: TrapFrame,
    /// Where the heap starts (`brk`'s floor): the page after the data.
    pub brk_start: u64,
}

/// Loads program `name` into a new address space.
pub fn load(name: &str) -> Result<Image, String> {
    let file = find_program(name).ok_or_else(|| format!("no user program named {name}"))?;
    let program = elf::parse(file).map_err(|e| format!("user program {name}: {e}"))?;
    let mut mm = MmStruct::new(name).map_err(|_| String::from("out of memory for a pgd"))?;
    let mut brk_start = 0;
    for (start, end, flags) in segment_vmas(&program)? {
        brk_start = brk_start.max(end);
        mm.mmap_anon(start, end - start, flags)
            .map_err(|e| format!("user program {name}: segment at {start:#x}: {e:?}"))?;
    }
    mm.mmap_anon(STACK_TOP - STACK_SIZE, STACK_SIZE, VmFlags::ANON_RW)
        .map_err(|e| format!("user program {name}: stack: {e:?}"))?;
    let handle = register_new_mm(mm);
    populate(&handle, file, &program).map_err(|e| format!("user program {name}: {e}"))?;
    Ok(Image {
        mm: handle,
        frame: start_frame(program.entry, STACK_TOP),
        brk_start,
    })
}

/// The VMAs of the segments, page-aligned: segments that share a page
/// (the linker puts `.bss` right after `.data`) share one VMA when their
/// permissions agree; it is an error when they do not.
fn segment_vmas(program: &Program) -> Result<Vec<(u64, u64, VmFlags)>, String> {
    let mut vmas: Vec<(u64, u64, VmFlags)> = Vec::new();
    for seg in &program.segments {
        let start = page_align_down(seg.vaddr);
        let end = page_align_up(seg.vaddr + seg.mem_size);
        let flags = segment_flags(seg);
        match vmas.last_mut() {
            Some(last) if start < last.1 => {
                if last.2 != flags || start < last.0 {
                    return Err(format!(
                        "segments at {:#x} and {:#x} share a page with other permissions",
                        last.0, seg.vaddr
                    ));
                }
                last.1 = last.1.max(end);
            }
            _ => vmas.push((start, end, flags)),
        }
    }
    Ok(vmas)
}

fn segment_flags(seg: &elf::Segment) -> VmFlags {
    let mut flags = VmFlags::VM_READ;
    if seg.writable {
        flags = flags.union(VmFlags::VM_WRITE);
    }
    if seg.executable {
        flags = flags.union(VmFlags::VM_EXEC);
    }
    flags
}

/// Copies every segment's bytes into fresh pages (zeros beyond the file
/// part); a page two segments share is made once from both.
fn populate(mm: &MmHandle, file: &[u8], program: &Program) -> Result<(), &'static str> {
    for (start, end, _) in segment_vmas(program).map_err(|_| "bad segments")? {
        for va in (start..end).step_by(PAGE_SIZE as usize) {
            let mut page = [0u8; PAGE_SIZE as usize];
            for seg in &program.segments {
                // The part of this page that the segment's file bytes fill.
                let lo = va.max(seg.vaddr);
                let hi = (va + PAGE_SIZE).min(seg.vaddr + seg.file_size);
                if lo < hi {
                    let from = (seg.offset + (lo - seg.vaddr)) as usize;
                    let to = (lo - va) as usize;
                    let n = (hi - lo) as usize;
                    page[to..to + n].copy_from_slice(&file[from..from + n]);
                }
            }
            with_mm_state(|st| {
                let vma = st.find_vma(mm.id(), va).expect("segment VMA");
                install_anon_page(st, mm.id(), &vma, va, &page)
            })
            .map_err(|_| "out of memory loading the program")?;
        }
    }
    Ok(())
}

/// Linux `start_thread`: ring-3 selectors, the entry point, the stack,
/// interrupts on (off in deterministic mode: see [`crate::sched`]).
pub fn start_frame(entry: u64, stack: u64) -> TrapFrame {
    let (cs, ss) = crate::arch::gdt::user_selectors();
    let rflags = if crate::sched::is_deterministic() {
        0x2
    } else {
        0x2 | RFLAGS_IF
    };
    TrapFrame {
        rip: entry,
        cs: cs as u64,
        rflags,
        rsp: stack,
        ss: ss as u64,
        ..TrapFrame::default()
    }
}
