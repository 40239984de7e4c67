//! The RDMA core's user-memory services for a file opened in this process (embedded mode):
//! `copy_from_user`/`copy_to_user` that fail with `EFAULT` instead of faulting, and page
//! pinning with locked-memory accounting.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use accelverbs_kernel_abi::{Errno, PinnedMemory, RdmaCore};

use super::{CopiedRegion, Credentials, ProcessCopy, UserSpace};

const PAGE_SIZE: u64 = 4096;

/// Reads `dst.len()` bytes of the caller's memory at `addr`. Goes through
/// `process_vm_readv` on our own pid, so a bad address is `EFAULT`, never a crash: the
/// same contract as the kernel's `copy_from_user`.
fn copy_from_user(dst: &mut [u8], addr: u64) -> Result<(), Errno> {
    if dst.is_empty() {
        return Ok(());
    }
    let local = libc::iovec { iov_base: dst.as_mut_ptr().cast(), iov_len: dst.len() };
    let remote = libc::iovec { iov_base: addr as usize as *mut libc::c_void, iov_len: dst.len() };
    // SAFETY: `local` describes `dst`, which we own mutably for the call; `remote` is only read
    // by the kernel, which validates it and reports EFAULT for unmapped ranges.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    if n == dst.len() as isize {
        Ok(())
    } else {
        Err(Errno::EFAULT)
    }
}

/// Writes `src` to the caller's memory at `addr`; `EFAULT` for a bad or read-only address.
fn copy_to_user(addr: u64, src: &[u8]) -> Result<(), Errno> {
    if src.is_empty() {
        return Ok(());
    }
    let local = libc::iovec { iov_base: src.as_ptr() as *mut libc::c_void, iov_len: src.len() };
    let remote = libc::iovec { iov_base: addr as usize as *mut libc::c_void, iov_len: src.len() };
    // SAFETY: `local` describes `src`, only read by the kernel; `remote` is validated by the
    // kernel, which writes only there and reports EFAULT for unmapped or read-only ranges.
    let n = unsafe { libc::process_vm_writev(libc::getpid(), &local, 1, &remote, 1, 0) };
    if n == src.len() as isize {
        Ok(())
    } else {
        Err(Errno::EFAULT)
    }
}

/// This process, behind a file opened in it.
#[derive(Debug)]
pub struct OwnProcess {
    pages: Arc<UserPages>,
}

impl OwnProcess {
    /// A file's view of `device`'s pinning: its own count, the device's budget.
    pub fn new(device: &UserPages) -> Self {
        Self { pages: Arc::new(device.for_file()) }
    }
}

impl UserSpace for OwnProcess {
    fn copy_from_user(&self, dst: &mut [u8], addr: u64) -> Result<(), Errno> {
        copy_from_user(dst, addr)
    }

    fn copy_to_user(&self, addr: u64, src: &[u8]) -> Result<(), Errno> {
        copy_to_user(addr, src)
    }

    fn memory(&self) -> Arc<dyn RdmaCore> {
        Arc::clone(&self.pages) as Arc<dyn RdmaCore>
    }

    fn install_fd(&self, fd: BorrowedFd<'_>) -> Result<i32, Errno> {
        Ok(fd.as_raw_fd())
    }

    fn credentials(&self) -> Credentials {
        Credentials::own()
    }

    fn locked_memory(&self) -> (u64, u64) {
        (self.pages.pinned_bytes(), self.pages.budget.counter().1)
    }
}

/// Pins user pages with `mlock`, charging them to a locked-memory budget as `ib_umem_get`
/// charges `RLIMIT_MEMLOCK` (unless the process holds `CAP_IPC_LOCK`).
#[derive(Debug)]
pub struct UserPages {
    /// Bytes pinned through this value: the device's, or one file's.
    pinned: Arc<AtomicU64>,
    /// Bytes the whole device holds pinned (QUERY_RESOURCES), when this value counts a file.
    device_pinned: Option<Arc<AtomicU64>>,
    budget: Budget,
}

/// What pinned bytes are charged to.
#[derive(Debug, Clone)]
enum Budget {
    /// The process's `RLIMIT_MEMLOCK`, shared by every device in the process, as the kernel
    /// charges the whole `mm` however many devices it opens.
    Process { limit: u64 },
    /// A device of its own with an explicit budget (tests, tools).
    Device { limit: u64, charged: Arc<AtomicU64> },
}

