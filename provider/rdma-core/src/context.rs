//! The device context: `ibv_open_device`/`ibv_close_device`, device and port queries, and the
//! table of verbs libibverbs dispatches to.

use std::ffi::c_int;
use std::mem::{offset_of, ManuallyDrop};
use std::sync::Arc;

use accelverbs::{Context, DeviceCaps};

use crate::async_events::AsyncEvents;
use crate::ffi::guard;
use crate::sys;

/// Every verb this provider implements; libibverbs copies the non-NULL ones into a context.
pub static VERBS_OPS: sys::verbs_context_ops = sys::verbs_context_ops {
    alloc_pd: Some(crate::pd::alloc_pd),
    dealloc_pd: Some(crate::pd::dealloc_pd),
    reg_mr: Some(crate::mr::reg_mr),
    dereg_mr: Some(crate::mr::dereg_mr),
    create_cq: Some(crate::cq::create_cq),
    destroy_cq: Some(crate::cq::destroy_cq),
    poll_cq: Some(crate::cq::poll_cq),
    req_notify_cq: Some(crate::cq::req_notify_cq),
    cq_event: Some(crate::cq::cq_event),
    create_qp: Some(crate::qp::create_qp),
    create_qp_ex: Some(crate::qp::create_qp_ex),
    modify_qp: Some(crate::qp::modify_qp),
    query_qp: Some(crate::qp::query_qp),
    destroy_qp: Some(crate::qp::destroy_qp),
    post_send: Some(crate::post::post_send),
    post_recv: Some(crate::post::post_recv),
    query_device_ex: Some(query_device_ex),
    advise_mr: Some(crate::mr::advise_mr),
    query_port: Some(query_port),
    async_event: Some(async_event),
    free_context: Some(free_context),
    ..unset_ops()
};

/// A table with no verb set (libibverbs' defaults stand for those).
const fn unset_ops() -> sys::verbs_context_ops {
    // SAFETY: the table is all `Option<fn>`, for which all-zero bytes are `None`.
    unsafe { std::mem::zeroed() }
}

/// libibverbs' context with the accelverbs context it stands for. libibverbs allocates it
/// (zeroed, `calloc`), so it is freed with `free`.
#[repr(C)]
pub struct PluginContext {
    pub vctx: sys::verbs_context,
    pub state: ManuallyDrop<ContextState>,
}

pub struct ContextState {
    pub ctx: Context,
    pub caps: DeviceCaps,
    /// What `async_fd` reads, and the QPs events are routed to.
    pub async_events: Arc<AsyncEvents>,
}

impl PluginContext {
    /// Completes a context `_verbs_init_and_alloc_context` made: the Rust state, the verbs
    /// table, the async-event descriptor. Frees it and returns NULL (errno set) on failure.
    ///
    /// # Safety
    /// `raw` is a fresh, zeroed `PluginContext` whose `vctx` libibverbs initialised.
    pub unsafe fn init(raw: *mut PluginContext, ctx: Context) -> *mut sys::verbs_context {
        let fail = |errno: i32| {
            // SAFETY: `raw` holds no Rust state yet; this undoes libibverbs' part and frees
            // the allocation it made.
            unsafe {
                sys::verbs_uninit_context(&mut (*raw).vctx);
                libc::free(raw.cast());
            }
            crate::ffi::null_with(errno)
        };
        let caps = match ctx.query_device() {
            Ok(caps) => caps,
            Err(e) => return fail(crate::ffi::errno_of(&e)),
        };
        // libibverbs reads `struct ib_uverbs_async_event_desc` records from `async_fd`.
        let (async_events, async_fd) = match AsyncEvents::start(&ctx) {
            Ok(started) => started,
            Err(errno) => return fail(errno),
        };
        // SAFETY: `raw` is valid and exclusively ours until returned; `state` is written once.
        unsafe {
            std::ptr::write(&mut (*raw).state, ManuallyDrop::new(ContextState { ctx, caps, async_events }));
            let context = &mut (*raw).vctx.context;
            context.async_fd = async_fd;
            context.num_comp_vectors = 1;
            sys::verbs_set_ops(&mut (*raw).vctx, &VERBS_OPS);
            &mut (*raw).vctx
        }
    }
}

