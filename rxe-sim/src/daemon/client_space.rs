//! A daemon client's side of its uverbs file: its memory, reached through the `/proc/self/mem`
//! and `/proc/self/maps` it opened and handed over (as the kernel reaches a caller's with
//! `copy_from_user`, checking protections as the kernel's page walk does); the memfds it shares,
//! which the device reaches directly; and its descriptor table, which takes the descriptors the
//! device gives it over the socket.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use accelverbs_kernel_abi::{Errno, PinnedMemory, RdmaCore, UserCopy};
use accelverbs_uapi::daemon::transport;
use accelverbs_uapi::daemon::{DaemonMsg, MsgKind};

use super::shared_mapping::SharedMapping;
use crate::memory::{check_vmas, Charge, ClientCopy, CopiedRegion, Credentials, ProcessFiles, UserSpace, Vma};

const PAGE_SIZE: u64 = 4096;
/// Most memfds one connection may share at once (each is a mapping of the daemon's).
const MAX_WINDOWS: usize = 8192;

/// The client behind one connection.
#[derive(Debug)]
pub struct ClientSpace {
    credentials: Credentials,
    /// The connection, for handing descriptors over during an ioctl.
    socket: Arc<OwnedFd>,
    pages: Arc<ClientPages>,
    files: Arc<ProcessFiles>,
    /// The client's mappings as the current call first needed them: one read of its maps
    /// file per call, not per attribute.
    call_vmas: Mutex<Option<Arc<Vec<Vma>>>>,
}

/// The client's shared memory and what it has pinned.
#[derive(Debug)]
struct ClientPages {
    /// Mappings of the client's memfds, by the client address they start at, each charged to
    /// the client's locked-memory budget while shared: the daemon holds them mapped for it.
    windows: Mutex<BTreeMap<u64, (Arc<SharedMapping>, Charge)>>,
    shared_bytes: AtomicU64,
    /// Bytes this connection has pinned.
    pinned: Arc<AtomicU64>,
    /// Bytes the client's process has pinned over all its connections (the kernel charges
    /// the process's `mm`, however many files it opens), and the most it may.
    process_pinned: Arc<AtomicU64>,
    limit: u64,
    /// The device-wide total.
    device_pinned: Arc<AtomicU64>,
    /// The client's memory, for regions outside what it shares: pinned ones (protection
    /// checked once, at registration), and on-demand ones (checked at each access).
    pinned_copier: Arc<ClientCopy>,
    on_demand_copier: Arc<ClientCopy>,
}

impl ClientSpace {
    pub fn new(
        credentials: Credentials,
        socket: Arc<OwnedFd>,
        files: ProcessFiles,
        process_pinned: Arc<AtomicU64>,
        limit: u64,
        device_pinned: Arc<AtomicU64>,
    ) -> Self {
        let files = Arc::new(files);
        let pages = Arc::new(ClientPages {
            windows: Mutex::new(BTreeMap::new()),
            shared_bytes: AtomicU64::new(0),
            pinned: Arc::new(AtomicU64::new(0)),
            process_pinned,
            limit,
            device_pinned,
            pinned_copier: Arc::new(ClientCopy::new(Arc::clone(&files), false)),
            on_demand_copier: Arc::new(ClientCopy::new(Arc::clone(&files), true)),
        });
        Self { credentials, socket, pages, files, call_vmas: Mutex::new(None) }
    }

