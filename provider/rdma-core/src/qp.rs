//! Queue pairs: RC queue pairs of verbs programs, carried by accelverbs QPs. The device is its
//! own fabric: SENDs and RDMA go to the QP named by `dest_qp_num` at RTR (any QP of the
//! device; RDMA of a QP never connected is answered by the device itself); the other
//! connection attributes are recorded, not used.

use std::ffi::c_int;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use crate::send_queue::SendQueue;

use accelverbs::uapi::recv::MAX_RECV_SGE;
use accelverbs::{QpInit, QpState, QpType};

use crate::context::state;
use crate::cq::PluginCq;
use crate::ffi::{errno_of, guard, leak, null_with, reclaim, wait_for_acks};
use crate::pd::PluginPd;
use crate::sys;

/// `verbs_qp` (libibverbs looks for the extended QP there) and the accelverbs QP.
#[repr(C)]
pub struct PluginQp {
    pub vqp: sys::verbs_qp,
    pub sq: SendQueue,
    /// What the application asked for, as granted (`ibv_query_qp`'s `init_attr`).
    init: sys::ibv_qp_init_attr,
    /// Connection attributes recorded by `ibv_modify_qp`, returned by `ibv_query_qp`.
    attrs: Mutex<sys::ibv_qp_attr>,
    /// The accelerator builders (acceldv.h), for a QP made by `acceldv_create_qp`; zeroed
    /// (no builder) otherwise.
    pub dv: sys::acceldv_qp_ex,
    /// The `ACCELDV_QP_EX_WITH_*` builders the QP was created with (0: none).
    pub dv_ops: u64,
    /// Async events sent to the application about this QP (`ibv_destroy_qp` waits until it
    /// acked those it read).
    events_sent: AtomicU32,
}

impl PluginQp {
    /// The QP behind `qp`.
    ///
    /// # Safety
    /// `qp` was made by this module and not destroyed.
    pub unsafe fn from_ibv<'a>(qp: *mut sys::ibv_qp) -> &'a PluginQp {
        // SAFETY: `ibv_qp` is the first member of `verbs_qp`, the first field of the
        // `#[repr(C)]` box `create` leaked.
        unsafe { &*qp.cast::<PluginQp>() }
    }

    /// Counts an async event sent about this QP.
    pub fn event_sent(&self) {
        self.events_sent.fetch_add(1, Ordering::Relaxed);
    }

    fn ibv(&self) -> &sys::ibv_qp {
        // SAFETY: `ibv_qp` starts `verbs_qp` (its union's `qp` member, the one this provider
        // initialises).
        unsafe { &*(&self.vqp as *const sys::verbs_qp).cast::<sys::ibv_qp>() }
    }
}

pub unsafe extern "C" fn create_qp(pd: *mut sys::ibv_pd, attr: *mut sys::ibv_qp_init_attr) -> *mut sys::ibv_qp {
    guard("create_qp", std::ptr::null_mut(), || {
        // SAFETY: libibverbs passes the application's attributes, which we may update.
        let attr = unsafe { &mut *attr };
        // SAFETY: as above.
        unsafe { create(pd, attr) }
    })
}

pub unsafe extern "C" fn create_qp_ex(context: *mut sys::ibv_context, attr: *mut sys::ibv_qp_init_attr_ex) -> *mut sys::ibv_qp {
    guard("create_qp_ex", std::ptr::null_mut(), || {
        // SAFETY: libibverbs passes the application's attributes.
        unsafe { create_extended(context, &mut *attr, Accel::default()) }
    })
}

/// What `acceldv_create_qp` adds to an extended QP.
#[derive(Debug, Default, Clone, Copy)]
pub struct Accel {
    /// `ACCELDV_QP_EX_WITH_*`.
    pub send_ops: u64,
    pub max_decompress_ratio: u32,
}

