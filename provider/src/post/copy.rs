//! COPY: a DMA memcpy between two registered regions (`mlx5dv_wr_memcpy`).

use std::sync::Arc;

use accelverbs_uapi::wqe::{flags, Opcode, Sge, Wqe};

use super::side::lend;
use super::{completion_options, sealed, ListWriter};
use crate::in_flight::{Borrower, DeviceAccess, Regions};
use crate::mr::MrShared;
use crate::{MemoryRegion, MrSlice, MrSliceMut, PostError};

/// Copies `src.length` bytes from `src` to `dst`; `dst` must be at least as long and in a
/// region with local write access. Overlapping ranges copy as `memmove` does.
#[derive(Debug)]
pub struct Copy<'a> {
    wr_id: u64,
    src: Sge,
    dst: Sge,
    /// `pub(super)`: the RDMA builders wrap a `Copy` and set its completion options.
    pub(super) flags: u8,
    /// The regions behind `src` and `dst` (`None` for the unchecked constructor).
    regions: Option<(&'a Arc<MrShared>, &'a Arc<MrShared>)>,
}

impl<'a> Copy<'a> {
    /// Signaled by default.
    pub fn new(wr_id: u64, src: MrSlice<'a>, dst: MrSliceMut<'a>) -> Self {
        Self { wr_id, src: src.sge, dst: dst.sge, flags: flags::SIGNALED, regions: Some((src.mr, dst.mr)) }
    }

    /// Copies `len` bytes inside one region, from `src_offset` to `dst_offset` (`memmove`).
    pub fn within(wr_id: u64, region: &'a mut MemoryRegion, src_offset: usize, dst_offset: usize, len: u32) -> Self {
        let dst = region.slice_mut(dst_offset, len);
        let src = dst.mr.sge(src_offset, len);
        Self { wr_id, src, dst: dst.sge, flags: flags::SIGNALED, regions: Some((dst.mr, dst.mr)) }
    }

    /// A COPY of SGEs exactly as given (any key, any address), for testing the device's
    /// checks. The provider does not know which regions they name, so it cannot keep the
    /// region's bytes from safe code meanwhile.
    ///
    /// # Safety
    /// Until this request completes, no Rust reference may exist to memory `dst` names (if the
    /// device accepts it), nor a mutable one to memory `src` names, and that memory must stay
    /// registered.
    pub unsafe fn from_sges(wr_id: u64, src: Sge, dst: Sge) -> Copy<'static> {
        Copy { wr_id, src, dst, flags: flags::SIGNALED, regions: None }
    }
}

completion_options!(Copy<'a>);

impl Copy<'_> {
    /// The destination named by key `key` instead (an RDMA write's rkey).
    pub(super) fn with_dst_key(mut self, key: u32) -> Self {
        self.dst.lkey = key;
        self
    }

    /// The source named by key `key` instead (an RDMA read's rkey).
    pub(super) fn with_src_key(mut self, key: u32) -> Self {
        self.src.lkey = key;
        self
    }
}

impl sealed::Encode for Copy<'_> {
    fn encode(&self, wqe: &mut Wqe, _lists: &mut ListWriter<'_>) {
        wqe.ctrl.wr_id = self.wr_id;
        wqe.ctrl.opcode = Opcode::Copy as u8;
        wqe.ctrl.flags = self.flags;
        wqe.src = self.src;
        wqe.dst = self.dst;
    }

    fn payload_bytes(&self) -> u64 {
        u64::from(self.src.length)
    }

    fn regions(&self, qp: Borrower<'_>, held: &mut Regions) -> Result<(), PostError> {
        match self.regions {
            // One region is counted once, as written (a copy within it).
            Some((src, dst)) => lend(&[(src, DeviceAccess::Read), (dst, DeviceAccess::Write)], None, qp, held),
            None => Ok(()),
        }
    }
}
