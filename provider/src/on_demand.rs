//! On-demand regions (`IBV_ACCESS_ON_DEMAND`): registered without pinning; the device reaches
//! their pages as they are mapped when a request runs.

use std::sync::Arc;

use accelverbs_uapi::ids::{mr, object};
use accelverbs_uapi::verbs::{access, advise};
use accelverbs_uapi::wqe::Sge;

use crate::ioctl::Command;
use crate::pd::PdInner;
use crate::{Access, Error, Pd};

/// A region registered on demand. Memory mapped, remapped or copied on write after
/// registration is seen as it is when a request runs; a page that is not mapped (or not
/// writable, for a destination) fails that request with `CqeStatus::LocalProtectionError` and
/// `VendorError::PageFault`, never the process. Nothing is pinned or charged to the
/// locked-memory limit.
///
/// Requests name it with raw SGEs ([`OnDemandRegion::sge`]) through the `unsafe` work-request
/// constructors: the caller keeps Rust references off the bytes a posted request may write
/// until its completion is polled.
#[derive(Debug)]
pub struct OnDemandRegion {
    pd: Arc<PdInner>,
    handle: u32,
    lkey: u32,
    rkey: u32,
    addr: u64,
    len: u64,
}

/// What [`Pd::advise_mr`] asks for (`enum ibv_advise_mr_advice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advice {
    /// Fault the pages in for reading.
    Prefetch,
    /// Fault the pages in for writing (breaking copy-on-write).
    PrefetchWrite,
    /// Map only pages already present.
    PrefetchNoFault,
}

impl<B> Pd<B> {
    /// Registers `[addr, addr + len)` on demand. The range need not be mapped now.
    ///
    /// Safe, unlike [`Pd::reg_mr_raw`]: registering touches no memory, the region hands out no
    /// view of its bytes, and the device reaches them only for requests built with the
    /// `unsafe` SGE constructors (whose callers promise no Rust reference meets a write), and
    /// then only through copies that fail on a page that is not there, never by dereferencing
    /// the address.
    pub fn reg_mr_on_demand(&self, addr: u64, len: usize, rights: Access) -> Result<OnDemandRegion, Error> {
        register(&self.inner, addr, len as u64, rights)
    }

    /// Registers the whole address space on demand: an implicit region (rdma-core's
    /// `ibv_reg_mr(pd, NULL, SIZE_MAX, IBV_ACCESS_ON_DEMAND)`), through which requests may name
    /// any address, including memory mapped after registration.
    pub fn reg_implicit_on_demand(&self, rights: Access) -> Result<OnDemandRegion, Error> {
        register(&self.inner, 0, u64::MAX, rights)
    }

    /// `ibv_advise_mr`: faults in the pages `sges` name (in on-demand regions of this PD) ahead
    /// of the requests that will use them. With `flush`, returns once done and reports a range
    /// that cannot be faulted in (`EFAULT`); without, a failure is left to the access.
    pub fn advise_mr(&self, advice: Advice, flush: bool, sges: &[Sge]) -> Result<(), Error> {
        let advice = match advice {
            Advice::Prefetch => advise::PREFETCH,
            Advice::PrefetchWrite => advise::PREFETCH_WRITE,
            Advice::PrefetchNoFault => advise::PREFETCH_NO_FAULT,
        };
        let flags = if flush { advise::FLAG_FLUSH } else { 0 };
        // An attribute carries at most 64 KiB: 4095 SGEs.
        if sges.len() > usize::from(u16::MAX) / std::mem::size_of::<Sge>() {
            return Err(Error::Verbs { op: "advise_mr", errno: libc::EINVAL });
        }
        let mut cmd = Command::new(object::MR, mr::METHOD_ADVISE);
        cmd.handle(mr::ATTR_ADVISE_PD_HANDLE, self.inner.handle)
            .input_u32(mr::ATTR_ADVISE_ADVICE, advice)
            .input_u32(mr::ATTR_ADVISE_FLAGS, flags)
            .input(mr::ATTR_ADVISE_SGE_LIST, sges);
        self.inner.ctx.run("advise_mr", &mut cmd)
    }
}

fn register(pd: &Arc<PdInner>, addr: u64, len: u64, rights: Access) -> Result<OnDemandRegion, Error> {
    let (mut lkey, mut rkey) = (0u32, 0u32);
    let mut cmd = Command::new(object::MR, mr::METHOD_REG);
    let h = cmd.new_object(mr::ATTR_REG_HANDLE);
    cmd.handle(mr::ATTR_REG_PD_HANDLE, pd.handle)
        .input_u64(mr::ATTR_REG_ADDR, addr)
        .input_u64(mr::ATTR_REG_LENGTH, len)
        .input_u32(mr::ATTR_REG_ACCESS, rights.bits() | access::ON_DEMAND)
        .output(mr::ATTR_REG_RESP_LKEY, &mut lkey)
        .output(mr::ATTR_REG_RESP_RKEY, &mut rkey);
    pd.ctx.run("reg_mr", &mut cmd)?;
    let handle = cmd.new_handle(h);
    Ok(OnDemandRegion { pd: Arc::clone(pd), handle, lkey, rkey, addr, len })
}

impl OnDemandRegion {
    /// The handle the driver gave this region.
    pub fn handle(&self) -> u32 {
        self.handle
    }

    pub fn lkey(&self) -> u32 {
        self.lkey
    }

    pub fn rkey(&self) -> u32 {
        self.rkey
    }

    /// The first address it covers (0 for an implicit region) and how many bytes.
    pub fn range(&self) -> (u64, u64) {
        (self.addr, self.len)
    }

    /// The descriptor of `len` bytes at address `addr` (checked by the device at each access).
    /// Only the `unsafe` work-request constructors take it.
    pub fn sge(&self, addr: u64, len: u32) -> Sge {
        Sge { addr, length: len, lkey: self.lkey }
    }
}

impl Drop for OnDemandRegion {
    fn drop(&mut self) {
        let mut cmd = Command::new(object::MR, mr::METHOD_DESTROY);
        cmd.handle(mr::ATTR_DESTROY_HANDLE, self.handle);
        // The device reaches the memory only through copies it checks: even a refused
        // deregistration leaves nothing to keep mapped.
        let _ = self.pd.ctx.call(&mut cmd);
    }
}
