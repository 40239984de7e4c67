//! Protection domains.

use std::ffi::c_int;
use std::sync::atomic::{AtomicUsize, Ordering};

use accelverbs::Pd;

use crate::context::state;
use crate::ffi::{errno_of, guard, leak, null_with, reclaim};
use crate::sys;

/// `ibv_pd` and the accelverbs PD behind it.
#[repr(C)]
pub struct PluginPd {
    pub ibv: sys::ibv_pd,
    pub pd: Pd,
    /// MRs and QPs made in this PD and not yet destroyed: `ibv_dealloc_pd` answers `EBUSY`
    /// while any remain, as the kernel does (the Rust PD would just outlive its handle).
    users: AtomicUsize,
}

impl PluginPd {
    /// The PD behind `pd`.
    ///
    /// # Safety
    /// `pd` was made by [`alloc_pd`] and not deallocated.
    pub unsafe fn from_ibv<'a>(pd: *mut sys::ibv_pd) -> &'a PluginPd {
        // SAFETY: `ibv` is the first field of the `#[repr(C)]` box `alloc_pd` leaked.
        unsafe { &*pd.cast::<PluginPd>() }
    }

    /// Counts an object made in this PD.
    pub fn hold(&self) {
        self.users.fetch_add(1, Ordering::Relaxed);
    }

    /// Uncounts an object destroyed.
    pub fn release(&self) {
        self.users.fetch_sub(1, Ordering::Release);
    }
}

pub unsafe extern "C" fn alloc_pd(context: *mut sys::ibv_context) -> *mut sys::ibv_pd {
    guard("alloc_pd", std::ptr::null_mut(), || {
        // SAFETY: libibverbs passes a context of this provider.
        let pd = match unsafe { state(context) }.ctx.alloc_pd() {
            Ok(pd) => pd,
            Err(e) => return null_with(errno_of(&e)),
        };
        let ibv = sys::ibv_pd { context, handle: pd.handle() };
        leak(PluginPd { ibv, pd, users: AtomicUsize::new(0) }).cast()
    })
}

pub unsafe extern "C" fn dealloc_pd(pd: *mut sys::ibv_pd) -> c_int {
    guard("dealloc_pd", libc::EIO, || {
        // SAFETY: libibverbs passes a PD of this provider.
        if unsafe { PluginPd::from_ibv(pd) }.users.load(Ordering::Acquire) != 0 {
            return libc::EBUSY;
        }
        // SAFETY: as above; the application gives up `pd` with this call.
        drop(unsafe { reclaim(pd.cast::<PluginPd>()) });
        0
    })
}
