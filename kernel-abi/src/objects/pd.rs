//! Protection domains.

use alloc::sync::Arc;

use crate::objects::{Ucontext, UseCount};
use crate::{Errno, Hardware, ResourceGuard};

/// A protection domain: MRs and QPs in different PDs cannot reach each other.
pub struct Pd<H: Hardware> {
    pub(crate) ctx: Arc<Ucontext<H>>,
    pub(crate) pdn: u32,
    pub(crate) usecnt: UseCount,
    _count: ResourceGuard,
}

impl<H: Hardware> core::fmt::Debug for Pd<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pd").field("pdn", &self.pdn).finish_non_exhaustive()
    }
}

impl<H: Hardware> Ucontext<H> {
    /// ALLOC_PD.
    pub fn alloc_pd(self: &Arc<Self>) -> Result<Arc<Pd<H>>, Errno> {
        let count = self.driver.counters.pds.acquire()?;
        Ok(Arc::new(Pd { ctx: Arc::clone(self), pdn: self.driver.next_pdn(), usecnt: UseCount::default(), _count: count }))
    }
}

impl<H: Hardware> Pd<H> {
    pub fn pdn(&self) -> u32 {
        self.pdn
    }

    /// DESTROY_PD precondition: `EBUSY` while an MR or QP uses the PD.
    pub fn check_destroy(&self) -> Result<(), Errno> {
        self.usecnt.check_unused()
    }
}
