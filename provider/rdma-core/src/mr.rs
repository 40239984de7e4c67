//! Memory regions registered from C.

use std::ffi::{c_int, c_void};

use accelverbs::{Access, MemoryRegion};

use crate::ffi::{errno_of, guard, leak, null_with, reclaim};
use crate::pd::PluginPd;
use crate::sys;

/// `verbs_mr` (libibverbs reads its type and access at deregistration) and the region.
#[repr(C)]
pub struct PluginMr {
    pub vmr: sys::verbs_mr,
    region: MemoryRegion,
    pd: *mut sys::ibv_pd,
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
        // As the kernel answers on a device without on-demand paging.
        if bits & sys::IBV_ACCESS_ON_DEMAND != 0 {
            return null_with(libc::EOPNOTSUPP);
        }
        // SAFETY: libibverbs passes a PD of this provider.
        let plugin_pd = unsafe { PluginPd::from_ibv(pd) };
        // SAFETY: the verbs contract: the application keeps `addr..addr + length` mapped and
        // lets the device use it until it deregisters the region and its work completed. The
        // device checks the range is mapped with the access asked for, and unknown access bits.
        let region = match unsafe { plugin_pd.pd.reg_mr_raw(addr.cast(), length, Access::from_bits(bits)) } {
            Ok(region) => region,
            Err(e) => return null_with(errno_of(&e)),
        };
        plugin_pd.hold();
        let ibv_mr = sys::ibv_mr {
            context: plugin_pd.ibv.context,
            pd,
            addr,
            length,
            handle: region.handle(),
            lkey: region.lkey(),
            rkey: region.rkey(),
        };
        let vmr = sys::verbs_mr { ibv_mr, mr_type: sys::IBV_MR_TYPE_MR, access };
        leak(PluginMr { vmr, region, pd }).cast()
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
