//! Completion queues: `ibv_poll_cq` reads the device's ring through the accelverbs CQ.

use std::ffi::c_int;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use accelverbs::{Cq, WorkCompletion};

use crate::channels::{self, Binding};
use crate::context::state;
use crate::ffi::{errno_of, guard, leak, null_with, reclaim, wait_for_acks};
use crate::sys;

/// `ibv_cq` and the accelverbs CQ. Polling takes the lock: C lets any thread poll any CQ.
#[repr(C)]
pub struct PluginCq {
    pub ibv: sys::ibv_cq,
    pub cq: Mutex<Cq>,
    /// QPs completing here and not yet destroyed (`ibv_destroy_cq` answers `EBUSY` meanwhile).
    users: AtomicUsize,
    /// The completion channel, when the CQ reports to one; the id its events carry.
    channel: Option<(Arc<Binding>, u64)>,
    /// Events sent to the channel (`ibv_destroy_cq` waits until the application acked as
    /// many, less those it never read).
    events_sent: AtomicU32,
}

impl PluginCq {
    /// The CQ behind `cq`.
    ///
    /// # Safety
    /// `cq` was made by [`create_cq`] and not destroyed.
    pub unsafe fn from_ibv<'a>(cq: *mut sys::ibv_cq) -> &'a PluginCq {
        // SAFETY: `ibv` is the first field of the `#[repr(C)]` box `create_cq` leaked.
        unsafe { &*cq.cast::<PluginCq>() }
    }

    pub fn hold(&self) {
        self.users.fetch_add(1, Ordering::Relaxed);
    }

    pub fn release(&self) {
        self.users.fetch_sub(1, Ordering::Release);
    }

    /// Counts an event the forwarder sent.
    pub fn event_sent(&self) {
        self.events_sent.fetch_add(1, Ordering::Relaxed);
    }
}

pub unsafe extern "C" fn create_cq(
    context: *mut sys::ibv_context,
    cqe: c_int,
    channel: *mut sys::ibv_comp_channel,
    comp_vector: c_int,
) -> *mut sys::ibv_cq {
    guard("create_cq", std::ptr::null_mut(), || {
        // SAFETY: libibverbs passes a context of this provider.
        let state = unsafe { state(context) };
        if cqe < 1 || cqe as u32 > state.caps.max_cqe || comp_vector != 0 {
            return null_with(libc::EINVAL);
        }
        let binding = match channel.is_null() {
            true => None,
            // SAFETY: the application's channel, on this provider's context.
            false => match unsafe { channels::bind(context, channel) } {
                Ok(b) => Some(b),
                Err(errno) => return null_with(errno),
            },
        };
        let cq = match state.ctx.create_cq(cqe as u32, binding.as_ref().map(|b| &b.device)) {
            Ok(cq) => cq,
            Err(e) => return null_with(errno_of(&e)),
        };
        // SAFETY: an all-zero `ibv_cq` is its C initial state; libibverbs fills the rest
        // (`verbs_init_cq`: context, channel, user context, lock, event counts).
        let mut ibv: sys::ibv_cq = unsafe { std::mem::zeroed() };
        ibv.cqe = cq.capacity().min(i32::MAX as u32) as c_int;
        let id = cq.id();
        let channel = binding.map(|b| (b, id));
        let raw = leak(PluginCq { ibv, cq: Mutex::new(cq), users: AtomicUsize::new(0), channel, events_sent: AtomicU32::new(0) });
        // SAFETY: just made; the channel's events reach it from now on.
        if let Some((binding, id)) = unsafe { &(*raw).channel } {
            binding.add_cq(*id, raw);
        }
        raw.cast()
    })
}

