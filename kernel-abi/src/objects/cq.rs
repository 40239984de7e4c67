//! Completion queues. The ring and its doorbell record live in user memory, pinned here.

use alloc::sync::Arc;

use accelverbs_uapi::cmd::{CreateCqCmd, CreateCqResp};
use accelverbs_uapi::cqe::CQE_SIZE;
use accelverbs_uapi::doorbell::{CqDoorbellRecord, CACHE_LINE};

use crate::device::PAGE_SIZE;
use crate::objects::{is_aligned, CompChannel, Ucontext, UseCount};
use crate::{CqSetup, Errno, Hardware, HwCq, ResourceGuard};

/// What CREATE_CQ asked for, after the uverbs layer resolved the handles.
#[derive(Debug)]
pub struct CqRequest<'a, H: Hardware> {
    /// `UVERBS_ATTR_CREATE_CQ_CQE`: minimum number of entries.
    pub cqe: u32,
    pub user_handle: u64,
    pub comp_vector: u32,
    pub flags: u32,
    pub channel: Option<&'a Arc<CompChannel<H>>>,
    pub cmd: CreateCqCmd,
}

/// A completion queue.
pub struct Cq<H: Hardware> {
    pub(crate) hw: Arc<H::Cq>,
    pub(crate) usecnt: UseCount,
    channel: Option<Arc<CompChannel<H>>>,
    ctx: Arc<Ucontext<H>>,
    _count: ResourceGuard,
}

impl<H: Hardware> core::fmt::Debug for Cq<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Cq").field("cqn", &self.hw.cqn()).finish_non_exhaustive()
    }
}

impl<H: Hardware> Ucontext<H> {
    /// CREATE_CQ. Returns the CQ, the driver response, and the granted size.
    pub fn create_cq(self: &Arc<Self>, req: CqRequest<'_, H>) -> Result<(Arc<Cq<H>>, CreateCqResp, u32), Errno> {
        let driver = &self.driver;
        if req.flags != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        // One completion vector: the device has no interrupt lines to spread.
        if req.comp_vector != 0 {
            return Err(Errno::EINVAL);
        }
        let cmd = req.cmd;
        let entries = 1u64.checked_shl(cmd.log_size).ok_or(Errno::EINVAL)?;
        if req.cqe == 0
            || req.cqe > driver.limits.max_cqe
            || entries < u64::from(req.cqe)
            || entries > u64::from(driver.limits.max_cqe)
            || cmd.reserved != 0
            || !is_aligned(cmd.ring_addr, PAGE_SIZE)
            || !is_aligned(cmd.db_addr, CACHE_LINE as u64)
        {
            return Err(Errno::EINVAL);
        }
        let count = driver.counters.cqs.acquire()?;
        let ring = self.memory.pin_user_memory(cmd.ring_addr, entries * CQE_SIZE as u64, true)?;
        let doorbell = self.memory.pin_user_memory(cmd.db_addr, core::mem::size_of::<CqDoorbellRecord>() as u64, true)?;
        let hw = driver.hw.create_cq(CqSetup {
            ring,
            doorbell,
            log_size: cmd.log_size,
            ctx_id: self.id,
            user_handle: req.user_handle,
            channel: req.channel.map(|c| Arc::clone(&c.hw)),
        })?;
        let channel = req.channel.cloned();
        if let Some(c) = &channel {
            c.usecnt.inc();
        }
        let hw = Arc::new(hw);
        driver.hw.activate_cq(&hw);
        let resp = CreateCqResp { cqn: hw.cqn(), reserved: 0 };
        let cq = Arc::new(Cq { hw, usecnt: UseCount::default(), channel, ctx: Arc::clone(self), _count: count });
        Ok((cq, resp, entries as u32))
    }
}

impl<H: Hardware> Cq<H> {
    /// The device-side CQ.
    pub fn hw(&self) -> &Arc<H::Cq> {
        &self.hw
    }

    pub fn cqn(&self) -> u32 {
        self.hw.cqn()
    }

    /// REQ_NOTIFY_CQ.
    pub fn request_notify(&self, solicited_only: bool) -> Result<(), Errno> {
        if self.channel.is_none() {
            return Err(Errno::EINVAL);
        }
        self.hw.request_notify(solicited_only);
        Ok(())
    }

    pub fn comp_events_reported(&self) -> u32 {
        self.hw.comp_events_reported()
    }

    /// DESTROY_CQ precondition: `EBUSY` while a QP sends completions here.
    pub fn check_destroy(&self) -> Result<(), Errno> {
        self.usecnt.check_unused()
    }
}

impl<H: Hardware> Drop for Cq<H> {
    fn drop(&mut self) {
        self.hw.quiesce();
        self.ctx.driver.hw.retire_cq(&self.hw);
        if let Some(c) = &self.channel {
            c.usecnt.dec();
        }
    }
}
