//! Queue pairs: a send queue of accelerator work (or of RDMA the device answers itself)
//! feeding a CQ, and for verbs programs an optional receive queue that takes the SENDs of the
//! QP it is connected to (loopback on this device).

use alloc::sync::Arc;

use accelverbs_uapi::cmd::{qp_flags, CreateQpCmd, CreateQpResp};
use accelverbs_uapi::doorbell::{QpDoorbellRecord, CACHE_LINE};
use accelverbs_uapi::recv::{MAX_RECV_SGE, RECV_WQE_SIZE};
use accelverbs_uapi::verbs::{QpCap, QpState, IB_UVERBS_QPT_DRIVER, IB_UVERBS_QPT_RC};
use accelverbs_uapi::wqe::WQE_SIZE;

use crate::device::PAGE_SIZE;
use crate::objects::{is_aligned, Cq, Pd};
use crate::{transition_allowed, Errno, Hardware, HwQp, QpSetup, RecvQueueSetup, ResourceGuard};

/// What CREATE_QP asked for, after the uverbs layer resolved the handles.
#[derive(Debug)]
pub struct QpRequest<'a, H: Hardware> {
    pub send_cq: &'a Arc<Cq<H>>,
    pub recv_cq: Option<&'a Arc<Cq<H>>>,
    pub cap: QpCap,
    pub qp_type: u32,
    pub create_flags: u32,
    /// Returned in the QP's asynchronous events.
    pub user_handle: u64,
    pub cmd: CreateQpCmd,
}

/// A queue pair.
pub struct Qp<H: Hardware> {
    hw: Arc<H::Qp>,
    pd: Arc<Pd<H>>,
    send_cq: Arc<Cq<H>>,
    /// The receive queue's CQ, if the QP has one.
    recv_cq: Option<Arc<Cq<H>>>,
    _count: ResourceGuard,
}

impl<H: Hardware> core::fmt::Debug for Qp<H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Qp").field("qpn", &self.hw.qpn()).finish_non_exhaustive()
    }
}

impl<H: Hardware> Pd<H> {
    /// CREATE_QP. Returns the QP, the driver response and the granted capabilities.
    pub fn create_qp(self: &Arc<Self>, req: QpRequest<'_, H>) -> Result<(Arc<Qp<H>>, CreateQpResp, QpCap), Errno> {
        let driver = &self.ctx.driver;
        let caps = driver.query_device();
        // RC is what a verbs program creates; the device is its own responder, so an RC QP
        // is the same send queue as a DRIVER QP and runs every opcode. The type is not kept:
        // nothing on the device depends on it.
        if req.qp_type != IB_UVERBS_QPT_DRIVER && req.qp_type != IB_UVERBS_QPT_RC {
            return Err(Errno::EOPNOTSUPP);
        }
        if req.create_flags != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        let (cap, cmd) = (req.cap, req.cmd);
        let entries = 1u64.checked_shl(cmd.log_sq_size).ok_or(Errno::EINVAL)?;
        if cap.max_send_wr == 0
            || cap.max_send_wr > caps.max_qp_wr
            || entries < u64::from(cap.max_send_wr)
            || entries > u64::from(caps.max_qp_wr)
            || cap.max_send_sge > caps.max_sge
            || cap.max_inline_data != 0
            || cmd.flags & !qp_flags::SIGNAL_ALL != 0
            || !is_aligned(cmd.sq_addr, PAGE_SIZE)
            || !is_aligned(cmd.db_addr, CACHE_LINE as u64)
        {
            return Err(Errno::EINVAL);
        }
        let recv_entries = Self::receive_queue(&req, caps.max_qp_wr)?;
        let recv = match (recv_entries, req.recv_cq) {
            (0, _) => None,
            (_, Some(cq)) => Some(RecvQueueSetup { cq: &cq.hw, log_size: cmd.log_rq_size }),
            (_, None) => return Err(Errno::EINVAL),
        };
        let count = driver.counters.qps.acquire()?;
        let ring_len = entries * WQE_SIZE as u64 + recv_entries * RECV_WQE_SIZE as u64;
        let ring = self.ctx.memory.pin_user_memory(cmd.sq_addr, ring_len, false)?;
        let doorbell = self.ctx.memory.pin_user_memory(cmd.db_addr, core::mem::size_of::<QpDoorbellRecord>() as u64, true)?;
        let hw = driver.hw.create_qp(QpSetup {
            pdn: self.pdn,
            ctx_id: self.ctx.id,
            async_events: &self.ctx.async_events,
            user_handle: req.user_handle,
            send_cq: &req.send_cq.hw,
            recv,
            ring,
            doorbell,
            log_sq_size: cmd.log_sq_size,
            signal_all: cmd.flags & qp_flags::SIGNAL_ALL != 0,
            max_decompress_ratio: cmd.max_decompress_ratio,
            policy: self.ctx.policy,
        })?;
        let hw = Arc::new(hw);
        driver.hw.activate_qp(&hw);
        self.usecnt.inc();
        req.send_cq.usecnt.inc();
        // Held even without a receive queue, as the kernel holds every CQ a QP names.
        let recv_cq = req.recv_cq.map(Arc::clone);
        if let Some(cq) = &recv_cq {
            cq.usecnt.inc();
        }
        let resp = CreateQpResp { qpn: hw.qpn(), uar_wake_offset: hw.uar_wake_offset() };
        let granted = QpCap {
            max_send_wr: entries as u32,
            max_send_sge: caps.max_sge,
            max_recv_wr: recv_entries as u32,
            max_recv_sge: if recv_entries > 0 { MAX_RECV_SGE } else { 0 },
            ..QpCap::default()
        };
        let qp = Arc::new(Qp { hw, pd: Arc::clone(self), send_cq: Arc::clone(req.send_cq), recv_cq, _count: count });
        Ok((qp, resp, granted))
    }

