//! accelsim: the accelverbs soft device, in the spirit of soft-RoCE (rxe).
//!
//! It hosts the `kernel-abi` driver in user space: [`UverbsFile`] plays the kernel's uverbs
//! layer (ioctl parsing with copy-in/copy-out, per-file object tables, cleanup on close), and
//! the `hw` module plays the hardware (MR translation, CQ and send-queue rings in user memory,
//! engine threads that execute work requests on the CPU).
//!
//! Applications never call this crate: they use the provider, whose embedded channel hands it
//! the bytes of each ioctl.

#[cfg(test)]
mod c_header_probe;
pub mod daemon;
mod engines;
mod hw;
pub mod memory;
mod sync;
mod uverbs;

use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use accelverbs_kernel_abi::{Driver, Limits};

pub use accelverbs_kernel_abi::Errno;
/// The codecs the engines run, for callers that want the same libraries without the device (the
/// perf tool's baseline).
pub use engines::codec;
use uverbs::FileCounters;
pub use uverbs::UverbsFile;
pub mod library;

/// Device name, as `ibv_devices` would list it.
pub const DEVICE_NAME: &str = "accelsim0";
/// Driver name (`ibv_get_device_name`'s provider, `RDMAV_DRIVERS` entry).
pub const DRIVER_NAME: &str = "accel";

/// How a soft device is built.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Engine threads (0: inline execution only).
    pub engines: usize,
    /// How long an idle engine keeps polling before it sleeps.
    pub spin: Duration,
    /// Whether contexts may ask for inline or adaptive execution.
    pub inline_allowed: bool,
    /// Pinned-memory budget in bytes; `None`: `RLIMIT_MEMLOCK` (unlimited with CAP_IPC_LOCK).
    pub memlock_limit: Option<u64>,
    pub limits: Limits,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self { engines: 1, spin: Duration::from_micros(50), inline_allowed: true, memlock_limit: None, limits: Limits::default() }
    }
}

impl SimConfig {
    /// Defaults overridden by `ACCELSIM_ENGINES` and `ACCELSIM_SPIN_US`.
    pub fn from_env() -> Self {
        let mut c = Self::default();
        if let Some(n) = std::env::var("ACCELSIM_ENGINES").ok().and_then(|v| v.parse().ok()) {
            c.engines = n;
        }
        if let Some(us) = std::env::var("ACCELSIM_SPIN_US").ok().and_then(|v| v.parse().ok()) {
            c.spin = Duration::from_micros(us);
        }
        c
    }
}

/// One soft device.
#[derive(Debug)]
pub struct SoftDevice {
    name: String,
    driver: Arc<Driver<hw::SoftHardware>>,
    /// Pinning in this process: the device-wide count, and the budget of files opened here.
    pages: Arc<memory::UserPages>,
    /// Every open file, for QUERY_FILES.
    files: Mutex<Vec<Weak<FileCounters>>>,
}

impl SoftDevice {
    pub fn new(config: SimConfig) -> Arc<Self> {
        let hardware = hw::SoftHardware::new(config.engines, &config.limits, config.spin, config.inline_allowed);
        let pages = Arc::new(memory::UserPages::new(config.memlock_limit));
        let driver = Driver::new(hardware, Arc::clone(&pages) as Arc<dyn accelverbs_kernel_abi::RdmaCore>, config.limits);
        Arc::new(Self { name: DEVICE_NAME.to_owned(), driver, pages, files: Mutex::new(Vec::new()) })
    }

    /// The process-wide default device, created on first use from [`SimConfig::from_env`].
    pub fn global() -> Arc<Self> {
        static GLOBAL: OnceLock<Arc<SoftDevice>> = OnceLock::new();
        Arc::clone(GLOBAL.get_or_init(|| Self::new(SimConfig::from_env())))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Opens the device from this process: a new uverbs file.
    pub fn open(self: &Arc<Self>) -> UverbsFile {
        UverbsFile::new(Arc::clone(self), Arc::new(memory::OwnProcess::new(&self.pages)))
    }

    /// Opens the device for the process `user` reaches (a daemon's client).
    pub fn open_for(self: &Arc<Self>, user: Arc<dyn memory::UserSpace>) -> UverbsFile {
        UverbsFile::new(Arc::clone(self), user)
    }

    /// The device-wide count of pinned bytes, which every file's pins add to.
    pub(crate) fn pinned_counter(&self) -> Arc<std::sync::atomic::AtomicU64> {
        self.pages.device_counter()
    }

    fn file_opened(&self, counters: &Arc<FileCounters>) {
        let mut files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.retain(|f| f.strong_count() > 0);
        files.push(Arc::downgrade(counters));
    }

    /// The files open now.
    pub(crate) fn open_files(&self) -> Vec<Arc<FileCounters>> {
        let files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.iter().filter_map(Weak::upgrade).collect()
    }
}
