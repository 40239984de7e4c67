//! Memory regions: pinned user memory installed in the device's translation table.

use alloc::sync::Arc;

use accelverbs_uapi::verbs::{access, advise};
use accelverbs_uapi::wqe::Sge;

use crate::objects::Pd;
use crate::{Errno, Hardware, MrSetup, PinnedMemory, ResourceGuard};

/// A registered memory region.
pub struct Mr<H: Hardware> {
    pd: Arc<Pd<H>>,
    key: u32,
    memory: Arc<dyn PinnedMemory>,
    _count: ResourceGuard,
}

impl<H: Hardware> core::fmt::Debug for Mr<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Mr").field("key", &self.key).field("memory", &self.memory).finish_non_exhaustive()
    }
}

/// The access-flag rules of `ib_check_mr_access`: remote write and remote atomic need local
/// write; on-demand paging needs a core that does it.
fn check_access(flags: u32, on_demand_paging: bool) -> Result<(), Errno> {
    let supported = if on_demand_paging { access::SUPPORTED | access::ON_DEMAND } else { access::SUPPORTED };
    if flags & !supported != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if flags & (access::REMOTE_WRITE | access::REMOTE_ATOMIC) != 0 && flags & access::LOCAL_WRITE == 0 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

impl<H: Hardware> Pd<H> {
    /// REG_MR: pins `[addr, addr + length)` and installs it with `access` rights. With
    /// `ON_DEMAND`, nothing is pinned: the device reaches the pages at access time; address 0
    /// and length `u64::MAX` make an implicit region, the whole address space (rdma-core's
    /// `IBV_ACCESS_ON_DEMAND` with `SIZE_MAX`).
    pub fn reg_mr(self: &Arc<Self>, addr: u64, length: u64, access_flags: u32) -> Result<Arc<Mr<H>>, Errno> {
        let driver = &self.ctx.driver;
        check_access(access_flags, self.ctx.memory.on_demand_paging())?;
        let on_demand = access_flags & access::ON_DEMAND != 0;
        let implicit = on_demand && addr == 0 && length == u64::MAX;
        if !implicit && (length == 0 || length > driver.limits.max_mr_size || addr.checked_add(length).is_none()) {
            return Err(Errno::EINVAL);
        }
        let count = driver.counters.mrs.acquire()?;
        let writable = access_flags & access::LOCAL_WRITE != 0;
        let memory = self.ctx.memory.map_region(addr, length, writable, on_demand)?;
        let key = driver.hw.mr_register(MrSetup { pdn: self.pdn, memory: Arc::clone(&memory), access: access_flags })?;
        self.usecnt.inc();
        Ok(Arc::new(Mr { pd: Arc::clone(self), key, memory, _count: count }))
    }
}

impl<H: Hardware> Pd<H> {
    /// ADVISE_MR (`ibv_advise_mr`): faults in the pages the SGEs name, in on-demand regions of
    /// this PD. Advice, as the kernel takes it: with `FLAG_FLUSH` it is done when this returns
    /// and its failure is reported; without, a failure is not an error (the pages are faulted
    /// at access instead). `PREFETCH_NO_FAULT` maps only present pages: nothing to do here.
    pub fn advise_mr(&self, advice: u32, flags: u32, sges: &[Sge]) -> Result<(), Errno> {
        if flags & !advise::FLAG_FLUSH != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let write = match advice {
            advise::PREFETCH => false,
            advise::PREFETCH_WRITE => true,
            advise::PREFETCH_NO_FAULT => return Ok(()),
            _ => return Err(Errno::EINVAL),
        };
        if sges.is_empty() {
            return Err(Errno::EINVAL);
        }
        for sge in sges {
            match self.ctx.driver.hw.mr_prefetch(self.pdn, sge, write) {
                Err(e) if flags & advise::FLAG_FLUSH != 0 || e == Errno::ENOENT || e == Errno::EOPNOTSUPP => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }
}

impl<H: Hardware> Mr<H> {
    pub fn lkey(&self) -> u32 {
        self.key
    }
    pub fn rkey(&self) -> u32 {
        self.key
    }
}

impl<H: Hardware> Drop for Mr<H> {
    fn drop(&mut self) {
        // Waits for in-flight engine accesses, so the pin below is released only when unused.
        self.pd.ctx.driver.hw.mr_deregister(self.key);
        self.pd.usecnt.dec();
    }
}
