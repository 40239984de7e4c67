//! The daemon channel: the device lives in `accel-simd`, reached over a unix socket
//! (`uapi::daemon` describes the protocol). Calls carry the same ioctl headers as the embedded
//! channel; the daemon reads and writes their attributes in this process's memory. Rings,
//! doorbell records and owned regions are sealed memfds mapped on both sides, so the data path
//! is shared memory, as with the in-process device.

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use accelverbs_uapi::daemon::transport;
use accelverbs_uapi::daemon::{DaemonMsg, MsgKind, PROTOCOL_VERSION};

use crate::channel::SharedMemory;
use crate::device::ChannelSource;
use crate::{Channel, Error};

/// Opens files on the daemon listening at a path.
#[derive(Debug, Clone)]
pub struct DaemonSource {
    path: PathBuf,
}

impl DaemonSource {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }
}

impl ChannelSource for DaemonSource {
    fn open(&self) -> Result<Box<dyn Channel>, Error> {
        Ok(Box::new(DaemonChannel::connect(&self.path)?))
    }
}

/// One connection to the daemon: one uverbs file.
#[derive(Debug)]
pub struct DaemonChannel {
    connection: Arc<Connection>,
}

#[derive(Debug)]
struct Connection {
    path: PathBuf,
    /// The socket, held for a whole request and its answer (requests do not interleave).
    socket: Mutex<OwnedFd>,
    /// The socket's number, for polling it for hang-up without the lock.
    socket_fd: RawFd,
    /// Descriptors the daemon installed here (completion channels, the async event queue),
    /// closed when their object goes or the channel closes.
    installed: Mutex<Vec<OwnedFd>>,
    /// Device pages mapped here (the UAR), unmapped when the channel closes.
    device_maps: Mutex<Vec<(usize, usize)>>,
}

impl DaemonChannel {
    /// Connects to the daemon at `path` and checks it speaks this protocol.
    pub fn connect(path: &Path) -> Result<Self, Error> {
        let fail = |errno: i32| Error::Daemon { path: path.to_owned(), errno };
        let socket = transport::connect(path).map_err(|e| fail(e.raw_os_error().unwrap_or(libc::EINVAL)))?;
        let connection = Connection {
            path: path.to_owned(),
            socket_fd: socket.as_raw_fd(),
            socket: Mutex::new(socket),
            installed: Mutex::new(Vec::new()),
            device_maps: Mutex::new(Vec::new()),
        };
        // The daemon reaches this process's memory only through descriptors it opened on
        // itself, bound to its memory as it is now (never to whatever a pid names later).
        let open = |path: &std::ffi::CStr, flags: i32| {
            // SAFETY: opens a NUL-terminated path; a non-negative return is a new descriptor.
            let fd = unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC) };
            if fd < 0 {
                return Err(fail(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EACCES)));
            }
            // SAFETY: `fd` was just returned by open, owned by nobody else.
            Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
        };
        let (mem, maps) = (open(c"/proc/self/mem", libc::O_RDWR)?, open(c"/proc/self/maps", libc::O_RDONLY)?);
        for (msg, fd) in
            [(DaemonMsg::new(MsgKind::Hello, PROTOCOL_VERSION, 0), mem), (DaemonMsg::new(MsgKind::ProcessMaps, 0, 0), maps)]
        {
            let (done, _) = connection.request(msg, Some(fd.as_fd())).map_err(fail)?;
            if done.errno != 0 {
                return Err(fail(done.errno));
            }
        }
        Ok(Self { connection: Arc::new(connection) })
    }
}

impl Connection {
    /// Sends `msg` (with `fd`) and waits for `Done`, installing any descriptor the daemon
    /// hands over meanwhile. A broken connection is `EIO`: the device is gone.
    fn request(&self, msg: DaemonMsg, fd: Option<std::os::fd::BorrowedFd<'_>>) -> Result<(DaemonMsg, Option<OwnedFd>), i32> {
        let socket = self.socket.lock().unwrap_or_else(|e| e.into_inner());
        let socket = socket.as_fd();
        transport::send(socket, &msg, fd).map_err(|_| libc::EIO)?;
        loop {
            let (answer, fd) = transport::recv(socket).map_err(|_| libc::EIO)?;
            match MsgKind::try_from(answer.kind) {
                Ok(MsgKind::Done) => return Ok((answer, fd)),
                Ok(MsgKind::InstallFd) => {
                    let reply = match fd {
                        Some(fd) => {
                            let number = fd.as_raw_fd();
                            self.installed.lock().unwrap_or_else(|e| e.into_inner()).push(fd);
                            DaemonMsg::new(MsgKind::FdInstalled, number as u64, 0)
                        }
                        None => DaemonMsg { errno: libc::EBADF, ..DaemonMsg::new(MsgKind::FdInstalled, 0, 0) },
                    };
                    transport::send(socket, &reply, None).map_err(|_| libc::EIO)?;
                }
                _ => return Err(libc::EPROTO),
            }
        }
    }