/// Bytes charged to the process's `RLIMIT_MEMLOCK` by all soft devices.
static PROCESS_CHARGED: AtomicU64 = AtomicU64::new(0);

impl Budget {
    fn counter(&self) -> (&AtomicU64, u64) {
        match self {
            Budget::Process { limit } => (&PROCESS_CHARGED, *limit),
            Budget::Device { limit, charged } => (charged, *limit),
        }
    }

    fn charge(&self, bytes: u64) -> Result<(), Errno> {
        let (counter, limit) = self.counter();
        counter
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| p.checked_add(bytes).filter(|&n| n <= limit))
            .map(drop)
            .map_err(|_| Errno::ENOMEM)
    }

    fn uncharge(&self, bytes: u64) {
        self.counter().0.fetch_sub(bytes, Ordering::AcqRel);
    }
}

impl UserPages {
    /// `limit`: bytes this device may pin at once; `None` = this process's `RLIMIT_MEMLOCK`
    /// shared with every other device in the process, or unlimited with `CAP_IPC_LOCK`.
    pub fn new(limit: Option<u64>) -> Self {
        let budget = match limit {
            Some(limit) => Budget::Device { limit, charged: Arc::new(AtomicU64::new(0)) },
            None => Budget::Process { limit: default_memlock_limit() },
        };
        Self { pinned: Arc::new(AtomicU64::new(0)), device_pinned: None, budget }
    }

    /// The count every pin adds to: this device's total.
    pub(crate) fn device_counter(&self) -> Arc<AtomicU64> {
        Arc::clone(self.device_pinned.as_ref().unwrap_or(&self.pinned))
    }

    /// One file's pinning: counted on its own and in this device's total, charged to the same
    /// budget.
    fn for_file(&self) -> Self {
        Self { pinned: Arc::new(AtomicU64::new(0)), device_pinned: Some(Arc::clone(&self.pinned)), budget: self.budget.clone() }
    }

    /// The counters a pin of `bytes` goes into.
    fn counters(&self) -> PinCounters {
        PinCounters { file: Arc::clone(&self.pinned), device: self.device_pinned.clone() }
    }
}

/// Where a pin is counted: the device's total, and a file's when it counts a file.
#[derive(Debug)]
pub(crate) struct PinCounters {
    file: Arc<AtomicU64>,
    device: Option<Arc<AtomicU64>>,
}

impl PinCounters {
    pub(crate) fn add(&self, bytes: u64) {
        self.file.fetch_add(bytes, Ordering::AcqRel);
        if let Some(device) = &self.device {
            device.fetch_add(bytes, Ordering::AcqRel);
        }
    }

    pub(crate) fn sub(&self, bytes: u64) {
        self.file.fetch_sub(bytes, Ordering::AcqRel);
        if let Some(device) = &self.device {
            device.fetch_sub(bytes, Ordering::AcqRel);
        }
    }
}

pub(crate) fn default_memlock_limit() -> u64 {
    if has_cap_ipc_lock() {
        return u64::MAX;
    }
    let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes only into `rl`, which we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut rl) } != 0 || rl.rlim_cur == libc::RLIM_INFINITY {
        return u64::MAX;
    }
    rl.rlim_cur
}

/// `CAP_IPC_LOCK` (bit 14) in the calling thread's effective set (capabilities are per
/// thread, and `mlock` checks the caller's), read from /proc like `capsh` does.
fn has_cap_ipc_lock() -> bool {
    const CAP_IPC_LOCK: u32 = 14;
    std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("CapEff:").map(|v| v.trim().to_owned())))
        .and_then(|hex| u64::from_str_radix(&hex, 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_IPC_LOCK) != 0)
}

fn last_errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EFAULT)
}

