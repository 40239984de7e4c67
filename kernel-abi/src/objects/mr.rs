//! Memory regions: pinned user memory installed in the device's translation table.

use alloc::sync::Arc;

use accelverbs_uapi::verbs::access;

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
/// write.
fn check_access(flags: u32) -> Result<(), Errno> {
    if flags & !access::SUPPORTED != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if flags & (access::REMOTE_WRITE | access::REMOTE_ATOMIC) != 0 && flags & access::LOCAL_WRITE == 0 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

impl<H: Hardware> Pd<H> {
    /// REG_MR: pins `[addr, addr + length)` and installs it with `access` rights.
    pub fn reg_mr(self: &Arc<Self>, addr: u64, length: u64, access_flags: u32) -> Result<Arc<Mr<H>>, Errno> {
        let driver = &self.ctx.driver;
        check_access(access_flags)?;
        if length == 0 || length > driver.limits.max_mr_size || addr.checked_add(length).is_none() {
            return Err(Errno::EINVAL);
        }
        let count = driver.counters.mrs.acquire()?;
        let writable = access_flags & access::LOCAL_WRITE != 0;
        let memory = self.ctx.memory.pin_user_memory(addr, length, writable)?;
        let key = driver.hw.mr_register(MrSetup { pdn: self.pdn, memory: Arc::clone(&memory), access: access_flags })?;
        self.usecnt.inc();
        Ok(Arc::new(Mr { pd: Arc::clone(self), key, memory, _count: count }))
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
