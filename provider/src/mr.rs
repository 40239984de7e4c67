//! Memory regions, and the rule that keeps them sound: the device and safe Rust code never
//! touch a region's bytes in conflicting ways at once.
//!
//! - A region owns its memory ([`Pd::alloc_mr`], [`Pd::reg_mr`]), or the caller promises to
//!   keep it ([`Pd::reg_mr_raw`], `unsafe`). Borrowed registration is not offered: `mem::forget`
//!   ends a borrow without running `Drop`, so a borrowed buffer could be freed while the device
//!   still writes it.
//! - Work requests name regions through [`MrSlice`] (the device reads) and [`MrSliceMut`] (the
//!   device writes), borrowed from the region: while a request is being built, the borrow
//!   checker keeps Rust references to the bytes away, and a request that writes needs `&mut`.
//! - Once posted, the QP holds the region until the device's consumer index shows the request
//!   done (`in_flight.rs`); until then [`MemoryRegion::as_slice`] (device writes pending) and
//!   [`MemoryRegion::as_mut_slice`] (any device use pending) answer [`Error::InFlight`], and
//!   other QPs are refused the region ([`PostError::RegionBusy`]): two engines must never
//!   touch the same bytes at once.
//!   Dropping a busy region only drops the handle: the memory is deregistered and freed when the
//!   last request naming it retires, so `mem::forget` of a QP leaks memory but never frees it
//!   under the device.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use accelverbs_uapi::ids::{mr, object};
use accelverbs_uapi::wqe::Sge;

use crate::context::ContextInner;
use crate::in_flight::DeviceAccess;
use crate::mem::PageBuffer;
use crate::pd::PdInner;
use crate::{Access, Error, Pd, PostError};

/// Where a region's bytes come from.
#[derive(Debug)]
enum Backing {
    Pages(PageBuffer),
    Vec(#[allow(dead_code)] Vec<u8>),
    /// The caller's, under `reg_mr_raw`'s contract.
    Caller,
}

/// The registration, shared by the handle and every posted request naming it.
#[derive(Debug)]
// Aligned so no device object written by an engine (an MR entry, allocated by the same
// registration) shares its cache lines: the poster updates `device` on every request.
#[repr(align(128))]
pub(crate) struct MrShared {
    pd: Arc<PdInner>,
    handle: u32,
    lkey: u32,
    rkey: u32,
    ptr: *mut u8,
    len: usize,
    /// Posted requests that may still use the region: see [`DeviceUse`].
    device: AtomicU64,
    backing: Backing,
}

// SAFETY: the bytes at `ptr` are reached only under the rules in the module docs (the counters
// and the borrows of `MemoryRegion`); everything else is plain data or Send + Sync.
unsafe impl Send for MrShared {}
// SAFETY: as above.
unsafe impl Sync for MrShared {}

/// The device's use of a region, in one word so it changes atomically: how many posted
/// requests still name it (`uses`), how many of those write it (`writes`), and which QP they
/// were posted on (`qp`, a process-wide serial; 0 when unused). One QP runs its requests one
/// after another, but two QPs may run on two engines at once, so a region is lent to one QP
/// at a time: otherwise two engines could write (or one write and one read) the same bytes
/// concurrently, a data race in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DeviceUse {
    qp: u32,
    writes: u16,
    uses: u16,
}

impl DeviceUse {
    const QP_SHIFT: u32 = 32;
    const WRITES_SHIFT: u32 = 16;

    fn unpack(word: u64) -> Self {
        Self { qp: (word >> Self::QP_SHIFT) as u32, writes: (word >> Self::WRITES_SHIFT) as u16, uses: word as u16 }
    }

    fn pack(self) -> u64 {
        u64::from(self.qp) << Self::QP_SHIFT | u64::from(self.writes) << Self::WRITES_SHIFT | u64::from(self.uses)
    }
}

#[cfg(test)]
mod tests {
    use super::DeviceUse;