    /// Entries of the receive queue CREATE_QP asked for (0: none). A QP without one asks for
    /// no receive SGEs and leaves `log_rq_size` zero; a recv CQ it names is held, unused (a
    /// send-only QP of a program with a CQ per direction).
    fn receive_queue(req: &QpRequest<'_, H>, max_qp_wr: u32) -> Result<u64, Errno> {
        let (cap, log_size) = (req.cap, req.cmd.log_rq_size);
        if cap.max_recv_wr == 0 {
            return match cap.max_recv_sge == 0 && log_size == 0 {
                true => Ok(0),
                false => Err(Errno::EINVAL),
            };
        }
        let entries = 1u64.checked_shl(log_size).ok_or(Errno::EINVAL)?;
        if cap.max_recv_wr > max_qp_wr
            || entries < u64::from(cap.max_recv_wr)
            || entries > u64::from(max_qp_wr)
            || cap.max_recv_sge > MAX_RECV_SGE
        {
            return Err(Errno::EINVAL);
        }
        Ok(entries)
    }
}

impl<H: Hardware> Qp<H> {
    /// The device-side QP.
    pub fn hw(&self) -> &Arc<H::Qp> {
        &self.hw
    }

    pub fn qpn(&self) -> u32 {
        self.hw.qpn()
    }

    /// QUERY_QP: the state as the device sees it.
    pub fn state(&self) -> QpState {
        self.hw.state()
    }

    /// MODIFY_QP. `expected` is `IBV_QP_CUR_STATE`: if given it must match the device's view.
    /// `dest_qpn` (`IBV_QP_DEST_QPN`) is taken only with INIT → RTR, as verbs defines it.
    pub fn modify(&self, next: QpState, expected: Option<QpState>, dest_qpn: Option<u32>) -> Result<(), Errno> {
        // The device may move the QP to ERR concurrently; retry against the fresh state once.
        for _ in 0..2 {
            let current = self.hw.state();
            if expected.is_some_and(|e| e != current) {
                return Err(Errno::EINVAL);
            }
            if !transition_allowed(current, next) {
                return Err(Errno::EINVAL);
            }
            if let Some(dest) = dest_qpn {
                if (current, next) != (QpState::Init, QpState::Rtr) {
                    return Err(Errno::EINVAL);
                }
                self.hw.connect(dest)?;
            }
            if self.hw.transition(current, next) {
                return Ok(());
            }
        }
        Err(Errno::EINVAL)
    }
}

impl<H: Hardware> Drop for Qp<H> {
    fn drop(&mut self) {
        // No engine touches the ring after this; then the pins and parents can go.
        self.hw.quiesce();
        self.pd.ctx.driver.hw.retire_qp(&self.hw);
        self.send_cq.usecnt.dec();
        if let Some(cq) = &self.recv_cq {
            cq.usecnt.dec();
        }
        self.pd.usecnt.dec();
    }
}