/// `ibv_create_qp_ex`, and `acceldv_create_qp` with `accel`.
///
/// # Safety
/// `context` is a context of this provider; the objects `ex` names are the application's.
pub unsafe fn create_extended(
    context: *mut sys::ibv_context,
    ex: &mut sys::ibv_qp_init_attr_ex,
    accel: Accel,
) -> *mut sys::ibv_qp {
    if ex.comp_mask & sys::IBV_QP_INIT_ATTR_PD == 0 || ex.pd.is_null() {
        return null_with(libc::EINVAL);
    }
    // The `ibv_wr_*` interface (SEND_OPS_FLAGS) for the RDMA operations; none of the other
    // extended attributes.
    if ex.comp_mask & !(sys::IBV_QP_INIT_ATTR_PD | sys::IBV_QP_INIT_ATTR_SEND_OPS_FLAGS) != 0 {
        return null_with(libc::EOPNOTSUPP);
    }
    let wr_api = ex.comp_mask & sys::IBV_QP_INIT_ATTR_SEND_OPS_FLAGS != 0;
    if wr_api && ex.send_ops_flags & !crate::wr::SUPPORTED_SEND_OPS != 0 {
        return null_with(libc::EOPNOTSUPP);
    }
    // The accelerator builders live in the `ibv_wr_*` interface.
    if accel.send_ops != 0 && !wr_api {
        return null_with(libc::EINVAL);
    }
    // SAFETY: `ex.pd` is a PD the application made on this provider's context.
    if unsafe { (*ex.pd).context } != context {
        return null_with(libc::EINVAL);
    }
    let mut plain = sys::ibv_qp_init_attr {
        qp_context: ex.qp_context,
        send_cq: ex.send_cq,
        recv_cq: ex.recv_cq,
        srq: ex.srq,
        cap: ex.cap,
        qp_type: ex.qp_type,
        sq_sig_all: ex.sq_sig_all,
    };
    // SAFETY: `ex.pd` is the application's PD of this provider.
    let qp = unsafe { create_with(ex.pd, &mut plain, accel.max_decompress_ratio) };
    ex.cap = plain.cap;
    if wr_api && !qp.is_null() {
        // SAFETY: a QP just made; the extended view shares its start (`verbs_qp`'s union).
        unsafe {
            let plugin = qp.cast::<PluginQp>();
            (*plugin).vqp.comp_mask |= sys::VERBS_QP_EX;
            crate::wr::install(&mut *qp.cast::<sys::ibv_qp_ex>());
            if accel.send_ops != 0 {
                crate::dv::install(&mut *plugin, accel.send_ops);
            }
        }
    }
    qp
}

/// Makes an RC QP in RESET.
///
/// # Safety
/// `pd` and the CQs `attr` names are objects of this provider.
unsafe fn create(pd: *mut sys::ibv_pd, attr: &mut sys::ibv_qp_init_attr) -> *mut sys::ibv_qp {
    // SAFETY: the caller's contract.
    unsafe { create_with(pd, attr, 0) }
}