    /// A new call begins: the client's mappings are read again when it first needs them.
    pub fn begin_call(&self) {
        *self.call_vmas.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Checks the call's access to `[addr, addr + len)` against the client's mappings.
    fn check(&self, addr: u64, len: u64, writable: bool) -> Result<(), Errno> {
        if len == 0 {
            return Ok(());
        }
        let vmas = {
            let mut cached = self.call_vmas.lock().unwrap_or_else(|e| e.into_inner());
            match &*cached {
                Some(v) => Arc::clone(v),
                None => Arc::clone(cached.insert(Arc::new(self.files.vmas()?))),
            }
        };
        check_vmas(&vmas, addr, len, writable)
    }

    /// Maps the client's memfd `fd`, which it has mapped at `addr` for `len` bytes, so that
    /// the device reaches those addresses directly. `EINVAL` for anything but a sealed memfd
    /// of at least `len` bytes at a page-aligned address, and for a range overlapping one
    /// already shared.
    pub fn share(&self, fd: OwnedFd, addr: u64, len: u64) -> Result<(), Errno> {
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        if len == 0 || !addr.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) || usize::try_from(len).is_err() {
            return Err(Errno::EINVAL);
        }
        transport::check_sealed(fd.as_fd(), len).map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EINVAL)))?;
        let mut windows = self.pages.windows.lock().unwrap_or_else(|e| e.into_inner());
        let before = windows.range(..end).next_back();
        if before.is_some_and(|(&start, (w, _))| start + w.len() as u64 > addr) {
            return Err(Errno::EINVAL);
        }
        // Each window is a mapping of the daemon's, whose count the kernel bounds for the whole
        // daemon (vm.max_map_count): no client may take them all.
        if windows.len() >= MAX_WINDOWS {
            return Err(Errno::ENOMEM);
        }
        let charge = self.pages.charge(addr, len)?;
        let mapping = SharedMapping::map(fd.as_fd(), len as usize)?;
        windows.insert(addr, (Arc::new(mapping), charge));
        self.pages.shared_bytes.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }

    /// Forgets the window shared at `addr`. Objects still pinning it keep the mapping until
    /// they go; the device never reaches it through a new pin.
    pub fn unshare(&self, addr: u64, len: u64) -> Result<(), Errno> {
        let mut windows = self.pages.windows.lock().unwrap_or_else(|e| e.into_inner());
        match windows.get(&addr) {
            Some((w, _)) if w.len() as u64 == len => {
                windows.remove(&addr);
                self.pages.shared_bytes.fetch_sub(len, Ordering::Relaxed);
                Ok(())
            }
            _ => Err(Errno::EINVAL),
        }
    }
}

impl UserSpace for ClientSpace {
    fn copy_from_user(&self, dst: &mut [u8], addr: u64) -> Result<(), Errno> {
        self.check(addr, dst.len() as u64, false)?;
        self.files.read(addr, dst)
    }

    fn copy_to_user(&self, addr: u64, src: &[u8]) -> Result<(), Errno> {
        self.check(addr, src.len() as u64, true)?;
        self.files.write(addr, src)
    }

    fn memory(&self) -> Arc<dyn RdmaCore> {
        Arc::clone(&self.pages) as Arc<dyn RdmaCore>
    }

    fn install_fd(&self, fd: BorrowedFd<'_>) -> Result<i32, Errno> {
        // Only the connection's thread calls this, inside an ioctl the client waits on, so
        // the next message from the client is the answer.
        let socket = self.socket.as_fd();
        transport::send(socket, &DaemonMsg::new(MsgKind::InstallFd, 0, 0), Some(fd)).map_err(|_| Errno::EIO)?;
        let (answer, stray) = transport::recv(socket).map_err(|_| Errno::EIO)?;
        drop(stray);
        if answer.kind != MsgKind::FdInstalled as u32 {
            return Err(Errno::EPROTO);
        }
        if answer.errno != 0 {
            return Err(Errno(answer.errno));
        }
        i32::try_from(answer.a).map_err(|_| Errno::EPROTO)
    }

    fn credentials(&self) -> Credentials {
        self.credentials
    }

    fn locked_memory(&self) -> (u64, u64) {
        (self.pages.pinned.load(Ordering::Relaxed), self.pages.limit)
    }

    fn shared_bytes(&self) -> u64 {
        self.pages.shared_bytes.load(Ordering::Relaxed)
    }
}

