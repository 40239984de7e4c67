//! A user context: one open of the device. Every object hangs off one.

use alloc::sync::Arc;

use accelverbs_uapi::cmd::ExecPolicy;

use crate::{Driver, Hardware, RdmaCore, ResourceGuard};

/// A user context (`ib_ucontext`).
pub struct Ucontext<H: Hardware> {
    pub(crate) driver: Arc<Driver<H>>,
    /// The memory of the process that opened it: its rings and regions are pinned there.
    pub(crate) memory: Arc<dyn RdmaCore>,
    pub(crate) policy: ExecPolicy,
    pub(crate) id: u32,
    /// Its asynchronous events (the kernel's default async event file).
    pub(crate) async_events: Arc<H::AsyncEvents>,
    _count: ResourceGuard,
}

impl<H: Hardware> core::fmt::Debug for Ucontext<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ucontext").field("policy", &self.policy).finish_non_exhaustive()
    }
}

impl<H: Hardware> Ucontext<H> {
    pub(crate) fn new(
        driver: Arc<Driver<H>>,
        memory: Arc<dyn RdmaCore>,
        policy: ExecPolicy,
        id: u32,
        async_events: H::AsyncEvents,
        count: ResourceGuard,
    ) -> Arc<Self> {
        Arc::new(Self { driver, memory, policy, id, async_events: Arc::new(async_events), _count: count })
    }

    pub fn driver(&self) -> &Arc<Driver<H>> {
        &self.driver
    }

    /// The user memory its objects pin.
    pub fn memory(&self) -> &Arc<dyn RdmaCore> {
        &self.memory
    }

    /// Device-wide identifier of this context.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The queue its objects' asynchronous events go to.
    pub fn async_events(&self) -> &Arc<H::AsyncEvents> {
        &self.async_events
    }

    /// The execution policy the device granted.
    pub fn policy(&self) -> ExecPolicy {
        self.policy
    }
}