/// [`create`] with a decompression ratio limit.
///
/// # Safety
/// As [`create`].
unsafe fn create_with(pd: *mut sys::ibv_pd, attr: &mut sys::ibv_qp_init_attr, max_decompress_ratio: u32) -> *mut sys::ibv_qp {
    if attr.qp_type != sys::IBV_QPT_RC {
        return null_with(libc::EOPNOTSUPP);
    }
    if !attr.srq.is_null() {
        return null_with(libc::EOPNOTSUPP);
    }
    if attr.send_cq.is_null() || attr.recv_cq.is_null() {
        return null_with(libc::EINVAL);
    }
    // SAFETY: libibverbs passes a PD of this provider.
    let plugin_pd = unsafe { PluginPd::from_ibv(pd) };
    // SAFETY: both CQs are the application's, of this provider (caller's contract).
    let (send_cq, recv_cq) = unsafe { (PluginCq::from_ibv(attr.send_cq), PluginCq::from_ibv(attr.recv_cq)) };
    // SAFETY: as above.
    let caps = &unsafe { state(plugin_pd.ibv.context) }.caps;
    let cap = attr.cap;
    if cap.max_send_wr > caps.max_qp_wr
        || cap.max_send_sge > 1
        || cap.max_inline_data > 0
        || cap.max_recv_wr > caps.max_qp_wr
        || cap.max_recv_sge > MAX_RECV_SGE
    {
        return null_with(libc::EINVAL);
    }
    // An RC QP on the device too (it runs every opcode, accelerator ones included).
    let init = QpInit::new(cap.max_send_wr)
        .signal_all(attr.sq_sig_all != 0)
        .max_decompress_ratio(max_decompress_ratio)
        .max_recv_wr(cap.max_recv_wr)
        .qp_type(QpType::Rc);
    let created = match std::ptr::eq(send_cq, recv_cq) {
        true => {
            let cq = send_cq.cq.lock().unwrap_or_else(|e| e.into_inner());
            plugin_pd.pd.create_qp_in_reset(&cq, init)
        }
        false => {
            // Two CQ locks, taken in address order so two threads pairing the same CQs the
            // other way round cannot deadlock.
            let send_first = (send_cq as *const PluginCq) < (recv_cq as *const PluginCq);
            let (first, second) = if send_first { (send_cq, recv_cq) } else { (recv_cq, send_cq) };
            let first = first.cq.lock().unwrap_or_else(|e| e.into_inner());
            let second = second.cq.lock().unwrap_or_else(|e| e.into_inner());
            let (send, recv) = if send_first { (&*first, &*second) } else { (&*second, &*first) };
            plugin_pd.pd.create_qp_with_recv_cq(send, recv, init)
        }
    };
    let qp = match created {
        Ok(qp) => qp,
        Err(e) => return null_with(errno_of(&e)),
    };
    let recv_sge = if qp.recv_capacity() > 0 { MAX_RECV_SGE } else { 0 };
    attr.cap = sys::ibv_qp_cap {
        max_send_wr: qp.capacity(),
        max_send_sge: 1,
        max_recv_wr: qp.recv_capacity(),
        max_recv_sge: recv_sge,
        ..cap
    };
    // SAFETY: an all-zero `verbs_qp` is its C initial state (no extended QP: `comp_mask` 0).
    let mut vqp: sys::verbs_qp = unsafe { std::mem::zeroed() };
    // SAFETY: `ibv_qp` starts `verbs_qp` (its union's `qp` member, the one in use).
    let ibv = unsafe { &mut *(&mut vqp as *mut sys::verbs_qp).cast::<sys::ibv_qp>() };
    ibv.context = plugin_pd.ibv.context;
    ibv.qp_context = attr.qp_context;
    ibv.pd = pd;
    ibv.send_cq = attr.send_cq;
    ibv.recv_cq = attr.recv_cq;
    ibv.handle = qp.qpn();
    ibv.qp_num = qp.qpn();
    ibv.state = sys::IBV_QPS_RESET;
    ibv.qp_type = attr.qp_type;
    let attrs = sys::ibv_qp_attr { qp_state: sys::IBV_QPS_RESET, cap: attr.cap, port_num: 1, ..Default::default() };
    // SAFETY: all-zero is "no builder" for the table of optional function pointers.
    let dv: sys::acceldv_qp_ex = unsafe { std::mem::zeroed() };
    let qpn = qp.qpn();
    let raw = leak(PluginQp {
        vqp,
        sq: SendQueue::new(qp),
        init: *attr,
        attrs: Mutex::new(attrs),
        dv,
        dv_ops: 0,
        events_sent: AtomicU32::new(0),
    });
    // SAFETY: the QP is at its final address; its lock and condition variable (which
    // libibverbs uses for async-event accounting) are initialised there, once.
    unsafe {
        let ibv = &mut *(&mut (*raw).vqp as *mut sys::verbs_qp).cast::<sys::ibv_qp>();
        libc::pthread_mutex_init(&mut ibv.mutex, std::ptr::null());
        libc::pthread_cond_init(&mut ibv.cond, std::ptr::null());
    }
    plugin_pd.hold();
    send_cq.hold();
    recv_cq.hold();
    // SAFETY: the PD's context is this provider's.
    unsafe { state(plugin_pd.ibv.context) }.async_events.add_qp(qpn, raw);
    raw.cast()
}

/// `ibv_modify_qp`: the state moves on the device; the connection attributes of an RC QP are
/// recorded (the device is its own responder).
pub unsafe extern "C" fn modify_qp(qp: *mut sys::ibv_qp, attr: *mut sys::ibv_qp_attr, mask: c_int) -> c_int {
    guard("modify_qp", libc::EIO, || {
        // SAFETY: libibverbs passes a QP of this provider and the application's attributes.
        let (plugin, attr) = unsafe { (PluginQp::from_ibv(qp), &*attr) };
        let mask = mask as u32;
        // DEST_QPN names the receiver of SENDs; verbs takes it with INIT -> RTR only.
        let dest = match mask & sys::IBV_QP_DEST_QPN != 0 {
            true if mask & sys::IBV_QP_STATE != 0 && attr.qp_state == sys::IBV_QPS_RTR => Some(attr.dest_qp_num),
            true => return libc::EINVAL,
            false => None,
        };
        if mask & sys::IBV_QP_STATE != 0 {
            let Ok(target) = QpState::try_from(attr.qp_state) else { return libc::EINVAL };
            let mut queue = match plugin.sq.lock() {
                Ok(queue) => queue,
                Err(errno) => return errno,
            };
            let moved = match dest {
                Some(dest) => queue.qp.connect(dest),
                None => queue.qp.modify(target),
            };
            if let Err(e) = moved {
                return errno_of(&e);
            }
            // SAFETY: the state field is the application's to read; this is its one writer
            // (the verbs contract serialises modify_qp on a QP).
            unsafe { (*qp).state = attr.qp_state };
        }
        let mut recorded = plugin.attrs.lock().unwrap_or_else(|e| e.into_inner());
        record(&mut recorded, attr, mask);
        0
    })
}

