//! The driver instance for one device: limits, capabilities, per-kind object counters.

use alloc::sync::Arc;
use core::sync::atomic::{AtomicU32, Ordering};

use accelverbs_uapi::caps::{cap_flags, pack_version, DeviceCaps};
use accelverbs_uapi::cmd::{ExecPolicy, GetContextCmd, GetContextResp, ResourceCounts};
use accelverbs_uapi::cqe::CQE_SIZE;
use accelverbs_uapi::verbs::{self, QueryPortResp, QueryPortRespEx};
use accelverbs_uapi::wqe::WQE_SIZE;

use crate::objects::Ucontext;
use crate::{Errno, Hardware, RdmaCore, ResourceCounter};

/// The ceilings a device enforces; reported in [`DeviceCaps`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_contexts: u32,
    pub max_pd: u32,
    pub max_mr: u32,
    pub max_cq: u32,
    pub max_qp: u32,
    pub max_comp_channels: u32,
    pub max_comp_streams: u32,
    pub max_crypto_keys: u32,
    /// Largest send queue, in WQEs (a power of two).
    pub max_qp_wr: u32,
    /// Largest CQ, in CQEs (a power of two).
    pub max_cqe: u32,
    pub max_mr_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_contexts: 1024,
            max_pd: 4096,
            max_mr: 1 << 16,
            max_cq: 4096,
            max_qp: 4096,
            max_comp_channels: 1024,
            max_comp_streams: 4096,
            max_crypto_keys: 4096,
            max_qp_wr: 1 << 15,
            max_cqe: 1 << 20,
            max_mr_size: 1 << 40,
        }
    }
}

/// Firmware version the soft device reports (there is none; this is the driver's revision).
const FW_VERSION: (u16, u16, u16) = (0, 1, 0);
/// Driver ABI revision: bumped when the uapi layouts change.
const DRIVER_ABI_VERSION: (u16, u16, u16) = (1, 0, 0);
/// Vendor id: none assigned, so the "experimental" value IEEE leaves unassigned.
const VENDOR_ID: u32 = 0xFFFF;
/// EUI-64 in the locally administered space (bit 1 of the first byte set), so it can collide
/// with no vendor's assigned GUIDs.
const NODE_GUID: u64 = 0x02ac_ce1e_0000_0001;
/// The only page size the driver pins and maps at.
pub(crate) const PAGE_SIZE: u64 = 4096;

pub(crate) struct Counters {
    pub contexts: Arc<ResourceCounter>,
    pub pds: Arc<ResourceCounter>,
    pub mrs: Arc<ResourceCounter>,
    pub cqs: Arc<ResourceCounter>,
    pub qps: Arc<ResourceCounter>,
    pub comp_channels: Arc<ResourceCounter>,
    pub comp_streams: Arc<ResourceCounter>,
    pub crypto_keys: Arc<ResourceCounter>,
}

/// One accelverbs device as the driver sees it.
pub struct Driver<H: Hardware> {
    pub(crate) hw: H,
    /// User memory of the process hosting the driver: contexts opened without a memory of
    /// their own pin through it, and its `pinned_bytes` is the device-wide figure.
    pub(crate) core: Arc<dyn RdmaCore>,
    pub(crate) limits: Limits,
    pub(crate) counters: Counters,
    next_pdn: AtomicU32,
    next_ctx_id: AtomicU32,
}

