//! The interface between faultline's kernel and its user programs, in one
//! place for both sides (Linux keeps it in include/uapi/ and
//! arch/x86/entry/syscalls/syscall_64.tbl): system-call numbers, errno
//! values, mmap and madvise flags, signal numbers, the wait status, and
//! how `faultline_pte` packs what a PTE holds.
//!
//! Numbers are Linux x86_64's, so a program's `write(1, buf, n)` is what
//! it would be on Linux; the three calls of our own start at 1000.

#![no_std]

/// System-call numbers (`rax` on `int 0x80`).
pub mod nr {
    pub const WRITE: u64 = 1;
    pub const MMAP: u64 = 9;
    pub const MUNMAP: u64 = 11;
    pub const BRK: u64 = 12;
    pub const SCHED_YIELD: u64 = 24;
    pub const MADVISE: u64 = 28;
    pub const GETPID: u64 = 39;
    pub const FORK: u64 = 57;
    pub const EXIT: u64 = 60;
    pub const WAIT4: u64 = 61;
    pub const EXIT_GROUP: u64 = 231;
    /// `faultline_vmstat(name, len)`: a counter by name.
    pub const FAULTLINE_VMSTAT: u64 = 1000;
    /// `faultline_pte(addr)`: what the caller's PTE holds ([`super::pte`]).
    pub const FAULTLINE_PTE: u64 = 1001;
    /// `faultline_report(checked, corrupt)`: pages a program verified.
    pub const FAULTLINE_REPORT: u64 = 1002;
}

/// errno values (returned negated).
pub mod errno {
    pub const EBADF: i64 = 9;
    pub const ECHILD: i64 = 10;
    pub const EAGAIN: i64 = 11;
    pub const ENOMEM: i64 = 12;
    pub const EFAULT: i64 = 14;
    pub const EINVAL: i64 = 22;
    pub const ENOSYS: i64 = 38;
}

/// `mmap` and `madvise` arguments.
pub mod mman {
    pub const PROT_READ: u64 = 1;
    pub const PROT_WRITE: u64 = 2;
    pub const PROT_EXEC: u64 = 4;
    pub const MAP_PRIVATE: u64 = 0x02;
    pub const MAP_ANONYMOUS: u64 = 0x20;
    pub const MADV_DONTNEED: u64 = 4;
    pub const MADV_PAGEOUT: u64 = 21;
}

/// Signal numbers a fault can raise.
pub mod signal {
    pub const SIGILL: u8 = 4;
    pub const SIGBUS: u8 = 7;
    pub const SIGFPE: u8 = 8;
    pub const SIGKILL: u8 = 9;
    pub const SIGSEGV: u8 = 11;

    /// Linux's name of a signal number.
    pub fn name(sig: u8) -> &'static str {
        match sig {
            SIGILL => "SIGILL",
            SIGBUS => "SIGBUS",
            SIGFPE => "SIGFPE",
            SIGKILL => "SIGKILL",
            SIGSEGV => "SIGSEGV",
            _ => "signal",
        }
    }
}

/// The wait status `wait4` stores: exit code in bits 8..16, or the
/// signal in bits 0..7.
pub mod wait {
    pub const fn exited(code: u8) -> i32 {
        (code as i32) << 8
    }

    pub const fn killed(sig: u8) -> i32 {
        sig as i32
    }

    /// `WIFEXITED` / `WEXITSTATUS`.
    pub const fn exit_code(status: i32) -> Option<i32> {
        if status & 0x7f == 0 {
            Some((status >> 8) & 0xff)
        } else {
            None
        }
    }

    /// `WIFSIGNALED` / `WTERMSIG`.
    pub const fn term_signal(status: i32) -> Option<i32> {
        if status & 0x7f != 0 {
            Some(status & 0x7f)
        } else {
            None
        }
    }
}

/// What `faultline_pte(addr)` returns: bits 0-1 the kind (0 none, 1
/// present, 2 swap entry), bit 2 writable (present) or exclusive (swap),
/// bits 8-15 the page's map count (present) or the slot's swap count
/// (swap), bits 20 and up the frame (present) or the slot (swap).
pub mod pte {
    /// A decoded `faultline_pte` value.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Pte {
        None,
        Present {
            writable: bool,
            mapcount: u64,
            pfn: u64,
        },
        Swap {
            exclusive: bool,
            swap_count: u64,
            slot: u64,
        },
    }

    impl Pte {
        pub fn encode(self) -> u64 {
            let pack = |kind: u64, flag: bool, count: u64, index: u64| {
                kind | (flag as u64) << 2 | count.min(255) << 8 | index << 20
            };
            match self {
                Pte::None => 0,
                Pte::Present {
                    writable,
                    mapcount,
                    pfn,
                } => pack(1, writable, mapcount, pfn),
                Pte::Swap {
                    exclusive,
                    swap_count,
                    slot,
                } => pack(2, exclusive, swap_count, slot),
            }
        }

        pub fn decode(v: u64) -> Pte {
            let (flag, count, index) = (v & 4 != 0, (v >> 8) & 0xff, v >> 20);
            match v & 3 {
                1 => Pte::Present {
                    writable: flag,
                    mapcount: count,
                    pfn: index,
                },
                2 => Pte::Swap {
                    exclusive: flag,
                    swap_count: count,
                    slot: index,
                },
                _ => Pte::None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pte::Pte;
    use super::wait;

    #[test]
    fn pte_values_round_trip() {
        for p in [
            Pte::None,
            Pte::Present {
                writable: true,
                mapcount: 2,
                pfn: 0x12345,
            },
            Pte::Swap {
                exclusive: false,
                swap_count: 64,
                slot: 262_143,
            },
        ] {
            assert_eq!(Pte::decode(p.encode()), p);
        }
    }

    #[test]
    fn wait_statuses_are_linux_ones() {
        assert_eq!(wait::exited(3), 0x300);
        assert_eq!(wait::exit_code(0x300), Some(3));
        assert_eq!(wait::term_signal(0x300), None);
        assert_eq!(wait::term_signal(wait::killed(11)), Some(11));
        assert_eq!(wait::exit_code(11), None);
    }
}