    #[test]
    fn device_use_packs_into_one_word_and_back() {
        for used in [
            DeviceUse { qp: 0, writes: 0, uses: 0 },
            DeviceUse { qp: 1, writes: 0, uses: 1 },
            DeviceUse { qp: u32::MAX, writes: u16::MAX, uses: u16::MAX },
            DeviceUse { qp: 0x1234_5678, writes: 0x9ABC, uses: 0xDEF0 },
        ] {
            assert_eq!(DeviceUse::unpack(used.pack()), used);
        }
        assert_eq!(DeviceUse { qp: 2, writes: 1, uses: 3 }.pack(), 0x0000_0002_0001_0003);
    }
}

impl MrShared {
    /// Lends the region to QP `qp` for one more request. A QP never has more than
    /// [`crate::qp::MAX_DEPTH`] requests in flight, each counted once per region, so the
    /// 16-bit counts cannot overflow.
    pub(crate) fn device_use_begins(&self, qp: u32, access: DeviceAccess) -> Result<(), PostError> {
        let write = u16::from(access == DeviceAccess::Write);
        // Relaxed would do for the host's view (the borrow that made the request orders it);
        // Acquire orders this QP's use after another QP's last use ended (their release).
        self.device
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |word| {
                let used = DeviceUse::unpack(word);
                if used.uses != 0 && used.qp != qp {
                    return None;
                }
                Some(DeviceUse { qp, writes: used.writes + write, uses: used.uses + 1 }.pack())
            })
            .map(drop)
            .map_err(|_| PostError::RegionBusy)
    }

    pub(crate) fn device_use_ends(&self, access: DeviceAccess) {
        let write = u16::from(access == DeviceAccess::Write);
        // Release: pairs with the acquire in `as_slice`/`as_mut_slice` (and the next QP's
        // `device_use_begins`), so the device's accesses, acquired from its consumer index
        // before this, happen before theirs.
        let _ = self.device.fetch_update(Ordering::Release, Ordering::Relaxed, |word| {
            let used = DeviceUse::unpack(word);
            let uses = used.uses - 1;
            Some(DeviceUse { qp: if uses == 0 { 0 } else { used.qp }, writes: used.writes - write, uses }.pack())
        });
    }

    /// Whether the region was registered through context `ctx`.
    pub(crate) fn belongs_to(&self, ctx: &Arc<ContextInner>) -> bool {
        Arc::ptr_eq(&self.pd.ctx, ctx)
    }

    fn device_use(&self) -> DeviceUse {
        DeviceUse::unpack(self.device.load(Ordering::Acquire))
    }

    pub(crate) fn rkey(&self) -> u32 {
        self.rkey
    }

    pub(crate) fn sge(&self, offset: usize, len: u32) -> Sge {
        Sge { addr: (self.ptr as u64).wrapping_add(offset as u64), length: len, lkey: self.lkey }
    }
}

impl Drop for MrShared {
    fn drop(&mut self) {
        let mut cmd = crate::ioctl::Command::new(object::MR, mr::METHOD_DESTROY);
        cmd.handle(mr::ATTR_DESTROY_HANDLE, self.handle);
        // Deregistration returns only after in-flight device accesses finished, so the memory
        // (freed right after) is no longer used. If the device refuses, it may still use the
        // memory: keep it mapped rather than free it under the device.
        if self.pd.ctx.call(&mut cmd).is_err() {
            match &mut self.backing {
                Backing::Pages(pages) => pages.leak(),
                Backing::Vec(v) => std::mem::forget(std::mem::take(v)),
                Backing::Caller => {}
            }
        }
    }
}

/// Registered memory (`ibv_mr`).
#[derive(Debug)]
pub struct MemoryRegion {
    shared: Arc<MrShared>,
}

/// `len` bytes of a region that a work request lets the device read.
#[derive(Debug, Clone, Copy)]
pub struct MrSlice<'a> {
    pub(crate) mr: &'a Arc<MrShared>,
    pub(crate) sge: Sge,
}

/// `len` bytes of a region that a work request lets the device write.
#[derive(Debug)]
pub struct MrSliceMut<'a> {
    pub(crate) mr: &'a Arc<MrShared>,
    pub(crate) sge: Sge,
}

impl<B> Pd<B> {
    /// Allocates `len` zeroed, page-aligned bytes and registers them.
    pub fn alloc_mr(&self, len: usize, access: Access) -> Result<MemoryRegion, Error> {
        alloc_registered(&self.inner, len, access)
    }

