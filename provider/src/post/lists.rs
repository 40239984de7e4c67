//! SGE lists for gathered requests: each QP gets, on its first gathered request, a registered
//! area with one pair of lists (input, output) per send-queue slot. A WQE's lists live in its
//! slot's pair, so they are rewritten only when the slot is, after the device has consumed the
//! WQE that used them.

use std::sync::Arc;

use accelverbs_uapi::compress::MAX_LIST_ENTRIES;
use accelverbs_uapi::wqe::Sge;

use crate::mr::alloc_registered;
use crate::pd::PdInner;
use crate::{Access, Error, MemoryRegion};

const LIST_BYTES: usize = MAX_LIST_ENTRIES as usize * std::mem::size_of::<Sge>();

/// Which side of a request a list describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ListSide {
    Input = 0,
    Output = 1,
}

/// A QP's list area.
#[derive(Debug)]
pub(crate) struct ListArea {
    /// Read by the device only; never lent to a request, so never in the in-flight books.
    region: MemoryRegion,
    mask: u32,
}

impl ListArea {
    /// Lists for a send queue of `depth` slots.
    pub fn new(pd: &Arc<PdInner>, depth: u32) -> Result<Self, Error> {
        let region = alloc_registered(pd, depth as usize * 2 * LIST_BYTES, Access::empty())?;
        Ok(Self { region, mask: depth - 1 })
    }

    /// Writes `entries` (at most `MAX_LIST_ENTRIES`) as the `side` list of the WQE at ring
    /// `index`, and returns the SGE that names the list.
    ///
    /// # Safety
    /// Only the QP's poster calls this, for an `index` whose ring slot is free (the device
    /// has consumed any earlier WQE of that slot, so it no longer reads these lists).
    pub unsafe fn place(&self, index: u32, side: ListSide, entries: &[Sge]) -> Sge {
        assert!(entries.len() <= MAX_LIST_ENTRIES as usize);
        let offset = ((index & self.mask) as usize * 2 + side as usize) * LIST_BYTES;
        // SAFETY: the list lies inside the area (slot masked to the depth it was sized for,
        // `entries` no longer than a list); the device reads it only for the WQE written after
        // this (caller's contract), and nothing else references the area's bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(
                entries.as_ptr().cast::<u8>(),
                self.region.base_ptr().add(offset),
                std::mem::size_of_val(entries),
            )
        };
        Sge { addr: self.region.addr() + offset as u64, length: std::mem::size_of_val(entries) as u32, lkey: self.region.lkey() }
    }
}
