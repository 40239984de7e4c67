//! A driver on mock hardware with small limits, and requests that pass every check.

use std::sync::Arc;

use accelverbs_uapi::cmd::{CreateCqCmd, CreateQpCmd, ExecPolicy, GetContextCmd};
use accelverbs_uapi::verbs::{QpCap, IB_UVERBS_QPT_DRIVER};

use super::mock::{MockCore, MockHardware};
use crate::objects::{Cq, CqRequest, Pd, Qp, QpRequest, Ucontext};
use crate::{Driver, Limits};

pub type H = MockHardware;

/// Each maximum differs from the others, so a counter charged to the wrong kind shows.
pub const LIMITS: Limits = Limits {
    max_contexts: 2,
    max_pd: 3,
    max_mr: 4,
    max_cq: 5,
    max_qp: 6,
    max_comp_channels: 7,
    max_comp_streams: 8,
    max_crypto_keys: 9,
    max_qp_wr: 64,
    max_cqe: 256,
    max_mr_size: 1 << 20,
};

/// Where the requests below place their rings (page aligned) and doorbells (cache-line
/// aligned, not page aligned). The mock never touches these addresses.
pub const CQ_RING: u64 = 0x10_000;
pub const CQ_DB: u64 = 0x20_040;
pub const SQ_RING: u64 = 0x30_000;
pub const SQ_DB: u64 = 0x40_040;

/// A driver on `hw` with [`LIMITS`], and the core it pins through.
pub fn driver_on(hw: MockHardware) -> (Arc<Driver<H>>, MockCore) {
    let core = MockCore::default();
    (Driver::new(hw, Arc::new(core.clone()), LIMITS), core)
}

/// A driver on hardware with one engine that also allows inline execution.
pub fn driver() -> (Arc<Driver<H>>, MockCore) {
    driver_on(MockHardware::new(1, true))
}

/// A context with the threads policy.
pub fn context(driver: &Arc<Driver<H>>) -> Arc<Ucontext<H>> {
    let cmd = GetContextCmd { exec_policy: ExecPolicy::Threads as u32, inline_threshold: 0 };
    driver.alloc_ucontext(cmd).expect("a context").0
}

/// 16 CQEs, no channel.
pub fn cq_request<'a>() -> CqRequest<'a, H> {
    CqRequest {
        cqe: 16,
        user_handle: 7,
        comp_vector: 0,
        flags: 0,
        channel: None,
        cmd: CreateCqCmd { ring_addr: CQ_RING, db_addr: CQ_DB, log_size: 4, reserved: 0 },
    }
}

/// 8 send WRs of one SGE, completing to `send_cq`.
pub fn qp_request(send_cq: &Arc<Cq<H>>) -> QpRequest<'_, H> {
    QpRequest {
        send_cq,
        recv_cq: None,
        user_handle: 0,
        cap: QpCap { max_send_wr: 8, max_send_sge: 1, ..QpCap::default() },
        qp_type: IB_UVERBS_QPT_DRIVER,
        create_flags: 0,
        cmd: CreateQpCmd { sq_addr: SQ_RING, db_addr: SQ_DB, log_sq_size: 3, ..CreateQpCmd::default() },
    }
}

/// A driver, its core, one context and one PD (pyverbs' base resources).
pub struct Base {
    pub core: MockCore,
    pub driver: Arc<Driver<H>>,
    pub ctx: Arc<Ucontext<H>>,
    pub pd: Arc<Pd<H>>,
}

impl Base {
    pub fn new() -> Self {
        let (driver, core) = driver();
        let ctx = context(&driver);
        let pd = ctx.alloc_pd().expect("a PD");
        Self { core, driver, ctx, pd }
    }

    pub fn hw(&self) -> &MockHardware {
        self.driver.hardware()
    }

    /// A CQ from [`cq_request`].
    pub fn cq(&self) -> Arc<Cq<H>> {
        self.ctx.create_cq(cq_request()).expect("a CQ").0
    }

    /// A QP from [`qp_request`] on the base PD.
    pub fn qp(&self, send_cq: &Arc<Cq<H>>) -> Arc<Qp<H>> {
        self.pd.create_qp(qp_request(send_cq)).expect("a QP").0
    }
}