    /// Registers `buf` (`ibv_reg_mr`); the region owns it from now on. A device in another
    /// process reaches only memory shared with it, so there the bytes move into such memory
    /// (the region's methods are the only way to them either way).
    pub fn reg_mr(&self, mut buf: Vec<u8>, access: Access) -> Result<MemoryRegion, Error> {
        if let Some(shared) = self.inner.ctx.channel.shared_memory() {
            let pages = PageBuffer::for_device(buf.len(), "MR buffer", Some(shared))?;
            // SAFETY: `pages` is a fresh mapping of at least `buf.len()` bytes that nothing
            // else references yet.
            unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), pages.as_ptr(), buf.len()) };
            let ptr = pages.as_ptr();
            return self.register(ptr, buf.len(), access, Backing::Pages(pages));
        }
        let (ptr, len) = (buf.as_mut_ptr(), buf.len());
        // Moving the Vec into the region keeps its heap block where it is.
        self.register(ptr, len, access, Backing::Vec(buf))
    }

    /// Registers memory the region does not own (`ibv_reg_mr` on any address), for memory
    /// shared with C or mapped by the caller. The device checks the range is mapped with the
    /// access asked for (`EFAULT` otherwise).
    ///
    /// # Safety
    /// `addr..addr + len` must stay mapped and must not be read or written except through this
    /// region's methods until the region is dropped *and* every work request naming it has
    /// completed (its completion, or a later one of the same QP, was polled, or the QP was
    /// destroyed). The same physical pages must not be reachable through another registered
    /// range at once (a second mapping of a shared file): the device would read and write one
    /// byte under two addresses.
    pub unsafe fn reg_mr_raw(&self, addr: *mut u8, len: usize, access: Access) -> Result<MemoryRegion, Error> {
        self.register(addr, len, access, Backing::Caller)
    }

    fn register(&self, ptr: *mut u8, len: usize, access: Access, backing: Backing) -> Result<MemoryRegion, Error> {
        register(&self.inner, ptr, len, access, backing)
    }
}

/// Allocates `len` zeroed, page-aligned bytes and registers them in `pd` (for memory the
/// provider itself hands the device, such as a QP's SGE lists).
pub(crate) fn alloc_registered(pd: &Arc<PdInner>, len: usize, access: Access) -> Result<MemoryRegion, Error> {
    let buf = PageBuffer::for_device(len, "MR buffer", pd.ctx.channel.shared_memory())?;
    let ptr = buf.as_ptr();
    register(pd, ptr, len, access, Backing::Pages(buf))
}

fn register(pd: &Arc<PdInner>, ptr: *mut u8, len: usize, access: Access, backing: Backing) -> Result<MemoryRegion, Error> {
    let (mut lkey, mut rkey) = (0u32, 0u32);
    let mut cmd = crate::ioctl::Command::new(object::MR, mr::METHOD_REG);
    let h = cmd.new_object(mr::ATTR_REG_HANDLE);
    cmd.handle(mr::ATTR_REG_PD_HANDLE, pd.handle)
        .input_u64(mr::ATTR_REG_ADDR, ptr as u64)
        .input_u64(mr::ATTR_REG_LENGTH, len as u64)
        .input_u32(mr::ATTR_REG_ACCESS, access.bits())
        .output(mr::ATTR_REG_RESP_LKEY, &mut lkey)
        .output(mr::ATTR_REG_RESP_RKEY, &mut rkey);
    pd.ctx.run("reg_mr", &mut cmd)?;
    let handle = cmd.new_handle(h);
    let shared = MrShared { pd: Arc::clone(pd), handle, lkey, rkey, ptr, len, device: AtomicU64::new(0), backing };
    Ok(MemoryRegion { shared: Arc::new(shared) })
}

impl<'a> MrSlice<'a> {
    /// Length in bytes.
    pub fn len(&self) -> u32 {
        self.sge.length
    }

    pub fn is_empty(&self) -> bool {
        self.sge.length == 0
    }