/// Copies into `recorded` the attributes `mask` says `attr` carries (`ibv_query_qp` returns
/// them); RESET forgets the connection.
fn record(recorded: &mut sys::ibv_qp_attr, attr: &sys::ibv_qp_attr, mask: u32) {
    if mask & sys::IBV_QP_STATE != 0 && attr.qp_state == sys::IBV_QPS_RESET {
        *recorded = sys::ibv_qp_attr { cap: recorded.cap, port_num: 1, ..Default::default() };
    }
    macro_rules! take {
        ($($bit:ident => $($field:ident),+;)+) => {
            $(if mask & sys::$bit != 0 { $(recorded.$field = attr.$field;)+ })+
        };
    }
    take! {
        IBV_QP_STATE => qp_state, cur_qp_state;
        IBV_QP_ACCESS_FLAGS => qp_access_flags;
        IBV_QP_PKEY_INDEX => pkey_index;
        IBV_QP_PORT => port_num;
        IBV_QP_QKEY => qkey;
        IBV_QP_AV => ah_attr;
        IBV_QP_PATH_MTU => path_mtu;
        IBV_QP_TIMEOUT => timeout;
        IBV_QP_RETRY_CNT => retry_cnt;
        IBV_QP_RNR_RETRY => rnr_retry;
        IBV_QP_RQ_PSN => rq_psn;
        IBV_QP_MAX_QP_RD_ATOMIC => max_rd_atomic;
        IBV_QP_MIN_RNR_TIMER => min_rnr_timer;
        IBV_QP_SQ_PSN => sq_psn;
        IBV_QP_MAX_DEST_RD_ATOMIC => max_dest_rd_atomic;
        IBV_QP_DEST_QPN => dest_qp_num;
    }
    recorded.cur_qp_state = recorded.qp_state;
}

pub unsafe extern "C" fn query_qp(
    qp: *mut sys::ibv_qp,
    attr: *mut sys::ibv_qp_attr,
    _mask: c_int,
    init_attr: *mut sys::ibv_qp_init_attr,
) -> c_int {
    guard("query_qp", libc::EIO, || {
        // SAFETY: libibverbs passes a QP of this provider.
        let plugin = unsafe { PluginQp::from_ibv(qp) };
        // The device may have moved the QP to ERR on its own (a failed request).
        let queue = match plugin.sq.lock() {
            Ok(queue) => queue,
            Err(errno) => return errno,
        };
        let state = match queue.qp.query_state() {
            Ok(s) => s as u32,
            Err(e) => return errno_of(&e),
        };
        drop(queue);
        let recorded = *plugin.attrs.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: the application's output structures.
        unsafe {
            attr.write(sys::ibv_qp_attr { qp_state: state, cur_qp_state: state, ..recorded });
            init_attr.write(plugin.init);
        }
        0
    })
}

pub unsafe extern "C" fn destroy_qp(qp: *mut sys::ibv_qp) -> c_int {
    guard("destroy_qp", libc::EIO, || {
        // SAFETY: libibverbs passes a QP of this provider, which the application gives up.
        let plugin = unsafe { reclaim(qp.cast::<PluginQp>()) };
        let ibv = plugin.ibv();
        let (pd, send_cq, recv_cq) = (ibv.pd, ibv.send_cq, ibv.recv_cq);
        // SAFETY: the QP's context is this provider's.
        let unread = unsafe { state(ibv.context) }.async_events.remove_qp(ibv.qp_num, &*plugin);
        let reported = plugin.events_sent.load(Ordering::Relaxed) - unread;
        // As rdma-core's `ibv_cmd_destroy_qp`: a QP freed with an event in a reader's hands
        // would leave it a dangling pointer.
        let ibv = (ibv as *const sys::ibv_qp).cast_mut();
        // SAFETY: the QP's lock, condition variable and count, which `ibv_ack_async_event`
        // uses, libibverbs initialised (in `create`) and the QP is alive until `drop` below.
        unsafe { wait_for_acks(&raw mut (*ibv).mutex, &raw mut (*ibv).cond, &raw const (*ibv).events_completed, reported) };
        drop(plugin);
        // SAFETY: the PD and CQs outlive the QP (they refuse to go while it exists).
        unsafe {
            PluginPd::from_ibv(pd).release();
            PluginCq::from_ibv(send_cq).release();
            PluginCq::from_ibv(recv_cq).release();
        }
        0
    })
}
