//! Driving the kernel's own tests from the host: boot every test kernel in
//! QEMU, demand exit status 33, and count the tests that ran.
//!
//! A test kernel whose name starts with `must_fail` is expected to *fail*:
//! it proves that a failing kernel test makes the run fail.

use std::time::Duration;

use crate::cargo::TestKernel;

/// Per-kernel timeout: generous, because TCG on a loaded 2-core machine
/// can be several times slower than on an idle one.
pub const TEST_KERNEL_TIMEOUT: Duration = Duration::from_secs(180);

/// Size of the swap disk attached to every test kernel.
pub const TEST_SWAP_DISK_BYTES: u64 = 64 << 20;

/// What one test kernel did.
#[derive(Debug, Clone)]
pub struct KernelTestRun {
    pub name: String,
    pub outcome: boot::Outcome,
    /// From the `test result: ok. N passed` line (0 if missing).
    pub passed: usize,
    /// Whether the summary line says the run failed.
    pub reported_failure: bool,
    pub serial: String,
    pub wall_time: Duration,
}

impl KernelTestRun {
    /// Passed: exit 33 *and* a summary line saying so.
    pub fn is_pass(&self) -> bool {
        self.outcome.is_success()
            && !self.reported_failure
            && self.serial.contains("test result: ok.")
    }
}

/// Parses `test result: ok. N passed; ...` (or `FAILED. N passed`).
pub fn parse_summary(serial: &str) -> (usize, bool) {
    for line in serial.lines().rev() {
        let Some(rest) = line.strip_prefix("test result: ") else {
            continue;
        };
        let failed = rest.starts_with("FAILED");
        let passed = rest
            .split_once(". ")
            .and_then(|(_, tail)| tail.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        return (passed, failed);
    }
    (0, false)
}

/// Boots one test kernel and collects its verdict.
pub fn run_test_kernel(kernel: &TestKernel) -> Result<KernelTestRun, String> {
    // Next to the ELF: one image per test kernel, so parallel runs of
    // different kernels never share (and lock) an image.
    let image = kernel.path.with_extension("img");
    boot::create_bios_image(&kernel.path, &image)?;
    let mut config = boot::QemuConfig::new(&image);
    config.timeout = TEST_KERNEL_TIMEOUT;
    // Every test kernel gets a fresh swap disk (tests that need none ignore it).
    let disk = kernel.path.with_extension("swap.img");
    boot::create_swap_disk(&disk, TEST_SWAP_DISK_BYTES)?;
    config.swap_disk = Some(disk);
    boot::ext2_image::attach_test_fixtures(&kernel.name, &kernel.path, &mut config)?;
    let out = boot::qemu::run(&config)?;
    let (passed, reported_failure) = parse_summary(&out.serial);
    Ok(KernelTestRun {
        name: kernel.name.clone(),
        outcome: out.outcome,
        passed,
        reported_failure,
        serial: out.serial,
        wall_time: out.wall_time,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_summary;

    #[test]
    fn summary_lines() {
        assert_eq!(
            parse_summary("x\ntest result: ok. 7 passed; 0 failed\n"),
            (7, false)
        );
        assert_eq!(
            parse_summary("test result: FAILED. 2 passed; 1 failed; 3 not run"),
            (2, true)
        );
        assert_eq!(parse_summary("no summary"), (0, false));
    }
}