    /// The first `mid` bytes and the rest (`mid` past the end is the end), as `slice::split_at`.
    pub fn split_at(self, mid: u32) -> (MrSlice<'a>, MrSlice<'a>) {
        let (head, tail) = split_sge(self.sge, mid);
        (MrSlice { mr: self.mr, sge: head }, MrSlice { mr: self.mr, sge: tail })
    }
}

impl<'a> MrSliceMut<'a> {
    /// Length in bytes.
    pub fn len(&self) -> u32 {
        self.sge.length
    }

    pub fn is_empty(&self) -> bool {
        self.sge.length == 0
    }

    /// The first `mid` bytes and the rest, two slices the device may write independently
    /// (`mid` past the end is the end), as `slice::split_at_mut`.
    pub fn split_at(self, mid: u32) -> (MrSliceMut<'a>, MrSliceMut<'a>) {
        let (head, tail) = split_sge(self.sge, mid);
        (MrSliceMut { mr: self.mr, sge: head }, MrSliceMut { mr: self.mr, sge: tail })
    }
}

fn split_sge(sge: Sge, mid: u32) -> (Sge, Sge) {
    let mid = mid.min(sge.length);
    let head = Sge { length: mid, ..sge };
    let tail = Sge { addr: sge.addr.wrapping_add(u64::from(mid)), length: sge.length - mid, ..sge };
    (head, tail)
}

impl MemoryRegion {
    /// The region's bytes for the provider's own writes, bypassing the in-flight checks: only
    /// for regions the provider owns and never lends to requests (SGE lists).
    pub(crate) fn base_ptr(&self) -> *mut u8 {
        self.shared.ptr
    }

    /// The handle the driver gave this region.
    pub fn handle(&self) -> u32 {
        self.shared.handle
    }

    pub fn lkey(&self) -> u32 {
        self.shared.lkey
    }

    pub fn rkey(&self) -> u32 {
        self.shared.rkey
    }

    /// Address of the first byte, as work requests name it.
    pub fn addr(&self) -> u64 {
        self.shared.ptr as u64
    }

    pub fn len(&self) -> usize {
        self.shared.len
    }

    pub fn is_empty(&self) -> bool {
        self.shared.len == 0
    }

    /// `len` bytes at `offset` for the device to read. Not checked here: the device checks
    /// every SGE against the region and completes a bad one with a protection error.
    pub fn slice(&self, offset: usize, len: u32) -> MrSlice<'_> {
        MrSlice { mr: &self.shared, sge: self.shared.sge(offset, len) }
    }

    /// `len` bytes at `offset` for the device to write (checked by the device, as `slice`).
    pub fn slice_mut(&mut self, offset: usize, len: u32) -> MrSliceMut<'_> {
        MrSliceMut { mr: &self.shared, sge: self.shared.sge(offset, len) }
    }

    /// The raw descriptor of `len` bytes at `offset`, for the `unsafe` work-request
    /// constructors that take SGEs as they are (tests of the device's checks).
    pub fn sge(&self, offset: usize, len: u32) -> Sge {
        self.shared.sge(offset, len)
    }

    /// Whether a posted work request may still use the region (its completion, or a later one
    /// of its QP, has not been polled yet).
    pub fn in_flight(&self) -> bool {
        self.shared.device_use().uses != 0
    }

    /// The bytes, unless a posted request may still write them ([`Error::InFlight`]: poll its
    /// completion first).
    pub fn as_slice(&self) -> Result<&[u8], Error> {
        if self.shared.device_use().writes != 0 {
            return Err(Error::InFlight { what: "memory region" });
        }
        // SAFETY: the region owns (or was promised) `len` valid bytes at `ptr`; no posted
        // request writes them (checked above), and a new one needs `&mut self`, which the
        // returned borrow excludes.
        Ok(unsafe { std::slice::from_raw_parts(self.shared.ptr, self.shared.len) })
    }

    /// The bytes for writing, unless a posted request may still read or write them.
    pub fn as_mut_slice(&mut self) -> Result<&mut [u8], Error> {
        if self.in_flight() {
            return Err(Error::InFlight { what: "memory region" });
        }
        // SAFETY: as above, with no posted request using them at all; `&mut self` keeps new
        // requests and other references away while the slice lives.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.shared.ptr, self.shared.len) })
    }
}
