//! Memory the device reaches by copies at access time (`process_vm_readv`/`writev`): on-demand
//! regions, which pin nothing and always see the process's current pages, and pinned regions of
//! a daemon client outside the memory it shares.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use accelverbs_kernel_abi::{Errno, PinnedMemory, Reach, UserCopy};

/// One `process_vm_readv` (or `writev`, with `write`) of `local` from (to) `remote` in `pid`:
/// `EFAULT` unless every byte moved.
pub(crate) fn process_vm(pid: u32, local: libc::iovec, remote: libc::iovec, write: bool) -> Result<(), Errno> {
    if local.iov_len == 0 {
        return Ok(());
    }
    let pid = pid as libc::pid_t;
    // SAFETY: `local` describes memory of this process the caller lends for the call (read
    // for a write, written for a read); `remote` is only interpreted by the kernel in `pid`'s
    // address space, where it checks every page and reports EFAULT.
    let n = unsafe {
        if write {
            libc::process_vm_writev(pid, &local, 1, &remote, 1, 0)
        } else {
            libc::process_vm_readv(pid, &local, 1, &remote, 1, 0)
        }
    };
    if n == local.iov_len as isize {
        Ok(())
    } else {
        Err(Errno::EFAULT)
    }
}

/// The memory of process `pid`, reached by copies.
#[derive(Debug)]
pub struct ProcessCopy {
    pid: u32,
}

impl ProcessCopy {
    pub fn new(pid: u32) -> Self {
        Self { pid }
    }
}

impl UserCopy for ProcessCopy {
    fn read(&self, addr: u64, dst: &mut [u8]) -> Result<(), Errno> {
        let local = libc::iovec { iov_base: dst.as_mut_ptr().cast(), iov_len: dst.len() };
        let remote = libc::iovec { iov_base: addr as usize as *mut libc::c_void, iov_len: dst.len() };
        process_vm(self.pid, local, remote, false)
    }

    fn write(&self, addr: u64, src: &[u8]) -> Result<(), Errno> {
        let local = libc::iovec { iov_base: src.as_ptr() as *mut libc::c_void, iov_len: src.len() };
        let remote = libc::iovec { iov_base: addr as usize as *mut libc::c_void, iov_len: src.len() };
        process_vm(self.pid, local, remote, true)
    }

    /// In this process, `MADV_POPULATE_READ`/`WRITE` (a write fault breaks copy-on-write
    /// without changing a byte). In another, reading the range faults it in; a write fault
    /// is left to the first write, since writing bytes back could undo the process's own.
    fn prefetch(&self, addr: u64, len: u64, writable: bool) -> Result<(), Errno> {
        let len = usize::try_from(len).map_err(|_| Errno::EFAULT)?;
        if self.pid == std::process::id() {
            let advice = if writable { libc::MADV_POPULATE_WRITE } else { libc::MADV_POPULATE_READ };
            let first = addr & !4095;
            let span = (addr - first) as usize + len;
            // SAFETY: MADV_POPULATE_* faults pages of this process in as an access would, but
            // reports an error instead of raising a signal; it changes no contents.
            return match unsafe { libc::madvise(first as usize as *mut libc::c_void, span, advice) } {
                0 => Ok(()),
                _ => Err(Errno::EFAULT),
            };
        }
        check_mapped(self.pid, addr, len as u64, writable)?;
        let mut scratch = vec![0u8; len.min(1 << 20)];
        let mut done = 0;
        while done < len {
            let n = scratch.len().min(len - done);
            self.read(addr + done as u64, &mut scratch[..n])?;
            done += n;
        }
        Ok(())
    }
}

/// Whether every byte of `[addr, addr + len)` in process `pid` lies in mappings that allow
/// reading (and writing, if `writable`), from `/proc/PID/maps`: the check `get_user_pages`
/// makes on the VMAs, without touching a byte. `EFAULT` otherwise.
fn check_mapped(pid: u32, addr: u64, len: u64, writable: bool) -> Result<(), Errno> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).map_err(|_| Errno::EFAULT)?;
    let end = addr.checked_add(len).ok_or(Errno::EFAULT)?;
    let mut covered = addr;
    // Mappings are listed in address order.
    for line in maps.lines() {
        if covered >= end {
            break;
        }
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else { continue };
        let Some((lo, hi)) = range.split_once('-') else { continue };
        let (Ok(lo), Ok(hi)) = (u64::from_str_radix(lo, 16), u64::from_str_radix(hi, 16)) else { continue };
        if hi <= covered {
            continue;
        }
        let allowed = perms.starts_with('r') && (!writable || perms.as_bytes().get(1) == Some(&b'w'));
        if lo > covered || !allowed {
            return Err(Errno::EFAULT);
        }
        covered = hi;
    }
    if covered >= end {
        Ok(())
    } else {
        Err(Errno::EFAULT)
    }
}

/// Bytes charged to locked-memory counters, given back when dropped.
#[derive(Debug)]
pub(crate) struct Charge {
    bytes: u64,
    counters: Vec<Arc<AtomicU64>>,
}

impl Charge {
    /// `bytes` the caller has added to each of `counters` (checking its limits as it did).
    pub(crate) fn taken(bytes: u64, counters: Vec<Arc<AtomicU64>>) -> Self {
        Self { bytes, counters }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        for c in &self.counters {
            c.fetch_sub(self.bytes, Ordering::AcqRel);
        }
    }
}

/// A region reached by copies: on demand (no charge), or pinned in a process the device
/// cannot map (charged like any pin).
#[derive(Debug)]
pub struct CopiedRegion {
    addr: u64,
    len: u64,
    copier: Arc<dyn UserCopy>,
    _charge: Option<Charge>,
}

impl CopiedRegion {
    pub(crate) fn new(addr: u64, len: u64, copier: Arc<dyn UserCopy>, charge: Option<Charge>) -> Self {
        Self { addr, len, copier, _charge: charge }
    }
}

// SAFETY: `reach` says `Copy`, so the device never dereferences `dma_addr`; every access is a
// copy through the process's address space, which fails instead of faulting.
unsafe impl PinnedMemory for CopiedRegion {
    fn addr(&self) -> u64 {
        self.addr
    }
    fn len(&self) -> u64 {
        self.len
    }
    fn dma_addr(&self) -> *mut u8 {
        std::ptr::null_mut()
    }
    fn reach(&self) -> Reach {
        Reach::Copy(Arc::clone(&self.copier))
    }
}