pub unsafe extern "C" fn destroy_cq(cq: *mut sys::ibv_cq) -> c_int {
    guard("destroy_cq", libc::EIO, || {
        // SAFETY: libibverbs passes a CQ of this provider.
        if unsafe { PluginCq::from_ibv(cq) }.users.load(Ordering::Acquire) != 0 {
            return libc::EBUSY;
        }
        // SAFETY: as above; the application gives `cq` up with this call.
        let plugin = unsafe { reclaim(cq.cast::<PluginCq>()) };
        if let Some((binding, id)) = &plugin.channel {
            let unread = binding.remove_cq(*id, &*plugin);
            let reported = plugin.events_sent.load(Ordering::Relaxed) - unread;
            // As rdma-core's `ibv_cmd_destroy_cq`: a CQ freed with an event in a reader's hands
            // would leave it a dangling pointer.
            let cq = &plugin.ibv as *const sys::ibv_cq as *mut sys::ibv_cq;
            // SAFETY: the CQ's lock, condition variable and count, which `ibv_ack_cq_events`
            // uses, libibverbs initialised and the CQ is alive.
            unsafe { wait_for_acks(&raw mut (*cq).mutex, &raw mut (*cq).cond, &raw const (*cq).comp_events_completed, reported) };
        }
        drop(plugin);
        0
    })
}

/// `ibv_poll_cq`: up to `num_entries` completions into `wc`, their count, or -1.
pub unsafe extern "C" fn poll_cq(cq: *mut sys::ibv_cq, num_entries: c_int, wc: *mut sys::ibv_wc) -> c_int {
    guard("poll_cq", -1, || {
        let Ok(wanted) = usize::try_from(num_entries) else { return -1 };
        // SAFETY: libibverbs passes a CQ of this provider.
        let plugin = unsafe { PluginCq::from_ibv(cq) };
        // SAFETY: the caller's array has `num_entries` entries; `poll_with` hands out indexes
        // below `wanted`.
        plugin.poll_with(wanted, |i, c| unsafe { wc.add(i).write(ibv_wc(c)) }) as c_int
    })
}

impl PluginCq {
    /// Polls up to `wanted` completions, handing each with its index to `out`; returns their
    /// count.
    pub fn poll_with(&self, wanted: usize, mut out: impl FnMut(usize, &WorkCompletion)) -> usize {
        let mut cq = self.cq.lock().unwrap_or_else(|e| e.into_inner());
        let mut chunk = [WorkCompletion::default(); 16];
        let mut done = 0;
        while done < wanted {
            let want = (wanted - done).min(chunk.len());
            let got = cq.poll(&mut chunk[..want]);
            for (i, c) in chunk[..got].iter().enumerate() {
                out(done + i, c);
            }
            done += got;
            if got < want {
                break;
            }
        }
        done
    }
}

/// A completion as verbs reports it. Statuses keep their numbers (the device's shared ones
/// are `ibv_wc_status` values; its accelerator ones are acceldv.h's).
pub fn ibv_wc(c: &WorkCompletion) -> sys::ibv_wc {
    sys::ibv_wc {
        wr_id: c.wr_id,
        status: c.status as u32,
        opcode: crate::post::wc_opcode(c.opcode),
        vendor_err: c.vendor_err as u32,
        byte_len: c.byte_len,
        qp_num: c.qp_num,
        src_qp: c.source_qp().unwrap_or(0),
        ..Default::default()
    }
}

pub unsafe extern "C" fn req_notify_cq(cq: *mut sys::ibv_cq, solicited_only: c_int) -> c_int {
    guard("req_notify_cq", libc::EIO, || {
        // SAFETY: libibverbs passes a CQ of this provider.
        let plugin = unsafe { PluginCq::from_ibv(cq) };
        let cq = plugin.cq.lock().unwrap_or_else(|e| e.into_inner());
        match cq.req_notify(solicited_only != 0) {
            Ok(()) => 0,
            Err(e) => errno_of(&e),
        }
    })
}

/// Called by `ibv_get_cq_event` for the CQ it read; nothing to account yet.
pub unsafe extern "C" fn cq_event(_cq: *mut sys::ibv_cq) {}
