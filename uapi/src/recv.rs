//! Receive-queue entries: where a SEND from the connected QP lands.
//!
//! A QP created with `QpCap::max_recv_wr > 0` has a receive queue of `2^log_rq_size` entries
//! (`cmd::CreateQpCmd`), laid out right after its send queue in the same buffer (as mlx5 puts
//! both queues in one). The provider writes entries and publishes `rq_producer` in the QP's
//! doorbell record; the device consumes them in order and publishes `rq_consumer`.
//!
//! ```text
//!  0        8                         24          32
//!  +--------+-------------------------+-----------+
//!  | wr_id  | sge: addr length lkey   | reserved  |
//!  +--------+-------------------------+-----------+
//! ```

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::wqe::Sge;

/// Bytes per receive-queue entry.
pub const RECV_WQE_SIZE: usize = 32;

/// `Cqe::opcode` of a receive's completion (`IBV_WC_RECV`): not a send-queue opcode. Its
/// `byte_len` is what the SEND carried and its `result` the sending QP's number.
pub const OPCODE_RECV: u8 = 0x80;

/// SGEs per receive (`QpCap::max_recv_sge`).
pub const MAX_RECV_SGE: u32 = 1;

/// One receive-queue entry. A zero-length `sge` takes only zero-length SENDs and names no
/// region (its key is not checked).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct RecvWqe {
    /// Returned unchanged in the receive's CQE.
    pub wr_id: u64,
    /// Where the SEND's bytes go; the region needs local-write access.
    pub sge: Sge,
    pub reserved: [u8; 8],
}
assert_layout!(RecvWqe, RECV_WQE_SIZE; wr_id @ 0, sge @ 8, reserved @ 24);