impl ClientPages {
    /// The shared window `[addr, addr + len)` lies in, and where it starts.
    fn window(&self, addr: u64, len: u64) -> Result<Option<(u64, Arc<SharedMapping>)>, Errno> {
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        Ok(windows
            .range(..=addr)
            .next_back()
            .filter(|(&start, (w, _))| end <= start + w.len() as u64)
            .map(|(&s, (w, _))| (s, Arc::clone(w))))
    }

    /// Charges the pages under `[addr, addr + len)` to the client's budget: `ENOMEM` past it.
    fn charge(&self, addr: u64, len: u64) -> Result<Charge, Errno> {
        let end = addr.checked_add(len).and_then(|e| e.checked_next_multiple_of(PAGE_SIZE)).ok_or(Errno::EINVAL)?;
        let bytes = end - (addr & !(PAGE_SIZE - 1));
        self.process_pinned
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| p.checked_add(bytes).filter(|&n| n <= self.limit))
            .map_err(|_| Errno::ENOMEM)?;
        self.pinned.fetch_add(bytes, Ordering::AcqRel);
        self.device_pinned.fetch_add(bytes, Ordering::AcqRel);
        Ok(Charge::taken(
            bytes,
            vec![Arc::clone(&self.pinned), Arc::clone(&self.process_pinned), Arc::clone(&self.device_pinned)],
        ))
    }
}

impl RdmaCore for ClientPages {
    /// Pins a range of the client's shared memory (a ring, a doorbell record): it must lie
    /// inside one window, which the device maps. The window is charged to the client's limit
    /// already (the memfd's pages are the client's; the daemon maps them, and does not lock
    /// them: a page swapped out is faulted back in by the access).
    fn pin_user_memory(&self, addr: u64, len: u64, _writable: bool) -> Result<Arc<dyn PinnedMemory>, Errno> {
        let (start, mapping) = self.window(addr, len)?.ok_or(Errno::EFAULT)?;
        Ok(Arc::new(WindowPin { mapping, offset: (addr - start) as usize, addr, len }))
    }

    fn pinned_bytes(&self) -> u64 {
        self.pinned.load(Ordering::Acquire)
    }

    /// A region inside shared memory is reached there, directly (zero copy). Any other is
    /// reached through the client's address space by copies at access time: on demand with
    /// nothing charged, or pinned and charged like any pin (the daemon cannot lock another
    /// process's pages; it enforces the budget).
    fn map_region(&self, addr: u64, len: u64, writable: bool, on_demand: bool) -> Result<Arc<dyn PinnedMemory>, Errno> {
        if on_demand {
            return Ok(Arc::new(CopiedRegion::new(addr, len, Arc::clone(&self.on_demand_copier) as _, None)));
        }
        if self.window(addr, len)?.is_some() {
            return self.pin_user_memory(addr, len, writable);
        }
        // As `ib_umem_get` faults the pages in, a range the client has not mapped (with the
        // access asked for) is EFAULT.
        self.pinned_copier.prefetch(addr, len, writable)?;
        let charge = self.charge(addr, len)?;
        Ok(Arc::new(CopiedRegion::new(addr, len, Arc::clone(&self.pinned_copier) as _, Some(charge))))
    }

    fn on_demand_paging(&self) -> bool {
        true
    }
}

/// A pinned range of a shared window.
#[derive(Debug)]
struct WindowPin {
    mapping: Arc<SharedMapping>,
    offset: usize,
    addr: u64,
    len: u64,
}

// SAFETY: the range lies inside `mapping` (checked when pinned), a mapping of a memfd sealed
// against shrinking that this value keeps alive; the daemon reaches it at its own address.
unsafe impl PinnedMemory for WindowPin {
    fn addr(&self) -> u64 {
        self.addr
    }
    fn len(&self) -> u64 {
        self.len
    }
    fn dma_addr(&self) -> *mut u8 {
        self.mapping.base().wrapping_add(self.offset)
    }
}
