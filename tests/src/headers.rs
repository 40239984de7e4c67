//! The C probe's table of values read from the kernel's and libibverbs' headers.

use std::collections::BTreeMap;
use std::ffi::{c_char, CStr};

#[repr(C)]
struct ProbeEntry {
    name: *const c_char,
    value: u64,
}

extern "C" {
    static accel_probe: [ProbeEntry; 0];
    static accel_probe_len: std::ffi::c_ulong;
}

/// Every probed name → value.
pub fn probed() -> BTreeMap<String, u64> {
    // SAFETY: the C side defines `accel_probe_len` entries of `struct probe_entry`, each with a
    // static NUL-terminated name; the array and strings live for the whole program.
    unsafe {
        let len = accel_probe_len as usize;
        let base = std::ptr::addr_of!(accel_probe).cast::<ProbeEntry>();
        (0..len)
            .map(|i| {
                let e = &*base.add(i);
                (CStr::from_ptr(e.name).to_string_lossy().into_owned(), e.value)
            })
            .collect()
    }
}
