//! The listening socket and the accept loop: each client gets a thread and a uverbs file.

use std::collections::HashMap;
use std::ffi::CString;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, Weak};

use accelverbs_uapi::daemon::transport::{connect, seqpacket_socket, sockaddr};

use super::connection::Client;
use super::log::log;
use crate::memory::Credentials;
use crate::SoftDevice;

/// What each client may hold.
#[derive(Debug, Clone, Copy)]
pub struct ClientLimits {
    /// Most bytes a client process may pin, below its own `RLIMIT_MEMLOCK`.
    pub locked_bytes: Option<u64>,
    /// Most objects one connection may hold at once (`EAGAIN` past it).
    pub objects: Option<usize>,
    /// Most connections one client process may have open at once (each is a thread of the
    /// daemon's): past it, a new one is answered `EAGAIN` and closed.
    pub connections: usize,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self { locked_bytes: None, objects: None, connections: 64 }
    }
}

/// A bound, listening daemon socket; the path is removed when it drops.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
    path: PathBuf,
}

impl Listener {
    /// Binds `path` with permissions `mode` (who may open the device). A socket file left
    /// by a daemon that is gone is replaced; one a live daemon serves is `EADDRINUSE`.
    pub fn bind(path: &Path, mode: u32) -> io::Result<Self> {
        let (addr, len) = sockaddr(path)?;
        let fd = seqpacket_socket()?;
        // SAFETY: `addr` is a valid sockaddr_un of `len` bytes.
        let bind = || unsafe { libc::bind(fd.as_raw_fd(), (&addr as *const libc::sockaddr_un).cast(), len) };
        if bind() != 0 {
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EADDRINUSE) || !is_stale(path) {
                return Err(err);
            }
            std::fs::remove_file(path)?;
            if bind() != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        let listener = Self { fd, path: path.to_owned() };
        let cpath = CString::new(path.as_os_str().as_bytes()).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: chmod reads the NUL-terminated path; listen takes no pointers.
        if unsafe { libc::chmod(cpath.as_ptr(), mode) } != 0 || unsafe { libc::listen(listener.fd.as_raw_fd(), 128) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(listener)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serves clients of `device` until accepting fails, each within `limits`.
    pub fn serve(&self, device: &Arc<SoftDevice>, limits: ClientLimits) -> io::Result<()> {
        let memlock_cap = limits.locked_bytes;
        let budgets: Mutex<HashMap<u32, Weak<AtomicU64>>> = Mutex::new(HashMap::new());
        // One token per live connection, by pid: its strong count is how many are open.
        let mut connections: HashMap<u32, Weak<()>> = HashMap::new();
        log!(Info, "listening", "socket={} pid={}", self.path.display(), std::process::id());
        loop {
            // SAFETY: accept4 with null address pointers only returns a new descriptor.
            let raw =
                unsafe { libc::accept4(self.fd.as_raw_fd(), std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC) };
            if raw < 0 {
                let err = io::Error::last_os_error();
                match err.raw_os_error() {
                    Some(libc::EINTR | libc::ECONNABORTED) => continue,
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                        // Out of descriptors or memory: clients must close some first. Wait a
                        // little instead of spinning on the same refusal.
                        log!(Warn, "accept_failed", "error=\"{err}\"");
                        std::thread::sleep(std::time::Duration::from_millis(50));
                        continue;
                    }
                    _ => return Err(err),
                }
            }
            // SAFETY: `raw` was just returned by accept4.
            let socket = Arc::new(unsafe { OwnedFd::from_raw_fd(raw) });
            let credentials = match peer_credentials(&socket) {
                Ok(c) => c,
                Err(e) => {
                    log!(Warn, "peer_credentials_failed", "error=\"{e}\"");
                    continue;
                }
            };
            connections.retain(|_, c| c.strong_count() > 0);
            let token = connections.get(&credentials.pid).and_then(Weak::upgrade).unwrap_or_default();
            if Arc::strong_count(&token) > limits.connections {
                log!(Warn, "too_many_connections", "pid={} limit={}", credentials.pid, limits.connections);
                // Answered on a thread of its own, bounded by a receive timeout: the answer
                // must follow the client's first message (closing with it unread would reset
                // the connection before the client reads why).
                let _ = std::thread::Builder::new()
                    .name("simd-refuse".into())
                    .spawn(move || super::connection::refuse(&socket, libc::EAGAIN));
                continue;
            }
            connections.insert(credentials.pid, Arc::downgrade(&token));
            let limit = memlock_limit_of(credentials.pid).min(memlock_cap.unwrap_or(u64::MAX));
            let process_pinned = {
                let mut budgets = budgets.lock().unwrap_or_else(|e| e.into_inner());
                budgets.retain(|_, b| b.strong_count() > 0);
                let budget = budgets.get(&credentials.pid).and_then(Weak::upgrade).unwrap_or_default();
                budgets.insert(credentials.pid, Arc::downgrade(&budget));
                budget
            };
            let client =
                Client { credentials, process_pinned, memlock_limit: limit, max_objects: limits.objects, _connection: token };
            let device = Arc::clone(device);
            log!(Info, "client_connected", "pid={} uid={} memlock_limit={}", credentials.pid, credentials.uid, limit);
            let spawned = std::thread::Builder::new().name(format!("simd-client-{}", credentials.pid)).spawn(move || {
                super::connection::serve(&device, socket, client);
                log!(Info, "client_closed", "pid={}", credentials.pid);
            });
            if let Err(e) = spawned {
                log!(Error, "spawn_failed", "pid={} error=\"{e}\"", credentials.pid);
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether `path` is a socket nobody listens on (a daemon that died left it).
fn is_stale(path: &Path) -> bool {
    matches!(connect(path), Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED))
}

/// `SO_PEERCRED`: the pid and uid of the process that connected.
fn peer_credentials(socket: &OwnedFd) -> io::Result<Credentials> {
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`, which lives across the call.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Credentials { pid: cred.pid as u32, uid: cred.uid })
}

/// What the kernel would let process `pid` pin: unlimited with `CAP_IPC_LOCK`, else its
/// `RLIMIT_MEMLOCK` (read with `prlimit`; if the daemon may not read it, 64 KiB, the kernel's
/// historical default, so an unknown client gets the least).
fn memlock_limit_of(pid: u32) -> u64 {
    const CAP_IPC_LOCK: u32 = 14;
    let caps = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("CapEff:").map(|v| v.trim().to_owned())))
        .and_then(|hex| u64::from_str_radix(&hex, 16).ok());
    if caps.is_some_and(|c| c & (1 << CAP_IPC_LOCK) != 0) {
        return u64::MAX;
    }
    let mut old = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: prlimit with a null new limit only writes the old one into `old`.
    if unsafe { libc::prlimit(pid as libc::pid_t, libc::RLIMIT_MEMLOCK, std::ptr::null(), &mut old) } != 0 {
        return 64 * 1024;
    }
    if old.rlim_cur == libc::RLIM_INFINITY {
        u64::MAX
    } else {
        old.rlim_cur
    }
}
