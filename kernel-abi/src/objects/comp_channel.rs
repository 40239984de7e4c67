//! Completion channels: where armed CQs report that they have completions.

use alloc::sync::Arc;

use crate::objects::{Ucontext, UseCount};
use crate::{Errno, Hardware, HwCompChannel, ResourceGuard};

/// A completion channel (`ib_uverbs_completion_event_file`).
pub struct CompChannel<H: Hardware> {
    pub(crate) hw: Arc<H::CompChannel>,
    pub(crate) usecnt: UseCount,
    _ctx: Arc<Ucontext<H>>,
    _count: ResourceGuard,
}

impl<H: Hardware> core::fmt::Debug for CompChannel<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CompChannel").field("fd", &self.hw.fd()).finish_non_exhaustive()
    }
}

impl<H: Hardware> Ucontext<H> {
    /// CREATE_COMP_CHANNEL.
    pub fn create_comp_channel(self: &Arc<Self>) -> Result<Arc<CompChannel<H>>, Errno> {
        let count = self.driver.counters.comp_channels.acquire()?;
        let hw = Arc::new(self.driver.hw.create_comp_channel()?);
        Ok(Arc::new(CompChannel { hw, usecnt: UseCount::default(), _ctx: Arc::clone(self), _count: count }))
    }
}

impl<H: Hardware> CompChannel<H> {
    pub fn fd(&self) -> i32 {
        self.hw.fd()
    }

    /// The next fired CQ's user handle, or `EAGAIN` when none is queued.
    pub fn get_event(&self) -> Result<u64, Errno> {
        self.hw.next_event().ok_or(Errno::EAGAIN)
    }

    /// Destroy precondition: `EBUSY` while a CQ reports to this channel.
    pub fn check_destroy(&self) -> Result<(), Errno> {
        self.usecnt.check_unused()
    }
}
