//! What the device may still touch: for every send-queue slot, the registered regions its WQE
//! names, held from the moment the WQE is written until the device's consumer index shows it
//! done. While a slot holds a region, the region's bytes are not handed out for a conflicting
//! access (see `mr.rs`), and the region cannot be deregistered and freed under the device.
//! The slots are a [`SlotRing`]: the QP's poster fills them, and the poster (when its ring
//! looks full) or the CQ's poller (after it reads completions) retires them.

use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::mem::PageBuffer;
use crate::mr::MrShared;
use crate::slot_ring::{SlotRing, SlotValue};
use crate::PostError;
use accelverbs_uapi::shared::SharedU32;

use crate::comp_stream::StreamInner;
use crate::context::ContextInner;
use crate::crypto_key::KeyInner;

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

/// The QP a request is posted on, as regions see it.
#[derive(Clone, Copy)]
pub struct Borrower<'a> {
    /// Process-wide QP serial (`qp.rs`).
    pub(crate) qp: u32,
    pub(crate) ctx: &'a Arc<ContextInner>,
    /// What the WQE staged just before this one holds, while both are unpublished: a hold it
    /// has on a region this one names moves here instead of a new one being taken (this WQE
    /// retires after it), so a batch over the same regions lends each once. Only `lend`
    /// reaches it, through [`Borrower::previous`].
    previous: Option<NonNull<Regions>>,
}

impl std::fmt::Debug for Borrower<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Borrower").field("qp", &self.qp).field("previous", &self.previous.is_some()).finish_non_exhaustive()
    }
}

impl<'a> Borrower<'a> {
    pub(crate) fn new(qp: u32, ctx: &'a Arc<ContextInner>) -> Self {
        Self { qp, ctx, previous: None }
    }

    /// A borrower for a WQE staged after the one whose regions are `previous`.
    ///
    /// # Safety
    /// `previous` is the regions of that staged, unpublished WQE, which nothing else reaches
    /// while this borrower is in use (the poster holds the QP), and the borrower is used for
    /// one `regions` call (which calls [`Borrower::previous`] at most once).
    pub(crate) unsafe fn after(self, previous: &mut Regions) -> Self {
        Self { previous: Some(NonNull::from(previous)), ..self }
    }

    /// The regions of the WQE staged before, if any.
    ///
    /// # Safety
    /// Called at most once for the borrower made by `after` (or its copies), and the reference
    /// not kept past the `regions` call.
    pub(crate) unsafe fn previous(self) -> Option<&'a mut Regions> {
        // SAFETY: `after`'s contract makes the regions live and reached by nothing else, and
        // ours makes this the one reference made from them.
        self.previous.map(|p| unsafe { &mut *p.as_ptr() })
    }
}

impl RegionUse {
    /// Lends `mr` to `borrower` for one request: `WrongContext` for a region of another
    /// context, `RegionBusy` while another QP uses it.
    pub(crate) fn new(mr: &Arc<MrShared>, borrower: Borrower<'_>, access: DeviceAccess) -> Result<Self, PostError> {
        // Keys and PD numbers are only unique within a device: a region of another device could
        // carry the very key of a region here, which the device would then write unguarded.
        if !mr.belongs_to(borrower.ctx) {
            return Err(PostError::WrongContext);
        }
        mr.device_use_begins(borrower.qp, access)?;
        Ok(Self { mr: Arc::clone(mr), access })
    }
}

impl RegionUse {
    fn covers(&self, mr: &Arc<MrShared>, access: DeviceAccess) -> bool {
        Arc::ptr_eq(&self.mr, mr) && (self.access == access || self.access == DeviceAccess::Write)
    }
}

impl Drop for RegionUse {
    fn drop(&mut self) {
        self.mr.device_use_ends(self.access);
    }
}

/// Regions of one WQE kept inline: every request but a gathered one (AES-GCM names four:
/// input, output, tag, AAD), with no allocation.
pub(crate) const INLINE_REGIONS: usize = 4;

/// The regions of one WQE: up to `INLINE_REGIONS` kept inline, any number more in a list.
#[derive(Debug, Default)]
pub struct Regions {
    inline: [Option<RegionUse>; INLINE_REGIONS],
    more: Option<Box<[RegionUse]>>,
    /// The compression context the WQE names, kept until the device is done with the WQE.
    stream: Option<Arc<StreamInner>>,
    /// The crypto key the WQE names, likewise.
    key: Option<Arc<KeyInner>>,
}

