//! Defect 12: every soft device budgeted the whole `RLIMIT_MEMLOCK` for itself, and a refused
//! `mlock` came back as EFAULT. The limit is now one budget for the process, as the kernel
//! charges one `mm`, and running out of it is ENOMEM however it is detected.
//!
//! Its own test binary: it lowers the process's limit and drops `CAP_IPC_LOCK` (for this
//! thread, which registers the memory).

use accelverbs::{Access, Error};
use accelverbs_tests::{device, drop_cap_ipc_lock};

const KIB: usize = 1024;

fn errno<T>(r: Result<T, Error>) -> Option<i32> {
    r.err().and_then(|e| e.errno())
}

/// Locked memory of the process, from /proc (`VmLck`), in KiB.
fn locked_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmLck:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmLck in /proc/self/status")
}

/// Sets the soft `RLIMIT_MEMLOCK` (at most the hard one); returns what was set.
fn set_memlock(bytes: u64) -> u64 {
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit read and write one rlimit we own.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut rl), 0);
        rl.rlim_cur = bytes.min(rl.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_MEMLOCK, &rl), 0);
    }
    rl.rlim_cur
}

#[test]
fn the_locked_memory_limit_is_one_budget_and_enomem() {
    if accelverbs_tests::embedded_only(
        "lowers this process's RLIMIT_MEMLOCK for an in-process device (tests/daemon.rs checks the daemon's per-client limit)",
    ) {
        return;
    }
    drop_cap_ipc_lock();
    set_memlock(1024 * KIB as u64);
    let (a, b) = (device(1).open().unwrap(), device(1).open().unwrap());
    let (pd_a, pd_b) = (a.alloc_pd().unwrap(), b.alloc_pd().unwrap());
    let first = pd_a.alloc_mr(600 * KIB, Access::LOCAL_WRITE).expect("600 KiB fits a 1 MiB limit");
    // ThreadSanitizer turns mlock into a no-op; then only our own budget can be checked.
    let kernel_locks = locked_kib() >= 600;
    assert_eq!(
        errno(pd_b.alloc_mr(600 * KIB, Access::LOCAL_WRITE)),
        Some(libc::ENOMEM),
        "a second device may not pin the same budget again"
    );
    drop(first);
    let second = pd_b.alloc_mr(600 * KIB, Access::LOCAL_WRITE).expect("the budget came back");

    // The same pages pinned through two devices: the kernel's lock counts them once, so only a
    // budget shared by the devices refuses the second pin, as the kernel's pinned-page count
    // would (each pin is charged, like `ib_umem_get` charges `pinned_vm`).
    drop(second);
    let shared = vec![0u8; 600 * KIB];
    let addr = shared.as_ptr() as *mut u8;
    // SAFETY: `shared` outlives both regions (dropped last) and is not touched meanwhile.
    let once = unsafe { pd_a.reg_mr_raw(addr, shared.len(), Access::empty()) }.expect("first pin");
    // SAFETY: as above; this registration must be refused.
    assert_eq!(errno(unsafe { pd_b.reg_mr_raw(addr, shared.len(), Access::empty()) }), Some(libc::ENOMEM));
    drop(once);
    let second = pd_b.alloc_mr(600 * KIB, Access::LOCAL_WRITE).expect("the budget came back");

    // A device created under a higher limit budgets more, but the kernel's own check still
    // refuses the lock: that too is ENOMEM, not EFAULT.
    let raised = set_memlock(8192 * KIB as u64);
    let c = device(1).open().unwrap();
    let pd_c = c.alloc_pd().unwrap();
    set_memlock(1024 * KIB as u64);
    if kernel_locks && raised >= 4096 * KIB as u64 {
        assert_eq!(errno(pd_c.alloc_mr(2048 * KIB, Access::LOCAL_WRITE)), Some(libc::ENOMEM));
    }
    drop(second);
}
