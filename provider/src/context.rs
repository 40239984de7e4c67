//! A device context: the root of every object an application creates.

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;

use accelverbs_uapi::caps::DeviceCaps;
use accelverbs_uapi::cmd::{ExecPolicy, FileStats, GetContextCmd, GetContextResp, ResourceCounts};
use accelverbs_uapi::cqe::CQE_SIZE;
use accelverbs_uapi::ids::{device, object, uhw};
use accelverbs_uapi::verbs::QueryPortRespEx;
use accelverbs_uapi::wqe::WQE_SIZE;

use crate::brand::Unbranded;
use crate::ioctl::Command;
use crate::{Channel, Error};

/// How a context wants its work executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextOptions {
    pub policy: ExecPolicy,
    /// For [`ExecPolicy::Adaptive`]: batches moving at most this many bytes run inline.
    pub inline_threshold: u32,
}

impl Default for ContextOptions {
    fn default() -> Self {
        Self { policy: ExecPolicy::Threads, inline_threshold: 16 * 1024 }
    }
}

pub(crate) struct ContextInner {
    pub channel: Box<dyn Channel>,
    /// The device's page of engine wake words.
    pub uar: NonNull<u8>,
    pub uar_len: usize,
    pub policy: ExecPolicy,
    pub inline_threshold: u32,
    /// The descriptor of the context's asynchronous events, once asked for: the device
    /// installs it once (a daemon gives each call a new copy).
    pub async_fd: std::sync::OnceLock<std::os::fd::RawFd>,
    /// Whether `DeviceFatal` was reported (it is, once, when the device goes away).
    pub fatal_reported: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for ContextInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("channel", &self.channel).field("policy", &self.policy).finish_non_exhaustive()
    }
}

// SAFETY: `uar` points into a device mapping that lives as long as the channel; it is only
// accessed with atomics.
unsafe impl Send for ContextInner {}
// SAFETY: as above.
unsafe impl Sync for ContextInner {}

impl ContextInner {
    /// Runs a command, mapping a failure to `Error::Verbs { op, .. }`.
    pub fn run(&self, op: &'static str, cmd: &mut Command<'_>) -> Result<(), Error> {
        self.call(cmd).map_err(|errno| Error::Verbs { op, errno })
    }

    /// Runs a command built by this crate.
    pub fn call(&self, cmd: &mut Command<'_>) -> Result<(), i32> {
        trusted_call(&*self.channel, cmd)
    }
}

/// Runs a command built by this crate on any channel.
fn trusted_call(channel: &dyn Channel, cmd: &mut Command<'_>) -> Result<(), i32> {
    // SAFETY: the crate's commands name only memory they borrow for the call, except those
    // that hand the device memory to keep: regions (registered under `MemoryRegion`'s rules,
    // `mr.rs`), and rings and doorbell records (owned by the CQ or QP, freed only after the
    // device object is destroyed, leaked if that fails).
    unsafe { cmd.execute(channel) }
}

/// An open device context (`ibv_context`). Objects created from it keep it alive. `B` is its
/// brand ([`crate::brand`]): objects of one context cannot be given to another.
#[derive(Debug)]
pub struct Context<B = Unbranded> {
    pub(crate) inner: Arc<ContextInner>,
    pub(crate) brand: PhantomData<B>,
}

impl<B> Clone for Context<B> {
    fn clone(&self) -> Self {
        Self { inner: Arc::clone(&self.inner), brand: PhantomData }
    }
}

impl Context {
    /// Opens a context on a channel the caller got elsewhere (`ibv_open_device` on a file it
    /// opened itself): what [`crate::Device::open_with`] does with the device's own channel.
    pub fn from_channel(channel: Box<dyn Channel>, options: ContextOptions) -> Result<Self, Error> {
        Self::open(channel, options)
    }
}