/// Faults `[first, first + len)` in with the access the device will make, as
/// `get_user_pages` does (with `FOLL_WRITE` for a writable pin): unmapped memory, or memory
/// the process itself may not read (or write, for `writable`), is `EFAULT`. A private mapping
/// gets its copy-on-write pages broken here, as the kernel breaks them when it pins for write.
fn fault_in(first: u64, len: u64, writable: bool) -> Result<(), Errno> {
    let advice = if writable { libc::MADV_POPULATE_WRITE } else { libc::MADV_POPULATE_READ };
    loop {
        // SAFETY: MADV_POPULATE_* only faults pages of our own mappings in, as an access
        // would, but reports an error instead of raising a signal; it changes no contents.
        if unsafe { libc::madvise(first as usize as *mut libc::c_void, len as usize, advice) } == 0 {
            return Ok(());
        }
        // EINTR: a signal arrived mid-way; the pages done so far stay, so go on. Otherwise
        // ENOMEM: part of the range is unmapped; EINVAL: the protection forbids the access (or
        // the mapping cannot be pinned); EFAULT: an access would raise SIGBUS or SIGSEGV.
        if last_errno() != libc::EINTR {
            return Err(Errno::EFAULT);
        }
    }
}

impl RdmaCore for UserPages {
    fn pin_user_memory(&self, addr: u64, len: u64, writable: bool) -> Result<Arc<dyn PinnedMemory>, Errno> {
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        let first = addr & !(PAGE_SIZE - 1);
        let last = end.checked_next_multiple_of(PAGE_SIZE).ok_or(Errno::EINVAL)?;
        if usize::try_from(last).is_err() {
            return Err(Errno::EFAULT);
        }
        let charged = last - first;
        self.budget.charge(charged)?;
        let counters = self.counters();
        counters.add(charged);
        let region = PinnedRegion { addr, len, first, charged, counters, budget: self.budget.clone() };
        fault_in(first, charged, writable)?;
        // SAFETY: mlock only changes residency of our own mapping, which `fault_in` just found
        // mapped with the needed access.
        if unsafe { libc::mlock(first as usize as *const libc::c_void, charged as usize) } != 0 {
            // The range is mapped, so ENOMEM/EAGAIN here is the kernel's own RLIMIT_MEMLOCK
            // check (or a race with munmap, which the next call would report as EFAULT).
            return Err(match last_errno() {
                libc::ENOMEM | libc::EAGAIN => Errno::ENOMEM,
                libc::EPERM => Errno(libc::EPERM),
                _ => Errno::EFAULT,
            });
        }
        Ok(Arc::new(region))
    }

    fn pinned_bytes(&self) -> u64 {
        self.pinned.load(Ordering::Acquire)
    }

    /// On demand: nothing pinned or charged; the device copies through this process's current
    /// mapping at each access, so an unmapped page is a failed request, not a crash.
    fn map_region(&self, addr: u64, len: u64, writable: bool, on_demand: bool) -> Result<Arc<dyn PinnedMemory>, Errno> {
        if !on_demand {
            return self.pin_user_memory(addr, len, writable);
        }
        Ok(Arc::new(CopiedRegion::new(addr, len, Arc::new(ProcessCopy::new(std::process::id())), None)))
    }

    fn on_demand_paging(&self) -> bool {
        true
    }
}

/// A pinned range; unpinned and uncharged when dropped.
#[derive(Debug)]
struct PinnedRegion {
    addr: u64,
    len: u64,
    first: u64,
    charged: u64,
    counters: PinCounters,
    budget: Budget,
}

// SAFETY: in-process, the device reaches user memory at its own address; the range was found
// mapped with the needed access when pinned, and the application keeps it mapped until the
// object using it is destroyed (the provider's contract, `Channel::ioctl`).
unsafe impl PinnedMemory for PinnedRegion {
    fn addr(&self) -> u64 {
        self.addr
    }
    fn len(&self) -> u64 {
        self.len
    }
    fn dma_addr(&self) -> *mut u8 {
        // In-process, the device reaches user memory at its own virtual address.
        self.addr as usize as *mut u8
    }
}

impl Drop for PinnedRegion {
    fn drop(&mut self) {
        // mlock does not nest: another pin of the same page loses residency here but keeps its
        // mapping. Residency is an optimisation in-process; the mapping is what the device needs,
        // and the owning MR or ring keeps that alive.
        // SAFETY: munlock only changes residency of a range we locked.
        unsafe { libc::munlock(self.first as usize as *const libc::c_void, self.charged as usize) };
        self.counters.sub(self.charged);
        self.budget.uncharge(self.charged);
    }
}
