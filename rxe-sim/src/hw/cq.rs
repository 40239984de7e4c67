//! Completion queues on the soft device: a multi-producer ring in user memory. Producers
//! reserve slots with a CAS on a device-private index, fill them, and publish each entry by its
//! owner bit, so QPs on different engines can share one CQ without a lock.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use accelverbs_kernel_abi::{HwCq, PinnedMemory};
use accelverbs_uapi::cache_hint::prefetch_for_write;
use accelverbs_uapi::cqe::{owner_bit_for, Cqe, CqeStatus, CQE_OWNER_OFFSET, CQE_SIZE};
use accelverbs_uapi::doorbell::CqDoorbellRecord;
use accelverbs_uapi::wqe::flags as wqe_flags;
use zerocopy::IntoBytes;

use crate::hw::comp_channel::SoftCompChannel;
use crate::hw::notify::Arming;
use crate::hw::qp::SoftQp;
use crate::hw::shared::{store_release_u8, SharedU32};

/// A completion queue on the soft device.
#[derive(Debug)]
#[repr(align(128))]
pub struct SoftCq {
    cqn: u32,
    ring: *mut u8,
    log_size: u32,
    /// `CqDoorbellRecord::consumer`, written by the application.
    consumer: SharedU32,
    /// Next free-running index to hand out; device-private.
    producer: AtomicU32,
    arming: Arming,
    channel: Option<Arc<SoftCompChannel>>,
    user_handle: u64,
    events_reported: AtomicU32,
    /// QPs completing here, for inline execution driven by the poller.
    pub(crate) qps: RwLock<Vec<Arc<SoftQp>>>,
    quiesced: AtomicBool,
    pub(crate) ctx_id: u32,
    /// The ring and doorbell pins, released by `quiesce`.
    pins: Mutex<Option<[Arc<dyn PinnedMemory>; 2]>>,
}

// SAFETY: `ring` and the doorbell point into memory the application keeps mapped until the CQ
// is destroyed, and the device writes them only from passes of the CQ's QPs, all destroyed (and
// waited out) before the CQ can be; slots are written only after being reserved through the
// atomic `producer`, and published with release stores.
unsafe impl Send for SoftCq {}
// SAFETY: as above; shared access goes through atomics and disjoint reserved slots.
unsafe impl Sync for SoftCq {}

impl SoftCq {
    pub fn new(
        cqn: u32,
        ctx_id: u32,
        ring: Arc<dyn PinnedMemory>,
        doorbell: Arc<dyn PinnedMemory>,
        log_size: u32,
        user_handle: u64,
        channel: Option<Arc<SoftCompChannel>>,
    ) -> Self {
        debug_assert!(doorbell.len() >= std::mem::size_of::<CqDoorbellRecord>() as u64);
        debug_assert!(ring.len() >= (CQE_SIZE as u64) << log_size);
        // SAFETY: the driver pinned a whole, 64-byte aligned CqDoorbellRecord at this address.
        let consumer = unsafe { SharedU32::new(doorbell.dma_addr().add(std::mem::offset_of!(CqDoorbellRecord, consumer))) };
        Self {
            cqn,
            ring: ring.dma_addr(),
            log_size,
            consumer,
            producer: AtomicU32::new(0),
            arming: Arming::default(),
            channel,
            user_handle,
            events_reported: AtomicU32::new(0),
            qps: RwLock::new(Vec::new()),
            quiesced: AtomicBool::new(false),
            ctx_id,
            pins: Mutex::new(Some([ring, doorbell])),
        }
    }

    fn size(&self) -> u32 {
        1 << self.log_size
    }

    /// Entries the application has room for now. A consumer index it claims beyond what was
    /// produced reads as "full": a lying application only stalls itself.
    pub fn free_slots(&self) -> u32 {
        let used = self.producer.load(Ordering::Acquire).wrapping_sub(self.consumer.load(Ordering::Acquire));
        self.size().saturating_sub(used)
    }

    /// Starts taking the lines of the next `count` slots for writing (at most the ring): a
    /// hint for an engine about to run that many WQEs, so the application's core hands the
    /// lines over while the work runs, not when the completions are written.
    pub fn prepare_slots(&self, count: u32) {
        let first = self.producer.load(Ordering::Relaxed);
        let mask = self.size() - 1;
        let per_line = (64 / CQE_SIZE) as u32;
        for line in (0..count.min(self.size())).step_by(per_line as usize) {
            let index = first.wrapping_add(line) & mask;
            prefetch_for_write(self.ring.wrapping_add(index as usize * CQE_SIZE));
        }
    }

    /// Writes `cqes` to consecutive slots, or nothing if they do not all fit.
    pub fn try_post(&self, cqes: &[Cqe]) -> bool {
        if self.quiesced.load(Ordering::Acquire) {
            return true;
        }
        let n = cqes.len() as u32;
        let reserved = self.producer.fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| {
            let used = p.wrapping_sub(self.consumer.load(Ordering::Acquire));
            (used <= self.size() && self.size() - used >= n).then(|| p.wrapping_add(n))
        });
        let Ok(first) = reserved else { return false };
        let mask = self.size() - 1;
        for (i, cqe) in cqes.iter().enumerate() {
            let index = first.wrapping_add(i as u32);
            let slot_offset = ((index & mask) as usize) * CQE_SIZE;
            let bytes = cqe.as_bytes();
            // SAFETY: the slot lies inside the pinned ring (index masked to the ring size) and
            // was reserved above for this producer alone. The body is written first; the owner
            // byte is published last with release ordering so a poller that sees it sees the body.
            unsafe {
                let slot = self.ring.add(slot_offset);
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), slot, CQE_OWNER_OFFSET);
                store_release_u8(slot.add(CQE_OWNER_OFFSET), owner_bit_for(index, self.log_size));
            }
        }
        // A CQ without a channel can never be armed (`request_notify` is refused): no fence.
        if self.channel.is_some() {
            let solicited = cqes.iter().any(|c| c.flags & wqe_flags::SOLICITED != 0 || c.status != CqeStatus::Success as u8);
            if self.arming.completions_published(solicited) {
                self.raise_event();
            }
        }
        true
    }

    fn raise_event(&self) {
        if let Some(channel) = &self.channel {
            self.events_reported.fetch_add(1, Ordering::Relaxed);
            channel.push(self.cqn, self.user_handle);
        }
    }
}

impl HwCq for SoftCq {
    fn cqn(&self) -> u32 {
        self.cqn
    }

    fn request_notify(&self, solicited_only: bool) {
        // Completions that landed before arming and are still unpolled fire at once, so the
        // "arm, then poll once more" idiom never sleeps on a ready CQ.
        let waiting = || self.producer.load(Ordering::Acquire) != self.consumer.load(Ordering::Acquire);
        if self.arming.arm(solicited_only, waiting) {
            self.raise_event();
        }
    }

    fn comp_events_reported(&self) -> u32 {
        self.events_reported.load(Ordering::Relaxed)
    }

    fn quiesce(&self) {
        self.quiesced.store(true, Ordering::Release);
        // Nothing posts here any more (its QPs were destroyed first, each waiting out its
        // passes): drop events still queued, so a destroyed CQ is never reported.
        if let Some(channel) = &self.channel {
            channel.purge(self.cqn);
        }
        drop(self.pins.lock().unwrap_or_else(|e| e.into_inner()).take());
    }
}