impl<B> Context<B> {
    pub(crate) fn open(channel: Box<dyn Channel>, options: ContextOptions) -> Result<Self, Error> {
        let request = GetContextCmd { exec_policy: options.policy as u32, inline_threshold: options.inline_threshold };
        let mut resp = GetContextResp::default();
        let mut vectors = 0u32;
        let mut cmd = Command::new(object::DEVICE, device::METHOD_GET_CONTEXT);
        cmd.input(uhw::IN, &request).output(uhw::OUT, &mut resp).output(device::ATTR_GET_CONTEXT_NUM_COMP_VECTORS, &mut vectors);
        trusted_call(&*channel, &mut cmd).map_err(|errno| Error::Verbs { op: "get_context", errno })?;
        if resp.wqe_size as usize != WQE_SIZE || resp.cqe_size as usize != CQE_SIZE {
            return Err(Error::Protocol { op: "get_context", detail: "WQE/CQE size differs from this provider's ABI" });
        }
        let policy = ExecPolicy::try_from(resp.exec_policy)
            .map_err(|_| Error::Protocol { op: "get_context", detail: "unknown execution policy" })?;
        let uar_len = resp.uar_mmap_length as usize;
        let uar = channel.mmap(resp.uar_mmap_offset, uar_len).map_err(|errno| Error::Map { what: "UAR page", errno })?;
        let inner = Arc::new(ContextInner {
            channel,
            uar,
            uar_len,
            policy,
            inline_threshold: resp.inline_threshold,
            async_fd: Default::default(),
            fatal_reported: Default::default(),
        });
        Ok(Self { inner, brand: PhantomData })
    }

    /// The execution policy the device granted.
    pub fn policy(&self) -> ExecPolicy {
        self.inner.policy
    }

    /// Capabilities and limits (`ibv_query_device`).
    pub fn query_device(&self) -> Result<DeviceCaps, Error> {
        let mut caps = DeviceCaps::default();
        let mut cmd = Command::new(object::DEVICE, device::METHOD_QUERY_DEVICE);
        cmd.output(device::ATTR_QUERY_DEVICE_RESP, &mut caps);
        self.inner.run("query_device", &mut cmd)?;
        Ok(caps)
    }

    /// Port attributes (`ibv_query_port`); the device has one port, numbered 1.
    pub fn query_port(&self, port: u8) -> Result<QueryPortRespEx, Error> {
        let mut resp = QueryPortRespEx::default();
        let mut cmd = Command::new(object::DEVICE, device::METHOD_QUERY_PORT);
        cmd.input(device::ATTR_QUERY_PORT_PORT_NUM, &port).output(device::ATTR_QUERY_PORT_RESP, &mut resp);
        self.inner.run("query_port", &mut cmd)?;
        Ok(resp)
    }

    /// What carries this context's calls: "embedded", or "daemon at PATH".
    pub fn channel_description(&self) -> String {
        self.inner.channel.describe()
    }

    /// Every open file of the device (each process using a daemon, each context in this
    /// process), the caller's first, with its live objects and memory: `accel devinfo --stats`.
    pub fn device_files(&self) -> Result<Vec<FileStats>, Error> {
        query_files(&*self.inner.channel)
    }

    /// Live objects on the whole device (every context), like `rdma resource show`.
    pub fn device_resources(&self) -> Result<ResourceCounts, Error> {
        query_resources(&*self.inner.channel)
    }
}

/// QUERY_FILES over any channel (it needs no context).
pub fn query_files(channel: &dyn Channel) -> Result<Vec<FileStats>, Error> {
    let run = |files: &mut [FileStats]| {
        let mut count = 0u32;
        let mut cmd = Command::new(object::DEVICE, device::METHOD_QUERY_FILES);
        cmd.output(device::ATTR_QUERY_FILES_COUNT, &mut count);
        if !files.is_empty() {
            cmd.output(device::ATTR_QUERY_FILES_LIST, files);
        }
        trusted_call(channel, &mut cmd).map_err(|errno| Error::Verbs { op: "query_files", errno })?;
        Ok::<_, Error>(count as usize)
    };
    // An attribute holds at most 64 KiB: the first 1023 files.
    const MOST: usize = u16::MAX as usize / std::mem::size_of::<FileStats>();
    // Files may open between two calls: ask again until the list fits.
    let mut files = vec![FileStats::default(); 16];
    loop {
        let count = run(&mut files)?;
        if count <= files.len() || files.len() == MOST {
            files.truncate(count);
            return Ok(files);
        }
        files = vec![FileStats::default(); (count + 16).min(MOST)];
    }
}

/// QUERY_RESOURCES over any channel (it needs no context).
pub fn query_resources(channel: &dyn Channel) -> Result<ResourceCounts, Error> {
    let mut counts = ResourceCounts::default();
    let mut cmd = Command::new(object::DEVICE, device::METHOD_QUERY_RESOURCES);
    cmd.output(device::ATTR_QUERY_RESOURCES_RESP, &mut counts);
    trusted_call(channel, &mut cmd).map_err(|errno| Error::Verbs { op: "query_resources", errno })?;
    Ok(counts)
}