/// The plugin context holding `context`.
///
/// # Safety
/// `context` is a context this provider allocated and has not freed.
pub unsafe fn plugin_context<'a>(context: *mut sys::ibv_context) -> &'a PluginContext {
    let offset = offset_of!(PluginContext, vctx) + offset_of!(sys::verbs_context, context);
    // SAFETY: `context` lies `offset` bytes into its `PluginContext` (caller's contract).
    unsafe { &*context.byte_sub(offset).cast::<PluginContext>() }
}

/// The accelverbs state of `context`.
///
/// # Safety
/// As [`plugin_context`].
pub unsafe fn state<'a>(context: *mut sys::ibv_context) -> &'a ContextState {
    // SAFETY: the caller's contract.
    unsafe { &plugin_context(context).state }
}

unsafe extern "C" fn free_context(context: *mut sys::ibv_context) {
    guard("free_context", (), || {
        // SAFETY: libibverbs frees a context once, after the application closed it; the
        // objects made from it hold the accelverbs context alive as long as they need it.
        unsafe {
            let raw = (plugin_context(context) as *const PluginContext).cast_mut();
            let state: &ContextState = &(*raw).state;
            state.async_events.stop();
            ManuallyDrop::drop(&mut (*raw).state);
            sys::verbs_uninit_context(&mut (*raw).vctx);
            libc::free(raw.cast());
        }
    })
}

/// `ibv_query_device` and `ibv_query_device_ex`: the C view of [`DeviceCaps`], truncated to
/// the caller's structure size (a legacy caller passes only `ibv_device_attr`).
unsafe extern "C" fn query_device_ex(
    context: *mut sys::ibv_context,
    input: *const sys::ibv_query_device_ex_input,
    attr: *mut sys::ibv_device_attr_ex,
    attr_size: usize,
) -> c_int {
    guard("query_device_ex", libc::EIO, || {
        // SAFETY: `input`, when given, is the caller's structure.
        if !input.is_null() && unsafe { (*input).comp_mask } != 0 {
            return libc::EINVAL;
        }
        // SAFETY: libibverbs passes a context of this provider.
        let caps = unsafe { state(context) }.caps;
        let full = device_attr(&caps);
        let len = attr_size.min(std::mem::size_of::<sys::ibv_device_attr_ex>());
        // SAFETY: the caller's structure has `attr_size` bytes; we write at most that.
        unsafe { std::ptr::copy_nonoverlapping((&full as *const sys::ibv_device_attr_ex).cast::<u8>(), attr.cast::<u8>(), len) };
        0
    })
}

/// Most WQEs a QP may hold in flight on a read (an `RDMA_READ` is answered by this device
/// itself, so this only bounds what the application asks for).
const MAX_RD_ATOMIC: i32 = 16;