    /// Sends `msg` and turns `Done`'s errno into the result.
    fn call(&self, msg: DaemonMsg, fd: Option<std::os::fd::BorrowedFd<'_>>) -> Result<Option<OwnedFd>, i32> {
        let (done, fd) = self.request(msg, fd)?;
        match done.errno {
            0 => Ok(fd),
            errno => Err(errno),
        }
    }
}

fn map_shared(fd: std::os::fd::BorrowedFd<'_>, len: usize) -> Result<NonNull<u8>, i32> {
    // SAFETY: a new shared mapping of a memfd; it aliases no memory of this process.
    let p =
        unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd.as_raw_fd(), 0) };
    if p == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::ENOMEM));
    }
    NonNull::new(p.cast()).ok_or(libc::ENOMEM)
}

// SAFETY: the daemon writes this process's memory only where an ioctl's attributes point
// (process_vm_writev at the addresses the caller gave), and `mmap` returns a mapping of the
// daemon's sealed memfd that stays mapped until the channel drops.
unsafe impl Channel for DaemonChannel {
    unsafe fn ioctl(&self, request: u32, hdr_addr: u64) -> Result<(), i32> {
        self.connection.call(DaemonMsg::new(MsgKind::Ioctl, u64::from(request), hdr_addr), None).map(drop)
    }

    fn mmap(&self, offset: u64, len: usize) -> Result<NonNull<u8>, i32> {
        let fd = self.connection.call(DaemonMsg::new(MsgKind::Mmap, offset, len as u64), None)?.ok_or(libc::EPROTO)?;
        transport::check_sealed(fd.as_fd(), len as u64).map_err(|_| libc::EPROTO)?;
        let p = map_shared(fd.as_fd(), len)?;
        self.connection.device_maps.lock().unwrap_or_else(|e| e.into_inner()).push((p.as_ptr() as usize, len));
        Ok(p)
    }

    fn shared_memory(&self) -> Option<Arc<dyn SharedMemory>> {
        Some(Arc::clone(&self.connection) as Arc<dyn SharedMemory>)
    }

    fn release_fd(&self, fd: RawFd) {
        let mut installed = self.connection.installed.lock().unwrap_or_else(|e| e.into_inner());
        installed.retain(|owned| owned.as_raw_fd() != fd);
    }

    fn describe(&self) -> String {
        format!("daemon at {}", self.connection.path.display())
    }

    fn gone_fd(&self) -> Option<RawFd> {
        Some(self.connection.socket_fd)
    }
}

// SAFETY: `map` returns a fresh shared mapping of a zero-filled memfd of exactly `len` bytes,
// sealed so that neither side can shrink it; it stays mapped until `unmap`.
unsafe impl SharedMemory for Connection {
    fn map(&self, len: usize) -> Result<NonNull<u8>, i32> {
        let fd = transport::sealed_memfd(c"accelverbs-shared", len).map_err(|e| e.raw_os_error().unwrap_or(libc::ENOMEM))?;
        let p = map_shared(fd.as_fd(), len)?;
        if let Err(errno) = self.call(DaemonMsg::new(MsgKind::ShareMemory, p.as_ptr() as u64, len as u64), Some(fd.as_fd())) {
            // SAFETY: the mapping just made, which nothing else knows of.
            unsafe { libc::munmap(p.as_ptr().cast(), len) };
            return Err(errno);
        }
        Ok(p)
    }

    unsafe fn unmap(&self, ptr: NonNull<u8>, len: usize) {
        // The daemon forgets the window before this address range can be reused here; if the
        // daemon is gone, there is nobody left to tell.
        let _ = self.call(DaemonMsg::new(MsgKind::UnshareMemory, ptr.as_ptr() as u64, len as u64), None);
        // SAFETY: the caller passes a mapping `map` made that nothing uses any more.
        unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
    }
}

/// How long closing waits for the daemon to close the file.
const CLOSE_WAIT_MS: i32 = 10_000;

impl Drop for Connection {
    fn drop(&mut self) {
        // Closing a uverbs file returns once its objects are destroyed: say we are done, then
        // wait for the daemon to close its end, which it does after closing the file (bounded,
        // so a daemon that hangs cannot hang us).
        let fd = self.socket_fd;
        // SAFETY: shutdown, poll and recv on our own socket, with a buffer that lives across
        // the calls.
        unsafe {
            libc::shutdown(fd, libc::SHUT_WR);
            let deadline = std::time::Instant::now() + std::time::Duration::from_millis(CLOSE_WAIT_MS as u64);
            loop {
                let left = deadline.saturating_duration_since(std::time::Instant::now()).as_millis() as i32;
                let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
                if left == 0 || libc::poll(&mut pfd, 1, left) <= 0 {
                    break;
                }
                let mut drain = [0u8; 64];
                if libc::recv(fd, drain.as_mut_ptr().cast(), drain.len(), libc::MSG_DONTWAIT) <= 0 {
                    break;
                }
            }
        }
        for &(addr, len) in self.device_maps.get_mut().unwrap_or_else(|e| e.into_inner()).iter() {
            // SAFETY: a device page mapped by `mmap`; the channel's contract ends its use with
            // the channel.
            unsafe { libc::munmap(addr as *mut libc::c_void, len) };
        }
    }
}
