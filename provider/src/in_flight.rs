//! What the device may still touch: for every send-queue slot, the registered regions its WQE
//! names, held from the moment the WQE is written until the device's consumer index shows it
//! done. While a slot holds a region, the region's bytes are not handed out for a conflicting
//! access (see `mr.rs`), and the region cannot be deregistered and freed under the device.
//!
//! Two cursors split the ring between the QP's one poster and whoever retires slots (the poster
//! when its ring looks full, the CQ's poller after it reads completions):
//!
//! ```text
//!   retired ──────────── published ─────────── retired + depth
//!   │ retirer's: WQEs the  │ poster's: slots it  │
//!   │ device may be using  │ may fill next       │
//! ```
//!
//! The poster fills a slot, then publishes it (release); a retirer reads `published` (acquire)
//! and touches only slots below it. A retirer empties slots, then advances `retired` (release);
//! the poster reads `retired` (acquire) before it reuses a slot. Retirers exclude each other
//! with a try-lock: one that finds it taken leaves the work to the holder.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use crate::doorbell::SharedIndex;
use crate::mem::PageBuffer;
use crate::mr::MrShared;

/// Most regions one WQE names.
pub(crate) const MAX_REGIONS: usize = 2;

/// How the device will access a region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeviceAccess {
    Read,
    Write,
}

/// One region named by one WQE: marked busy for `access` while this value lives.
#[derive(Debug)]
pub struct RegionUse {
    mr: Arc<MrShared>,
    access: DeviceAccess,
}

impl RegionUse {
    pub(crate) fn new(mr: &Arc<MrShared>, access: DeviceAccess) -> Self {
        mr.device_use_begins(access);
        Self { mr: Arc::clone(mr), access }
    }
}

impl Drop for RegionUse {
    fn drop(&mut self) {
        self.mr.device_use_ends(self.access);
    }
}

/// The regions of one WQE.
pub type Regions = [Option<RegionUse>; MAX_REGIONS];

/// The regions of a QP's posted WQEs, slot by slot.
#[derive(Debug)]
pub(crate) struct InFlight {
    slots: Box<[UnsafeCell<Regions>]>,
    mask: u32,
    /// Free-running count of WQEs the poster published; their slots are the retirers'.
    published: AtomicU32,
    /// Free-running count of slots emptied; those up to `retired + depth` are the poster's.
    retired: AtomicU32,
    /// Held by the one thread retiring slots.
    retiring: AtomicBool,
    /// The device's consumer index, in the doorbell record this value owns (so a retirer that
    /// outlives the QP still reads mapped memory).
    device_consumer: SharedIndex,
    doorbell: PageBuffer,
}

// SAFETY: the slots are shared between one poster and one retirer at a time, on disjoint index
// ranges ordered by `published` and `retired` (module docs); `RegionUse` is Send + Sync.
unsafe impl Sync for InFlight {}
// SAFETY: as above; nothing in it is tied to a thread.
unsafe impl Send for InFlight {}

impl InFlight {
    /// `depth` slots (a power of two); `consumer_offset` is where the device keeps its consumer
    /// index inside `doorbell`.
    pub fn new(depth: u32, doorbell: PageBuffer, consumer_offset: usize) -> Self {
        debug_assert!(depth.is_power_of_two());
        debug_assert!(consumer_offset + 4 <= doorbell.len());
        let slots = (0..depth).map(|_| UnsafeCell::new(Regions::default())).collect();
        // SAFETY: the offset lies inside the doorbell buffer (checked above), which is page
        // aligned, so the index is 4-byte aligned; the buffer lives as long as `self`.
        let device_consumer = unsafe { SharedIndex::new(doorbell.as_ptr().add(consumer_offset)) };
        Self {
            slots,
            mask: depth - 1,
            published: AtomicU32::new(0),
            retired: AtomicU32::new(0),
            retiring: AtomicBool::new(false),
            device_consumer,
            doorbell,
        }
    }

    /// The doorbell record.
    pub fn doorbell(&self) -> &PageBuffer {
        &self.doorbell
    }

    fn depth(&self) -> u32 {
        self.mask + 1
    }

    /// Whether the slot for free-running `index` is empty and the poster's to fill.
    pub fn is_free(&self, index: u32) -> bool {
        index.wrapping_sub(self.retired.load(Ordering::Acquire)) < self.depth()
    }

    /// Stores the regions of the WQE written at `index`.
    ///
    /// # Safety
    /// Only the QP's poster calls this, for an index at or past the last one published for
    /// which [`InFlight::is_free`] returned true.
    pub unsafe fn fill(&self, index: u32, regions: Regions) {
        let slot = self.slots[(index & self.mask) as usize].get();
        // SAFETY: the slot is the poster's (caller's contract): no retirer reads it until
        // `publish` covers it, and it was emptied before `retired` passed it.
        unsafe { *slot = regions };
    }

    /// Hands the slots below `upto` to the retirers.
    pub fn publish(&self, upto: u32) {
        self.published.store(upto, Ordering::Release);
    }

    /// Empties the slots of WQEs the device has consumed, unless another thread is doing so
    /// right now. Returns the retired count as it stands.
    pub fn retire(&self) -> u32 {
        if self.retiring.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            return self.retired.load(Ordering::Acquire);
        }
        let start = self.retired.load(Ordering::Relaxed);
        let published = self.published.load(Ordering::Acquire);
        // Acquire pairs with the device's release of its consumer index: everything it did for
        // those WQEs (their reads and writes of the regions) happens before the regions are
        // let go below.
        let consumed = self.device_consumer.load(Ordering::Acquire);
        // A consumer index outside [retired, published] (the QP is being reset) proves nothing.
        let end = if consumed.wrapping_sub(start) <= published.wrapping_sub(start) { consumed } else { start };
        self.empty(start, end);
        self.retired.store(end, Ordering::Release);
        self.retiring.store(false, Ordering::Release);
        end
    }

    /// Lets go of every published slot and starts both cursors again at `base`. For a QP the
    /// device will never run those WQEs for: after RESET, after destroy.
    pub fn discard(&self, base: u32) {
        while self.retiring.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            std::hint::spin_loop();
        }
        let start = self.retired.load(Ordering::Relaxed);
        let published = self.published.load(Ordering::Acquire);
        self.empty(start, published);
        self.published.store(base, Ordering::Release);
        self.retired.store(base, Ordering::Release);
        self.retiring.store(false, Ordering::Release);
    }

    /// Empties slots `start..end` (free-running, at most one ring). Caller holds `retiring`.
    fn empty(&self, start: u32, end: u32) {
        let count = end.wrapping_sub(start).min(self.depth());
        for i in 0..count {
            let slot = self.slots[(start.wrapping_add(i) & self.mask) as usize].get();
            // SAFETY: the slot is below `published` (acquired by the caller) and at or past
            // `retired`, so it belongs to the holder of `retiring`, which the caller is.
            unsafe { *slot = Regions::default() };
        }
    }
}
