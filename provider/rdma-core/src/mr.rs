//! Memory regions registered from C.

use std::ffi::{c_int, c_void};

use accelverbs::uapi::verbs::advise::FLAG_FLUSH;
use accelverbs::{Access, Advice, MemoryRegion, OnDemandRegion, Sge};

use crate::ffi::{errno_of, guard, leak, null_with, reclaim};
use crate::pd::PluginPd;
use crate::sys;

/// `verbs_mr` (libibverbs reads its type and access at deregistration) and the region.
#[repr(C)]
pub struct PluginMr {
    pub vmr: sys::verbs_mr,
    _region: Region,
    pd: *mut sys::ibv_pd,
}

/// What a C region is on the device; it is deregistered when dropped.
enum Region {
    Pinned(MemoryRegion),
    OnDemand(OnDemandRegion),
}

impl Region {
    fn keys(&self) -> (u32, u32, u32) {
        match self {
            Region::Pinned(r) => (r.handle(), r.lkey(), r.rkey()),
            Region::OnDemand(r) => (r.handle(), r.lkey(), r.rkey()),
        }
    }
}

/// `ibv_reg_mr`: registers the application's memory as it is (the device addresses it by its
/// virtual address, so `iova` must be that address).
pub unsafe extern "C" fn reg_mr(
    pd: *mut sys::ibv_pd,
    addr: *mut c_void,
    length: usize,
    iova: u64,
    access: c_int,
) -> *mut sys::ibv_mr {
    guard("reg_mr", std::ptr::null_mut(), || {
        if iova != addr as u64 {
            return null_with(libc::EOPNOTSUPP);
        }
        let bits = access as u32;
        // SAFETY: libibverbs passes a PD of this provider.
        let plugin_pd = unsafe { PluginPd::from_ibv(pd) };
        let registered = if bits & sys::IBV_ACCESS_ON_DEMAND != 0 {
            // On demand (NULL and SIZE_MAX: the implicit region): nothing is pinned, and the
            // memory may come and go; the device reaches it by copies at each access.
            let rights = Access::from_bits(bits & !sys::IBV_ACCESS_ON_DEMAND);
            let region = match (addr.is_null(), length) {
                (true, usize::MAX) => plugin_pd.pd.reg_implicit_on_demand(rights),
                _ => plugin_pd.pd.reg_mr_on_demand(addr as u64, length, rights),
            };
            region.map(Region::OnDemand)
        } else {
            // SAFETY: the verbs contract: the application keeps `addr..addr + length` mapped and
            // lets the device use it until it deregisters the region and its work completed. The
            // device checks the range is mapped with the access asked for, and unknown access bits.
            unsafe { plugin_pd.pd.reg_mr_raw(addr.cast(), length, Access::from_bits(bits)) }.map(Region::Pinned)
        };
        let region = match registered {
            Ok(region) => region,
            Err(e) => return null_with(errno_of(&e)),
        };
        plugin_pd.hold();
        let (handle, lkey, rkey) = region.keys();
        let ibv_mr = sys::ibv_mr { context: plugin_pd.ibv.context, pd, addr, length, handle, lkey, rkey };
        let vmr = sys::verbs_mr { ibv_mr, mr_type: sys::IBV_MR_TYPE_MR, access };
        leak(PluginMr { vmr, _region: region, pd }).cast()
    })
}

/// `ibv_dereg_mr`: returns once the device no longer touches the memory.
pub unsafe extern "C" fn dereg_mr(vmr: *mut sys::verbs_mr) -> c_int {
    guard("dereg_mr", libc::EIO, || {
        // SAFETY: `vmr` is the first field of a `PluginMr` that `reg_mr` leaked; the
        // application gives it up with this call.
        let mr = unsafe { reclaim(vmr.cast::<PluginMr>()) };
        let pd = mr.pd;
        drop(mr);
        // SAFETY: the PD outlives its regions (it refuses to go while they exist).
        unsafe { PluginPd::from_ibv(pd) }.release();
        0
    })
}

/// `ibv_advise_mr`: prefetches pages of on-demand regions of `pd`.
pub unsafe extern "C" fn advise_mr(
    pd: *mut sys::ibv_pd,
    advice: sys::ib_uverbs_advise_mr_advice,
    flags: u32,
    sg_list: *mut sys::ibv_sge,
    num_sges: u32,
) -> c_int {
    guard("advise_mr", libc::EIO, || {
        let advice = match advice {
            sys::IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH => Advice::Prefetch,
            sys::IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE => Advice::PrefetchWrite,
            sys::IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT => Advice::PrefetchNoFault,
            _ => return libc::EINVAL,
        };
        if flags & !FLAG_FLUSH != 0 {
            return libc::EOPNOTSUPP;
        }
        let sges: &[sys::ibv_sge] = match (sg_list.is_null(), num_sges) {
            (_, 0) => &[],
            (true, _) => return libc::EINVAL,
            // SAFETY: the caller's array of `num_sges` entries.
            (false, n) => unsafe { std::slice::from_raw_parts(sg_list, n as usize) },
        };
        let sges: Vec<Sge> = sges.iter().map(|s| Sge { addr: s.addr, length: s.length, lkey: s.lkey }).collect();
        // SAFETY: libibverbs passes a PD of this provider.
        let plugin_pd = unsafe { PluginPd::from_ibv(pd) };
        match plugin_pd.pd.advise_mr(advice, flags & FLAG_FLUSH != 0, &sges) {
            Ok(()) => 0,
            Err(e) => errno_of(&e),
        }
    })
}