impl Regions {
    pub(crate) fn one(a: RegionUse) -> Self {
        Self { inline: [Some(a), None, None, None], ..Self::default() }
    }

    /// Up to `INLINE_REGIONS` uses (each region once), without allocating.
    pub(crate) fn few(uses: [Option<RegionUse>; INLINE_REGIONS]) -> Self {
        Self { inline: uses, ..Self::default() }
    }

    /// Any number of uses (each region once).
    pub(crate) fn many(uses: Vec<RegionUse>) -> Self {
        if uses.len() <= INLINE_REGIONS {
            let mut inline: [Option<RegionUse>; INLINE_REGIONS] = Default::default();
            for (slot, used) in inline.iter_mut().zip(uses) {
                *slot = Some(used);
            }
            return Self::few(inline);
        }
        Self { more: Some(uses.into_boxed_slice()), ..Self::default() }
    }

    /// Also holds `stream`.
    pub(crate) fn hold_stream(&mut self, stream: Option<Arc<StreamInner>>) {
        self.stream = stream;
    }

    /// Also holds `key`.
    pub(crate) fn with_key(mut self, key: Arc<KeyInner>) -> Self {
        self.key = Some(key);
        self
    }

    /// Whether these are exactly `uses` (in order, each covering its access) and `key`, with
    /// nothing else: a request like the one before, which can take all of them over at once.
    pub(crate) fn are_exactly(&self, uses: &[(&Arc<MrShared>, DeviceAccess)], key: Option<&Arc<KeyInner>>) -> bool {
        let key_matches = match (&self.key, key) {
            (None, None) => true,
            (Some(held), Some(key)) => Arc::ptr_eq(held, key),
            _ => false,
        };
        key_matches
            && self.more.is_none()
            && self.stream.is_none()
            && uses.len() <= INLINE_REGIONS
            && self.inline[uses.len()..].iter().all(Option::is_none)
            && self.inline.iter().zip(uses).all(|(held, &(mr, access))| held.as_ref().is_some_and(|u| u.covers(mr, access)))
    }

    /// Holds `regions`, holding nothing before (a WQE's slot as `lend` finds it).
    pub(crate) fn put(&mut self, regions: Regions) {
        debug_assert!(self.is_vacant());
        // Written over rather than assigned: what a vacant value would drop is nothing, and
        // checking that costs about what the move itself does.
        std::mem::forget(std::mem::replace(self, regions));
    }

    /// Takes everything `from` holds (the WQE staged before), holding nothing before.
    pub(crate) fn take_all(&mut self, from: &mut Regions) {
        debug_assert!(self.is_vacant());
        // Swapped: what `from` gets back is this vacant value, as if taken, with no new one made.
        std::mem::swap(self, from);
    }

    /// Whether a use of `mr` kept inline here covers `access` (a write covers a read).
    pub(crate) fn holds(&self, mr: &Arc<MrShared>, access: DeviceAccess) -> bool {
        self.inline.iter().flatten().any(|u| u.covers(mr, access))
    }

    /// Takes the inline use of `mr` that covers `access`, if there is one.
    pub(crate) fn take_use(&mut self, mr: &Arc<MrShared>, access: DeviceAccess) -> Option<RegionUse> {
        self.inline.iter_mut().find(|u| u.as_ref().is_some_and(|u| u.covers(mr, access)))?.take()
    }

    /// Takes the hold on `key`, if this is it.
    pub(crate) fn take_key(&mut self, key: &Arc<KeyInner>) -> Option<Arc<KeyInner>> {
        self.key.take_if(|held| Arc::ptr_eq(held, key))
    }
}

impl SlotValue for Regions {
    // Inline: a request naming nothing (a NOP) then checks it in a few instructions.
    #[inline]
    fn is_vacant(&self) -> bool {
        // Every field named: one added later does not compile here until it is, so a vacant
        // value never owns a hold (`SlotRing::fill` forgets it).
        let Self { inline, more, stream, key } = self;
        inline.iter().all(Option::is_none) && more.is_none() && stream.is_none() && key.is_none()
    }
}

/// The regions of a QP's posted WQEs, slot by slot.
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct InFlight {
    slots: SlotRing<Regions>,
    /// The device's consumer index, in the doorbell record this value holds (so a retirer that
    /// outlives the QP still reads mapped memory). A QP's send and receive queues share one.
    device_consumer: SharedU32,
    doorbell: Arc<PageBuffer>,
}

