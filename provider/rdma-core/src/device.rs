//! Registration with libibverbs, device matching, and contexts: what libibverbs calls before
//! any verb.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::mem::offset_of;
use std::ptr;

use accelverbs::{ContextOptions, ExecPolicy};

use crate::context::PluginContext;
use crate::ffi::{guard, null_with};
use crate::sys;

/// The driver ABI version this provider speaks, matched against sysfs
/// `class/infiniband_verbs/uverbsN/abi_version` (accel-run writes the same).
pub const DRIVER_ABI_VERSION: u32 = 1;

/// Static tables C reads through raw pointers.
struct CTable<T>(T);
// SAFETY: the tables are immutable and their pointers name only 'static data.
unsafe impl<T> Sync for CTable<T> {}

/// Devices named `accelsim*`, the way rdma-core's `VERBS_NAME_MATCH` spells it (libibverbs
/// matches `rdma_device:N<ibdev name>` against each pattern), then the sentinel.
static MATCH_TABLE: CTable<[sys::verbs_match_ent; 2]> = CTable([
    sys::verbs_match_ent {
        driver_data: ptr::null_mut(),
        u: sys::verbs_match_ent__bindgen_ty_1 { modalias: c"rdma_device:*Naccelsim*".as_ptr() },
        vendor: 0,
        device: 0,
        kind: sys::VERBS_MATCH_MODALIAS as u8,
    },
    sys::verbs_match_ent {
        driver_data: ptr::null_mut(),
        u: sys::verbs_match_ent__bindgen_ty_1 { driver_id: 0 },
        vendor: 0,
        device: 0,
        kind: sys::VERBS_MATCH_SENTINEL as u8,
    },
]);

static DEVICE_OPS: CTable<sys::verbs_device_ops> = CTable(sys::verbs_device_ops {
    name: c"accelverbs".as_ptr(),
    match_min_abi_version: DRIVER_ABI_VERSION,
    match_max_abi_version: DRIVER_ABI_VERSION,
    match_table: &MATCH_TABLE.0 as *const _ as *const sys::verbs_match_ent,
    static_providers: ptr::null_mut(),
    match_device: None,
    alloc_context: Some(alloc_context),
    import_context: None,
    alloc_device: Some(alloc_device),
    uninit_device: Some(uninit_device),
});

/// What `PROVIDER_DRIVER` does in C: a constructor that hands libibverbs the device ops when
/// it dlopen()s this library.
#[used]
#[link_section = ".init_array"]
static REGISTER: extern "C" fn() = register;

extern "C" fn register() {
    // SAFETY: the ops table is 'static and immutable, as libibverbs requires.
    unsafe { sys::verbs_register_driver_34(&DEVICE_OPS.0) };
}

/// A matched device: libibverbs' `verbs_device`, which it frees through `uninit_device`.
#[repr(C)]
struct PluginDevice {
    vdev: sys::verbs_device,
}

unsafe extern "C" fn alloc_device(_sysfs: *mut sys::verbs_sysfs_dev) -> *mut sys::verbs_device {
    guard("alloc_device", ptr::null_mut(), || {
        // SAFETY: an all-zero `verbs_device` is its C initial state (libibverbs fills it).
        let device: PluginDevice = unsafe { std::mem::zeroed() };
        crate::ffi::leak(device).cast()
    })
}

unsafe extern "C" fn uninit_device(vdev: *mut sys::verbs_device) {
    guard("uninit_device", (), || {
        // SAFETY: `vdev` is the `PluginDevice` `alloc_device` leaked (its first field), which
        // libibverbs gives back once.
        drop(unsafe { crate::ffi::reclaim(vdev.cast::<PluginDevice>()) });
    })
}

/// How contexts run their work: `ACCELVERBS_EXEC=threads|inline|adaptive` (the Rust API's
/// [`ExecPolicy`]; default: engine threads).
fn context_options() -> ContextOptions {
    let policy = match std::env::var("ACCELVERBS_EXEC").as_deref() {
        Ok("inline") => ExecPolicy::Inline,
        Ok("adaptive") => ExecPolicy::Adaptive,
        _ => ExecPolicy::Threads,
    };
    ContextOptions { policy, ..ContextOptions::default() }
}

/// `ibv_open_device`: a libibverbs context with an accelverbs context inside, opened on the
/// device of the same name.
unsafe extern "C" fn alloc_context(
    device: *mut sys::ibv_device,
    cmd_fd: c_int,
    _private: *mut c_void,
) -> *mut sys::verbs_context {
    guard("alloc_context", ptr::null_mut(), || {
        // SAFETY: libibverbs passes the device it matched; its name is NUL-terminated.
        let name = unsafe { CStr::from_ptr((*device).name.as_ptr() as *const c_char) }.to_string_lossy().into_owned();
        let Some(found) = accelverbs::devices().into_iter().find(|d| d.name() == name) else {
            // SAFETY: the descriptor is ours to close on failure, as `_verbs_init_and_alloc_context` would.
            unsafe { libc::close(cmd_fd) };
            return null_with(libc::ENODEV);
        };
        let opened = match found.open_with(context_options()) {
            Ok(ctx) => ctx,
            Err(e) => {
                // SAFETY: as above.
                unsafe { libc::close(cmd_fd) };
                return null_with(crate::ffi::errno_of(&e));
            }
        };
        // Before libibverbs looks at the descriptor: its write() commands go to our file.
        crate::command_file::serve_commands_on(cmd_fd);
        // SAFETY: allocates a zeroed `PluginContext` with its `verbs_context` initialised at
        // the given offset (rdma-core's `verbs_init_and_alloc_context`), or closes `cmd_fd` and
        // returns NULL with errno set.
        let raw = unsafe {
            sys::_verbs_init_and_alloc_context(
                device,
                cmd_fd,
                std::mem::size_of::<PluginContext>(),
                offset_of!(PluginContext, vctx) as *mut sys::verbs_context,
                sys::RDMA_DRIVER_UNKNOWN,
            )
        }
        .cast::<PluginContext>();
        if raw.is_null() {
            return ptr::null_mut();
        }
        // SAFETY: `raw` is a fresh, zeroed, suitably aligned `PluginContext` (calloc), whose
        // `vctx` libibverbs initialised; the Rust part is written once here.
        unsafe { PluginContext::init(raw, opened) }
    })
}
