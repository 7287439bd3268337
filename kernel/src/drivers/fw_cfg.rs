//! QEMU's firmware configuration device (fw_cfg), the way boot-time knobs
//! reach the kernel without rebuilding anything.
//!
//! The host passes `-fw_cfg name=opt/faultline/config,file=...`. The guest
//! writes a 16-bit selector to port 0x510 and then reads bytes from port
//! 0x511. Selector 0x19 is the file directory: a big-endian u32 count, then
//! 64-byte entries (u32 size, u16 selector, u16 reserved, 56-byte name),
//! all big-endian.

use alloc::string::String;
use alloc::vec::Vec;

use x86_64::instructions::port::Port;

const FW_CFG_PORT_SEL: u16 = 0x510;
const FW_CFG_PORT_DATA: u16 = 0x511;
const FW_CFG_SIGNATURE: u16 = 0x00;
const FW_CFG_FILE_DIR: u16 = 0x19;
const FILE_NAME_LEN: usize = 56;

fn select(selector: u16) {
    // SAFETY: 0x510 is QEMU's fw_cfg selector port on x86.
    unsafe { Port::<u16>::new(FW_CFG_PORT_SEL).write(selector) };
}

fn read_bytes(buf: &mut [u8]) {
    let mut data = Port::<u8>::new(FW_CFG_PORT_DATA);
    for byte in buf {
        // SAFETY: 0x511 is QEMU's fw_cfg data port; reads only advance
        // the offset within the selected item.
        *byte = unsafe { data.read() };
    }
}

fn read_be_u32() -> u32 {
    let mut b = [0u8; 4];
    read_bytes(&mut b);
    u32::from_be_bytes(b)
}

/// Is the fw_cfg device there? (It reads back "QEMU" as its signature.)
pub fn is_present() -> bool {
    select(FW_CFG_SIGNATURE);
    let mut sig = [0u8; 4];
    read_bytes(&mut sig);
    &sig == b"QEMU"
}

/// Reads the named fw_cfg file (e.g. `opt/faultline/config`): `None` if
/// the host did not pass it, an error if the size the host announces
/// would not fit half the free kernel heap (checked before allocating).
pub fn read_file(name: &str) -> Result<Option<Vec<u8>>, String> {
    if !is_present() {
        return Ok(None);
    }
    let Some((size, selector)) = find_file(name) else {
        return Ok(None);
    };
    let free = crate::mm::heap::size_bytes() - crate::mm::heap::used_bytes();
    if size as usize > free / 2 {
        return Err(alloc::format!(
            "fw_cfg file {name}: {size} bytes do not fit the kernel heap ({free} bytes free; give the machine more memory with --mem)"
        ));
    }
    select(selector);
    let mut data = alloc::vec![0u8; size as usize];
    read_bytes(&mut data);
    Ok(Some(data))
}

/// Looks `name` up in the file directory: (size, selector).
fn find_file(name: &str) -> Option<(u32, u16)> {
    select(FW_CFG_FILE_DIR);
    let count = read_be_u32();
    for _ in 0..count {
        let mut entry = [0u8; 8 + FILE_NAME_LEN];
        read_bytes(&mut entry);
        let size = u32::from_be_bytes([entry[0], entry[1], entry[2], entry[3]]);
        let selector = u16::from_be_bytes([entry[4], entry[5]]);
        let raw_name = &entry[8..];
        let len = raw_name
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(FILE_NAME_LEN);
        if &raw_name[..len] == name.as_bytes() {
            return Some((size, selector));
        }
    }
    None
}

/// Reads a fw_cfg file as text (lossy UTF-8), as [`read_file`].
pub fn read_text_file(name: &str) -> Result<Option<String>, String> {
    Ok(read_file(name)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
}
