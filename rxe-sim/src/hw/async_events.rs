//! A user context's asynchronous events (the kernel's default async event file): what the
//! device reports about a QP outside any completion, such as stopping it on its own.

use accelverbs_kernel_abi::{Errno, HwAsyncEvents};
use accelverbs_uapi::async_event::{AsyncEventDesc, AsyncEventType};

use crate::hw::event_queue::EventQueue;

#[derive(Debug)]
pub struct SoftAsyncEvents {
    events: EventQueue<AsyncEventDesc>,
}

impl SoftAsyncEvents {
    pub fn new() -> Result<Self, Errno> {
        Ok(Self { events: EventQueue::new()? })
    }

    /// Reports `event` about the object numbered `number`, created with `element`.
    pub fn raise(&self, event: AsyncEventType, element: u64, number: u32) {
        self.events.push(AsyncEventDesc { element, event_type: event as u32, number });
    }

    /// Drops the unread events about QP `qpn`, which is being destroyed (as the kernel's
    /// `ib_uverbs_release_uevent` does).
    pub fn purge(&self, qpn: u32) {
        self.events.retain(|e| e.number != qpn);
    }
}

impl HwAsyncEvents for SoftAsyncEvents {
    fn fd(&self) -> i32 {
        self.events.fd()
    }

    fn next_event(&self) -> Option<AsyncEventDesc> {
        self.events.pop()
    }
}
