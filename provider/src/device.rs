//! Device discovery.

use std::fmt;
use std::sync::Arc;

use crate::{Channel, Context, ContextOptions, Error};

#[derive(Clone)]
enum Backend {
    #[cfg(feature = "embedded")]
    Embedded(Arc<accelverbs_rxe_sim::SoftDevice>),
    /// Keeps the enum inhabited-but-unused when no backend is compiled in.
    #[allow(dead_code)]
    None,
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

/// The devices this process can use (`ibv_get_device_list`). With the `embedded` feature this
/// is the in-process soft device `accelsim0`, configured from `ACCELSIM_ENGINES` and
/// `ACCELSIM_SPIN_US`.
pub fn devices() -> Vec<Device> {
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

    /// A raw channel: a new uverbs file with no context yet. For tools and tests that speak
    /// the ioctl ABI themselves; dropping it closes the file and destroys what it created.
    pub fn open_channel(&self) -> Result<Box<dyn Channel>, Error> {
        match &self.backend {
            #[cfg(feature = "embedded")]
            Backend::Embedded(dev) => Ok(Box::new(crate::embedded::EmbeddedChannel::new(dev.open()))),
            Backend::None => Err(Error::Verbs { op: "open", errno: libc::ENODEV }),
        }
    }
}