impl<H: Hardware> core::fmt::Debug for Driver<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Driver").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl<H: Hardware> Driver<H> {
    pub fn new(hw: H, core: Arc<dyn RdmaCore>, limits: Limits) -> Arc<Self> {
        let counter = |max| Arc::new(ResourceCounter::new(max));
        Arc::new(Self {
            counters: Counters {
                contexts: counter(limits.max_contexts),
                pds: counter(limits.max_pd),
                mrs: counter(limits.max_mr),
                cqs: counter(limits.max_cq),
                qps: counter(limits.max_qp),
                comp_channels: counter(limits.max_comp_channels),
                comp_streams: counter(limits.max_comp_streams),
                crypto_keys: counter(limits.max_crypto_keys),
            },
            hw,
            core,
            limits,
            next_pdn: AtomicU32::new(1),
            next_ctx_id: AtomicU32::new(1),
        })
    }

    /// The hardware this driver programs.
    pub fn hardware(&self) -> &H {
        &self.hw
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// QUERY_DEVICE.
    pub fn query_device(&self) -> DeviceCaps {
        let l = &self.limits;
        let mut flags = cap_flags::COMP_CHANNEL;
        if self.hw.supports_inline() {
            flags |= cap_flags::INLINE_EXECUTION;
        }
        // Every SGE of every opcode goes through the same translation, which reaches an
        // on-demand region as readily as a pinned one.
        let odp_opcodes = if self.core.on_demand_paging() { self.hw.opcodes() } else { 0 };
        if odp_opcodes != 0 {
            flags |= cap_flags::ON_DEMAND_PAGING;
        }
        DeviceCaps {
            fw_ver: pack_version(FW_VERSION.0, FW_VERSION.1, FW_VERSION.2),
            driver_ver: pack_version(DRIVER_ABI_VERSION.0, DRIVER_ABI_VERSION.1, DRIVER_ABI_VERSION.2),
            vendor_id: VENDOR_ID,
            vendor_part_id: 1,
            hw_ver: 1,
            num_engines: self.hw.num_engines(),
            max_pd: l.max_pd,
            max_mr: l.max_mr,
            max_cq: l.max_cq,
            max_qp: l.max_qp,
            max_qp_wr: l.max_qp_wr,
            max_cqe: l.max_cqe,
            max_comp_channels: l.max_comp_channels,
            max_sge: self.hw.max_sge(),
            max_mr_size: l.max_mr_size,
            page_size_cap: PAGE_SIZE,
            opcodes: self.hw.opcodes() as u64,
            opcodes_hi: (self.hw.opcodes() >> 64) as u64,
            odp_opcodes: odp_opcodes as u64,
            odp_opcodes_hi: (odp_opcodes >> 64) as u64,
            cap_flags: flags,
            compress_formats: self.hw.compress_formats(),
            max_comp_streams: l.max_comp_streams,
            node_guid: NODE_GUID,
            max_crypto_keys: l.max_crypto_keys,
            reserved0: 0,
            reserved: [0; 2],
        }
    }

    /// QUERY_PORT: one port, always active, no link layer.
    pub fn query_port(&self, port: u8) -> Result<QueryPortRespEx, Errno> {
        if port != 1 {
            return Err(Errno::EINVAL);
        }
        Ok(QueryPortRespEx {
            legacy_resp: QueryPortResp {
                state: verbs::port_state::ACTIVE,
                max_msg_sz: u32::MAX,
                // One GID, the link-local one made from the node GUID (sysfs `gids/0`).
                gid_tbl_len: 1,
                pkey_tbl_len: 1,
                // IB_MTU_4096 = 5.
                max_mtu: 5,
                active_mtu: 5,
                // IB_PORT_PHYS_STATE_LINK_UP = 5.
                phys_state: 5,
                // The port is nominal (no wire): the narrowest width and slowest speed verbs
                // can name (IB_WIDTH_1X, IB_SPEED_SDR), one virtual lane, so tools print
                // values rather than "invalid".
                active_width: 1,
                active_speed: 1,
                max_vl_num: 1,
                link_layer: verbs::LINK_LAYER_UNSPECIFIED,
                ..Default::default()
            },
            ..Default::default()
        })
    }

    /// QUERY_RESOURCES: live objects across every context.
    pub fn resources(&self) -> ResourceCounts {
        let c = &self.counters;
        ResourceCounts {
            contexts: c.contexts.live(),
            pds: c.pds.live(),
            mrs: c.mrs.live(),
            cqs: c.cqs.live(),
            qps: c.qps.live(),
            comp_channels: c.comp_channels.live(),
            comp_streams: c.comp_streams.live(),
            crypto_keys: c.crypto_keys.live(),
            pinned_bytes: self.core.pinned_bytes(),
        }
    }

    /// GET_CONTEXT: opens a user context with the requested execution policy, whose memory is
    /// the driver's own process's.
    pub fn alloc_ucontext(self: &Arc<Self>, cmd: GetContextCmd) -> Result<(Arc<Ucontext<H>>, GetContextResp), Errno> {
        self.alloc_ucontext_for(cmd, Arc::clone(&self.core))
    }

    /// GET_CONTEXT for a caller whose user memory `memory` reaches (the process that opened
    /// the file, as the kernel pins through the opener's `mm`). It must add what it pins to
    /// the device-wide figure of the driver's own core.
    pub fn alloc_ucontext_for(
        self: &Arc<Self>,
        cmd: GetContextCmd,
        memory: Arc<dyn RdmaCore>,
    ) -> Result<(Arc<Ucontext<H>>, GetContextResp), Errno> {
        let requested = ExecPolicy::try_from(cmd.exec_policy).map_err(|_| Errno::EINVAL)?;
        // A device that cannot run work on the caller's thread serves every context with threads.
        let policy = match requested {
            ExecPolicy::Inline | ExecPolicy::Adaptive if !self.hw.supports_inline() => ExecPolicy::Threads,
            ExecPolicy::Threads | ExecPolicy::Adaptive if self.hw.num_engines() == 0 => ExecPolicy::Inline,
            p => p,
        };
        let guard = self.counters.contexts.acquire()?;
        let (uar_mmap_offset, uar_mmap_length) = self.hw.uar_mapping();
        let resp = GetContextResp {
            exec_policy: policy as u32,
            inline_threshold: cmd.inline_threshold,
            wqe_size: WQE_SIZE as u32,
            cqe_size: CQE_SIZE as u32,
            uar_mmap_offset,
            uar_mmap_length,
        };
        let async_events = self.hw.create_async_events()?;
        let id = self.next_ctx_id.fetch_add(1, Ordering::Relaxed);
        Ok((Ucontext::new(Arc::clone(self), memory, policy, id, async_events, guard), resp))
    }

    pub(crate) fn next_pdn(&self) -> u32 {
        self.next_pdn.fetch_add(1, Ordering::Relaxed)
    }
}