fn device_attr(caps: &DeviceCaps) -> sys::ibv_device_attr_ex {
    let mut fw_ver = [0; 64];
    let text = format!("{}.{}.{}", caps.fw_ver >> 32, (caps.fw_ver >> 16) & 0xffff, caps.fw_ver & 0xffff);
    for (dst, src) in fw_ver.iter_mut().zip(text.bytes()) {
        *dst = src as std::ffi::c_char;
    }
    let clamp = |n: u32| n.min(i32::MAX as u32) as i32;
    let orig_attr = sys::ibv_device_attr {
        fw_ver,
        // The GUIDs are big-endian in this structure, as the kernel reports them.
        node_guid: caps.node_guid.to_be(),
        sys_image_guid: caps.node_guid.to_be(),
        max_mr_size: caps.max_mr_size,
        page_size_cap: caps.page_size_cap,
        vendor_id: caps.vendor_id,
        vendor_part_id: caps.vendor_part_id,
        hw_ver: caps.hw_ver,
        max_qp: clamp(caps.max_qp),
        max_qp_wr: clamp(caps.max_qp_wr),
        // One SGE per side through `ibv_post_send`; lists are for the accelerator opcodes.
        max_sge: 1,
        max_sge_rd: 1,
        max_cq: clamp(caps.max_cq),
        max_cqe: clamp(caps.max_cqe),
        max_mr: clamp(caps.max_mr),
        max_pd: clamp(caps.max_pd),
        max_qp_rd_atom: MAX_RD_ATOMIC,
        max_res_rd_atom: MAX_RD_ATOMIC,
        max_qp_init_rd_atom: MAX_RD_ATOMIC,
        atomic_cap: sys::IBV_ATOMIC_NONE,
        max_pkeys: 1,
        phys_port_cnt: 1,
        ..Default::default()
    };
    let odp_caps = if caps.cap_flags & accelverbs::uapi::caps::cap_flags::ON_DEMAND_PAGING != 0 {
        // Every opcode may name an on-demand region; an RC QP's verbs opcodes are these.
        let rc = sys::IBV_ODP_SUPPORT_SEND | sys::IBV_ODP_SUPPORT_RECV | sys::IBV_ODP_SUPPORT_WRITE | sys::IBV_ODP_SUPPORT_READ;
        sys::ibv_odp_caps {
            general_caps: u64::from(sys::IBV_ODP_SUPPORT | sys::IBV_ODP_SUPPORT_IMPLICIT),
            per_transport_caps: sys::ibv_odp_caps__bindgen_ty_1 { rc_odp_caps: rc, ..Default::default() },
        }
    } else {
        sys::ibv_odp_caps::default()
    };
    sys::ibv_device_attr_ex { orig_attr, phys_port_cnt_ex: 1, odp_caps, ..Default::default() }
}

/// `ibv_query_port`. libibverbs hands a structure of its own size (it copies out what the
/// application's smaller one holds).
unsafe extern "C" fn query_port(context: *mut sys::ibv_context, port_num: u8, port_attr: *mut sys::ibv_port_attr) -> c_int {
    guard("query_port", libc::EIO, || {
        // SAFETY: libibverbs passes a context of this provider.
        let port = match unsafe { state(context) }.ctx.query_port(port_num) {
            Ok(p) => p.legacy_resp,
            Err(e) => return crate::ffi::errno_of(&e),
        };
        let attr = sys::ibv_port_attr {
            state: u32::from(port.state),
            max_mtu: u32::from(port.max_mtu),
            active_mtu: u32::from(port.active_mtu),
            gid_tbl_len: port.gid_tbl_len as c_int,
            port_cap_flags: port.port_cap_flags,
            max_msg_sz: port.max_msg_sz,
            bad_pkey_cntr: port.bad_pkey_cntr,
            qkey_viol_cntr: port.qkey_viol_cntr,
            pkey_tbl_len: port.pkey_tbl_len,
            lid: port.lid,
            sm_lid: port.sm_lid,
            lmc: port.lmc,
            max_vl_num: port.max_vl_num,
            sm_sl: port.sm_sl,
            subnet_timeout: port.subnet_timeout,
            init_type_reply: port.init_type_reply,
            active_width: port.active_width,
            active_speed: port.active_speed,
            phys_state: port.phys_state,
            link_layer: port.link_layer,
            flags: port.flags,
            port_cap_flags2: 0,
        };
        // SAFETY: libibverbs' `ibv_port_attr` (the 44 layout this was generated from).
        unsafe { port_attr.write(attr) };
        0
    })
}

/// Called by `ibv_get_async_event` for each event read; the forwarder counted it when sent.
unsafe extern "C" fn async_event(_context: *mut sys::ibv_context, _event: *mut sys::ibv_async_event) {}
