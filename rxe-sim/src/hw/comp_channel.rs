//! Completion channels: the CQs that fired, behind a descriptor readable while any wait.

use accelverbs_kernel_abi::{Errno, HwCompChannel};

use crate::hw::event_queue::EventQueue;

/// One fired CQ, waiting to be read.
#[derive(Debug, Clone, Copy)]
struct Event {
    cqn: u32,
    user_handle: u64,
}

/// A completion channel on the soft device.
#[derive(Debug)]
pub struct SoftCompChannel {
    events: EventQueue<Event>,
}

impl SoftCompChannel {
    pub fn new() -> Result<Self, Errno> {
        Ok(Self { events: EventQueue::new()? })
    }

    /// Queues an event for CQ `cqn` (reported as `user_handle`) and makes the descriptor
    /// readable.
    pub fn push(&self, cqn: u32, user_handle: u64) {
        self.events.push(Event { cqn, user_handle });
    }

    /// Drops the queued events of CQ `cqn`, which is being destroyed: the kernel purges a
    /// destroyed CQ's events from its channel too (`ib_uverbs_release_ucq`).
    pub fn purge(&self, cqn: u32) {
        self.events.retain(|e| e.cqn != cqn);
    }
}

impl HwCompChannel for SoftCompChannel {
    fn fd(&self) -> i32 {
        self.events.fd()
    }

    fn next_event(&self) -> Option<u64> {
        self.events.pop().map(|e| e.user_handle)
    }
}
