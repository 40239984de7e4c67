//! Device discovery.

use std::fmt;
use std::sync::Arc;

use crate::brand::Brand;
use crate::{Channel, Context, ContextOptions, Error};

/// The soft device's name, whichever process runs it.
const DEVICE_NAME: &str = "accelsim0";

#[derive(Clone)]
enum Backend {
    #[cfg(feature = "embedded")]
    Embedded(Arc<accelverbs_rxe_sim::SoftDevice>),
    Source(Arc<dyn ChannelSource>),
}

/// Where a device's channels come from when it is not the embedded soft device: a daemon's
/// socket, a kernel character device, or a test's stand-in. Each `open` is one uverbs file.
pub trait ChannelSource: Send + Sync {
    /// Opens a new file on the device (`open("/dev/infiniband/uverbsN")`).
    fn open(&self) -> Result<Box<dyn Channel>, Error>;
}

/// An accelverbs device that can be opened.
#[derive(Clone)]
pub struct Device {
    name: String,
    backend: Backend,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device").field("name", &self.name).finish_non_exhaustive()
    }
}

/// The devices this process can use (`ibv_get_device_list`): with `ACCELVERBS_SOCKET` set,
/// the soft device `accelsim0` served by the `accel-simd` daemon at that path; otherwise, with
/// the `embedded` feature, an in-process soft device `accelsim0`, configured from
/// `ACCELSIM_ENGINES` and `ACCELSIM_SPIN_US`.
pub fn devices() -> Vec<Device> {
    if let Some(path) = std::env::var_os(accelverbs_uapi::daemon::SOCKET_ENV).filter(|p| !p.is_empty()) {
        let source = Arc::new(crate::DaemonSource::new(path));
        return vec![Device::from_source(DEVICE_NAME, source)];
    }
    #[cfg(feature = "embedded")]
    {
        let dev = accelverbs_rxe_sim::SoftDevice::global();
        vec![Device { name: dev.name().to_owned(), backend: Backend::Embedded(dev) }]
    }
    #[cfg(not(feature = "embedded"))]
    {
        Vec::new()
    }
}

impl Device {
    /// A private soft device with its own engines, separate from the one `devices()` lists.
    #[cfg(feature = "embedded")]
    pub fn embedded(config: accelverbs_rxe_sim::SimConfig) -> Device {
        let dev = accelverbs_rxe_sim::SoftDevice::new(config);
        Device { name: dev.name().to_owned(), backend: Backend::Embedded(dev) }
    }

    /// A device whose channels `source` opens.
    pub fn from_source(name: impl Into<String>, source: Arc<dyn ChannelSource>) -> Device {
        Device { name: name.into(), backend: Backend::Source(source) }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Opens a context with the default options (engine threads).
    pub fn open(&self) -> Result<Context, Error> {
        self.open_with(ContextOptions::default())
    }

    pub fn open_with(&self, options: ContextOptions) -> Result<Context, Error> {
        Context::open(self.open_channel()?, options)
    }

    /// Opens a context whose objects carry a brand of their own ([`crate::brand`]) and runs
    /// `f` with it: giving one of its CQs or completion channels to another branded context is
    /// then a compile error, not a run-time `WrongContext`. The context, its PDs, CQs and
    /// channels cannot leave `f` (their brand exists only inside it); QPs and regions carry no
    /// brand and may, keeping the context open.
    ///
    /// ```
    /// # use accelverbs::{devices, ContextOptions, Nop, QpInit, WorkCompletion};
    /// let done = devices()[0].open_branded(ContextOptions::default(), |ctx| {
    ///     let pd = ctx.alloc_pd()?;
    ///     let mut cq = ctx.create_cq(16, None)?;
    ///     let mut qp = pd.create_qp(&cq, QpInit::new(4))?;
    ///     qp.post(Nop::new(1)).unwrap();
    ///     let mut wc = [WorkCompletion::default(); 1];
    ///     while cq.poll(&mut wc) == 0 {}
    ///     Ok::<_, accelverbs::Error>(wc[0].is_success())
    /// })??;
    /// assert!(done);
    /// # Ok::<(), accelverbs::Error>(())
    /// ```
    pub fn open_branded<R>(
        &self,
        options: ContextOptions,
        f: impl for<'id> FnOnce(Context<Brand<'id>>) -> R,
    ) -> Result<R, Error> {
        Ok(f(Context::open(self.open_channel()?, options)?))
    }

    /// A raw channel: a new uverbs file with no context yet. For tools and tests that speak
    /// the ioctl ABI themselves; dropping it closes the file and destroys what it created.
    pub fn open_channel(&self) -> Result<Box<dyn Channel>, Error> {
        match &self.backend {
            #[cfg(feature = "embedded")]
            Backend::Embedded(dev) => Ok(Box::new(crate::embedded::EmbeddedChannel::new(dev.open()))),
            Backend::Source(source) => source.open(),
        }
    }
}
