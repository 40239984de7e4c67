//! Where `accel perf` finds the device (in-process, or an `accel-simd` it starts for the run),
//! and whose memory the requests name (the device's own, or the tool's, registered as it is).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::{Duration, Instant};

use accelverbs::{Access, DaemonChannel, DaemonSource, Device, Error, MemoryRegion, Pd, SimConfig};
use clap::ValueEnum;

/// How the tool reaches the device.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelArg {
    /// The soft device in this process.
    Embedded,
    /// An `accel-simd` daemon: `ACCELVERBS_SOCKET`'s, or one the tool starts from the
    /// `accel-simd` beside it.
    Daemon,
}

/// Whose memory the requests name.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryArg {
    /// Regions the device allocates (`Pd::alloc_mr`): shared with a daemon (zero copy).
    Owned,
    /// The tool's own pages registered as they are (`reg_mr_raw`): pinned in-process; a
    /// daemon reaches them by copies through this process's address space.
    Caller,
}

impl ChannelArg {
    pub fn name(self) -> &'static str {
        match self {
            ChannelArg::Embedded => "embedded",
            ChannelArg::Daemon => "daemon",
        }
    }
}

impl MemoryArg {
    pub fn name(self) -> &'static str {
        match self {
            MemoryArg::Owned => "owned",
            MemoryArg::Caller => "caller",
        }
    }
}

/// A daemon started for one group of rows; killed when dropped.
#[derive(Debug)]
pub struct StartedDaemon {
    child: Child,
    dir: PathBuf,
}

impl Drop for StartedDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The device for `channel` with `engines` engine threads: an embedded one, the daemon of
/// `ACCELVERBS_SOCKET` (whose engines are its own), or a daemon started here.
pub fn device(channel: ChannelArg, engines: u16, spin: Duration) -> Result<(Device, Option<StartedDaemon>), String> {
    if channel == ChannelArg::Embedded {
        let config = SimConfig { engines: engines as usize, spin, ..SimConfig::default() };
        return Ok((Device::embedded(config), None));
    }
    if let Some(path) = std::env::var_os(accelverbs::uapi::daemon::SOCKET_ENV).filter(|p| !p.is_empty()) {
        return Ok((Device::from_source("accelsim0", Arc::new(DaemonSource::new(path))), None));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program's directory: {e}"))?;
    let simd = exe.with_file_name("accel-simd");
    if !simd.exists() {
        return Err(format!(
            "--channel daemon: {} is missing (cargo build -p accelverbs-rxe-sim), and {} is not set",
            simd.display(),
            accelverbs::uapi::daemon::SOCKET_ENV
        ));
    }
    let dir = std::env::temp_dir().join(format!("accel-perf-{}-{engines}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let socket = dir.join("sock");
    let child = Command::new(&simd)
        .args([
            "--foreground",
            "--mode",
            "600",
            "--engines",
            &engines.to_string(),
            "--spin-us",
            &spin.as_micros().to_string(),
            "--socket",
        ])
        .arg(&socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", simd.display()))?;
    let mut started = StartedDaemon { child, dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while DaemonChannel::connect(&socket).is_err() {
        if started.child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
            return Err(format!("{} did not start listening on {}", simd.display(), socket.display()));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok((Device::from_source("accelsim0", Arc::new(DaemonSource::new(socket))), Some(started)))
}

/// Page-aligned pages of this process, unmapped when dropped.
#[derive(Debug)]
pub struct CallerPages {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is owned by this value; the device reaches it only through the region
// registered over it, which is dropped first (see `Buffers`).
unsafe impl Send for CallerPages {}

impl CallerPages {
    fn new(len: usize) -> Result<Self, Error> {
        let len = len.max(1).next_multiple_of(4096);
        // SAFETY: a fresh anonymous mapping; it aliases nothing.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Error::Map {
                what: "perf buffer",
                errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::ENOMEM),
            });
        }
        Ok(Self { ptr: NonNull::new(p.cast()).ok_or(Error::Map { what: "perf buffer", errno: libc::ENOMEM })?, len })
    }
}

impl Drop for CallerPages {
    fn drop(&mut self) {
        // SAFETY: the mapping `new` made; the region over it was dropped before (field order
        // of `Buffers`), and deregistration returned only once the device was done with it.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// A source and a destination region, page-aligned either way, so a baseline on the same
/// buffers compares like with like.
#[derive(Debug)]
pub struct Buffers {
    pub src: MemoryRegion,
    pub dst: MemoryRegion,
    /// The pages under `src` and `dst` when they are the caller's: to drop after them.
    pub pages: Option<(CallerPages, CallerPages)>,
}

impl Buffers {
    pub fn new(pd: &Pd, memory: MemoryArg, src_len: usize, dst_len: usize) -> Result<Self, Error> {
        let (src_len, dst_len) = (src_len.max(1), dst_len.max(1));
        match memory {
            MemoryArg::Owned => Ok(Self {
                src: pd.alloc_mr(src_len, Access::empty())?,
                dst: pd.alloc_mr(dst_len, Access::LOCAL_WRITE)?,
                pages: None,
            }),
            MemoryArg::Caller => {
                let (a, b) = (CallerPages::new(src_len)?, CallerPages::new(dst_len)?);
                // SAFETY: the pages stay mapped until the regions are gone (whoever takes
                // `pages` drops them after `src` and `dst`); they are reached only through the
                // regions' methods.
                let src = unsafe { pd.reg_mr_raw(a.ptr.as_ptr(), src_len, Access::empty()) }?;
                // SAFETY: as above.
                let dst = unsafe { pd.reg_mr_raw(b.ptr.as_ptr(), dst_len, Access::LOCAL_WRITE) }?;
                Ok(Self { src, dst, pages: Some((a, b)) })
            }
        }
    }
}