impl InFlight {
    /// `depth` slots (a power of two); `consumer_offset` is where the device keeps its consumer
    /// index inside `doorbell`.
    pub fn new(depth: u32, doorbell: Arc<PageBuffer>, consumer_offset: usize) -> Self {
        assert!(consumer_offset + 4 <= doorbell.len());
        // SAFETY: the offset lies inside the doorbell buffer (checked above), which is page
        // aligned, so the index is 4-byte aligned; the buffer lives as long as `self`.
        let device_consumer = unsafe { SharedU32::new(doorbell.as_ptr().add(consumer_offset)) };
        Self { slots: SlotRing::new(depth), device_consumer, doorbell }
    }

    /// The doorbell record.
    pub fn doorbell(&self) -> &PageBuffer {
        &self.doorbell
    }

    /// Whether the slot for free-running `index` is free to post into.
    pub fn is_free(&self, index: u32) -> bool {
        self.slots.is_free(index)
    }

    /// Holds the regions of the WQE written at `index`.
    ///
    /// # Safety
    /// As [`SlotRing::fill`]: only the QP's poster, for a free slot at or past the published
    /// count.
    #[inline] // into the generic post path, where a request naming no region costs nothing
    pub unsafe fn fill(&self, index: u32, regions: Regions) {
        // SAFETY: the caller's contract is `SlotRing::fill`'s.
        unsafe { self.slots.fill(index, regions) }
    }

    /// Lets `fill` hold the regions of the WQE written at `index` in place; on an error, what it
    /// held is let go. The poster then calls [`InFlight::seal`] for the slot before it
    /// publishes it, once the WQE after it took what it takes from it.
    ///
    /// # Safety
    /// As [`SlotRing::fill_with`]: only the QP's poster, for a free slot at or past the
    /// published count.
    #[inline]
    pub unsafe fn fill_with(
        &self,
        index: u32,
        fill: impl FnOnce(&mut Regions) -> Result<(), PostError>,
    ) -> Result<(), PostError> {
        // SAFETY: the caller's contract is `SlotRing::fill_with`'s.
        unsafe { self.slots.fill_with(index, fill) }
    }

    /// Lets retirers find the regions of the WQE written at `index` (filled by
    /// [`InFlight::fill_with`]), which nothing changes after this.
    ///
    /// # Safety
    /// As [`SlotRing::seal`]: only the QP's poster, for an index at or past the published count.
    #[inline]
    pub unsafe fn seal(&self, index: u32) {
        // SAFETY: the caller's contract is `SlotRing::seal`'s.
        unsafe { self.slots.seal(index) }
    }

    /// Runs `change` on the regions of the WQE written at `index` but not published nor sealed.
    ///
    /// # Safety
    /// As [`SlotRing::with_staged`]: only the QP's poster, for an index at or past the
    /// published count.
    pub unsafe fn with_staged<R>(&self, index: u32, change: impl FnOnce(&mut Regions) -> R) -> R {
        // SAFETY: the caller's contract is `SlotRing::with_staged`'s.
        unsafe { self.slots.with_staged(index, change) }
    }

    /// Lets go of the regions of the WQE written at `index` but not published.
    ///
    /// # Safety
    /// As [`SlotRing::vacate`]: only the QP's poster, for an index at or past the published
    /// count.
    pub unsafe fn vacate(&self, index: u32) {
        // SAFETY: the caller's contract is `SlotRing::vacate`'s.
        unsafe { self.slots.vacate(index) }
    }

    /// Hands the slots below `upto` to the retirers.
    pub fn publish(&self, upto: u32) {
        self.slots.publish(upto);
    }

    /// Lets go of the regions of every WQE the device has consumed (waiting for another thread
    /// that is doing so); returns the retired count.
    pub fn retire(&self) -> u32 {
        // Acquire pairs with the device's release of its consumer index: everything it did for
        // those WQEs (their reads and writes of the regions) happens before they are let go.
        self.slots.retire(|| self.device_consumer.load(Ordering::Acquire))
    }

    /// Lets go of every WQE's regions and restarts at `base`: after RESET or destroy, when the
    /// device will never run them.
    pub fn discard(&self, base: u32) {
        self.slots.discard(base);
    }
}
