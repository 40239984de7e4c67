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
    check_maps(&maps, addr, len, writable)
}

/// [`check_mapped`] on the text of a maps file.
fn check_maps(maps: &str, addr: u64, len: u64, writable: bool) -> Result<(), Errno> {
    check_vmas(&parse_maps(maps), addr, len, writable)
}

/// One mapping: `[start, end)`, readable, writable.
#[derive(Debug, Clone, Copy)]
pub struct Vma {
    start: u64,
    end: u64,
    read: bool,
    write: bool,
}

/// The mappings of a maps file, in address order.
fn parse_maps(maps: &str) -> Vec<Vma> {
    maps.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (range, perms) = (fields.next()?, fields.next()?.as_bytes());
            let (lo, hi) = range.split_once('-')?;
            let (start, end) = (u64::from_str_radix(lo, 16).ok()?, u64::from_str_radix(hi, 16).ok()?);
            Some(Vma { start, end, read: perms.first() == Some(&b'r'), write: perms.get(1) == Some(&b'w') })
        })
        .collect()
}

/// Whether every byte of `[addr, addr + len)` lies in `vmas` that allow reading (and writing,
/// if `writable`): `EFAULT` otherwise.
pub fn check_vmas(vmas: &[Vma], addr: u64, len: u64, writable: bool) -> Result<(), Errno> {
    if len == 0 {
        return Ok(());
    }
    let end = addr.checked_add(len).ok_or(Errno::EFAULT)?;
    let mut covered = addr;
    for vma in vmas {
        if covered >= end {
            break;
        }
        if vma.end <= covered {
            continue;
        }
        if vma.start > covered || !vma.read || (writable && !vma.write) {
            return Err(Errno::EFAULT);
        }
        covered = vma.end;
    }
    if covered >= end {
        Ok(())
    } else {
        Err(Errno::EFAULT)
    }
}

/// A daemon client's memory, through the descriptors it opened on itself (`/proc/self/mem` and
/// `/proc/self/maps`): bound to the memory the client had when it opened them, so after an
/// `exec`, or once the client is gone and its pid reused, they reach nothing (`EFAULT`), where
/// a pid would name whatever process bears it now. The daemon needs no ptrace rights over it.
#[derive(Debug)]
pub struct ProcessFiles {
    mem: std::os::fd::OwnedFd,
    maps: std::os::fd::OwnedFd,
}

impl ProcessFiles {
    pub fn new(mem: std::os::fd::OwnedFd, maps: std::os::fd::OwnedFd) -> Self {
        Self { mem, maps }
    }

    /// The client's mappings now (`EFAULT` once its memory is gone).
    pub fn vmas(&self) -> Result<Vec<Vma>, Errno> {
        Ok(parse_maps(&self.maps()?))
    }

    fn maps(&self) -> Result<String, Errno> {
        use std::os::fd::AsRawFd;
        let mut text = Vec::with_capacity(16 << 10);
        let mut chunk = vec![0u8; 16 << 10];
        loop {
            // SAFETY: reads into `chunk`, which lives across the call, at the offset the text
            // has reached (a maps file is read from its start each time).
            let n =
                unsafe { libc::pread(self.maps.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len(), text.len() as libc::off_t) };
            match n {
                0 => break,
                n if n > 0 => text.extend_from_slice(&chunk[..n as usize]),
                _ => return Err(Errno::EFAULT),
            }
        }
        if text.is_empty() {
            // A live process has mappings: an empty file is one whose memory is gone.
            return Err(Errno::EFAULT);
        }
        String::from_utf8(text).map_err(|_| Errno::EFAULT)
    }

    /// Checks `[addr, addr + len)` is mapped readable, and writable if `writable`: the mem
    /// file reads and writes through protections (as a debugger does), the device must not.
    pub fn check(&self, addr: u64, len: u64, writable: bool) -> Result<(), Errno> {
        if len == 0 {
            return Ok(());
        }
        check_vmas(&self.vmas()?, addr, len, writable)
    }

    /// Reads `dst.len()` bytes at `addr`: `EFAULT` unless all of them. Safe though it takes an
    /// address: it goes through the client's mem file, never a pointer of ours, and a bad
    /// address is an error, not a fault.
    pub fn read(&self, addr: u64, dst: &mut [u8]) -> Result<(), Errno> {
        use std::os::fd::AsRawFd;
        let mut done = 0;
        while done < dst.len() {
            let at = addr.checked_add(done as u64).and_then(|a| libc::off_t::try_from(a).ok()).ok_or(Errno::EFAULT)?;
            // SAFETY: reads into the rest of `dst`, which we own mutably for the call.
            let n = unsafe { libc::pread(self.mem.as_raw_fd(), dst[done..].as_mut_ptr().cast(), dst.len() - done, at) };
            if n <= 0 {
                return Err(Errno::EFAULT);
            }
            done += n as usize;
        }
        Ok(())
    }

    /// Writes `src` at `addr` (protections are the caller's to check): `EFAULT` unless all.
    /// Safe for the reason `read` is; what may be written where was promised when the request
    /// naming it was posted (the provider's `unsafe` SGE constructors).
    pub fn write(&self, addr: u64, src: &[u8]) -> Result<(), Errno> {
        use std::os::fd::AsRawFd;
        let mut done = 0;
        while done < src.len() {
            let at = addr.checked_add(done as u64).and_then(|a| libc::off_t::try_from(a).ok()).ok_or(Errno::EFAULT)?;
            // SAFETY: writes from the rest of `src`, which lives across the call.
            let n = unsafe { libc::pwrite(self.mem.as_raw_fd(), src[done..].as_ptr().cast(), src.len() - done, at) };
            if n <= 0 {
                return Err(Errno::EFAULT);
            }
            done += n as usize;
        }
        Ok(())
    }
}

/// A daemon client's memory reached by copies through its [`ProcessFiles`]. With
/// `check_each_access`, every access first checks the pages' protection now (on-demand
/// regions, which follow the current mapping); without, the region's protection was checked
/// when it was pinned, as a device with pinned pages checks it once.
#[derive(Debug)]
pub struct ClientCopy {
    files: Arc<ProcessFiles>,
    check_each_access: bool,
}

impl ClientCopy {
    pub fn new(files: Arc<ProcessFiles>, check_each_access: bool) -> Self {
        Self { files, check_each_access }
    }
}

impl UserCopy for ClientCopy {
    fn read(&self, addr: u64, dst: &mut [u8]) -> Result<(), Errno> {
        if self.check_each_access {
            self.files.check(addr, dst.len() as u64, false)?;
        }
        self.files.read(addr, dst)
    }

    fn write(&self, addr: u64, src: &[u8]) -> Result<(), Errno> {
        if self.check_each_access {
            self.files.check(addr, src.len() as u64, true)?;
        }
        self.files.write(addr, src)
    }

    /// Checks the protections, then reads the range, which faults it in (a write fault is
    /// left to the first write: writing bytes back could undo the client's own).
    fn prefetch(&self, addr: u64, len: u64, writable: bool) -> Result<(), Errno> {
        self.files.check(addr, len, writable)?;
        let len = usize::try_from(len).map_err(|_| Errno::EFAULT)?;
        let mut scratch = vec![0u8; len.min(1 << 20)];
        let mut done = 0;
        while done < len {
            let n = scratch.len().min(len - done);
            self.files.read(addr + done as u64, &mut scratch[..n])?;
            done += n;
        }
        Ok(())
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
