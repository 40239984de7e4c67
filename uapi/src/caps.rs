//! The device-capabilities struct returned by the driver's QUERY_DEVICE method.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `DeviceCaps::cap_flags` bits. Compression, crypto and chaining claim bits as they land.
pub mod cap_flags {
    /// Completion channels and `req_notify_cq` are supported.
    pub const COMP_CHANNEL: u64 = 1 << 0;
    /// The poster/poller thread may run work inline (embedded devices only).
    pub const INLINE_EXECUTION: u64 = 1 << 1;
    /// Regions may be registered on demand (`access::ON_DEMAND`), explicit or implicit; the
    /// opcodes that may name them are `DeviceCaps::odp_opcodes` (`ibv_odp_caps`).
    pub const ON_DEMAND_PAGING: u64 = 1 << 2;
}

/// What the device can do and how much of it. Zero-filled `reserved` words are room for the
/// compression, crypto and chaining capabilities later revisions add; a provider reading an
/// older device sees zeros there, which means "not supported".
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct DeviceCaps {
    /// Firmware version, `major << 32 | minor << 16 | patch`.
    pub fw_ver: u64,
    /// Driver ABI version, same encoding.
    pub driver_ver: u64,
    pub vendor_id: u32,
    pub vendor_part_id: u32,
    pub hw_ver: u32,
    pub num_engines: u32,
    pub max_pd: u32,
    pub max_mr: u32,
    pub max_cq: u32,
    pub max_qp: u32,
    /// Largest send queue, in WQEs.
    pub max_qp_wr: u32,
    /// Largest CQ, in CQEs.
    pub max_cqe: u32,
    pub max_comp_channels: u32,
    /// Scatter/gather entries per direction in one WQE.
    pub max_sge: u32,
    pub max_mr_size: u64,
    pub page_size_cap: u64,
    /// Bit `1 << opcode` for every `wqe::Opcode` below 64 the device executes
    /// ([`DeviceCaps::runs`] reads both words).
    pub opcodes: u64,
    /// `cap_flags::*`.
    pub cap_flags: u64,
    /// Bit `1 << format` for every `compress::Format` COMPRESS and DECOMPRESS take.
    pub compress_formats: u32,
    /// Compression contexts (streams) the device holds at once.
    pub max_comp_streams: u32,
    /// The node's EUI-64 identifier (`ibv_device_attr::node_guid`, sysfs `node_guid`), in host
    /// byte order.
    pub node_guid: u64,
    /// Crypto keys the device holds at once.
    pub max_crypto_keys: u32,
    pub reserved0: u32,
    /// Bit `1 << (opcode - 64)` for every opcode from 64 (the chained operations).
    pub opcodes_hi: u64,
    /// The opcodes whose SGEs may name on-demand regions, as `opcodes` and `opcodes_hi` list
    /// what the device runs (`ibv_odp_caps` per transport, for an accelerator's opcodes).
    pub odp_opcodes: u64,
    pub odp_opcodes_hi: u64,
    pub reserved: [u64; 2],
}
assert_layout!(DeviceCaps, 160; fw_ver @ 0, driver_ver @ 8, vendor_id @ 16, num_engines @ 28,
    max_pd @ 32, max_qp_wr @ 48, max_sge @ 60, max_mr_size @ 64, page_size_cap @ 72,
    opcodes @ 80, cap_flags @ 88, compress_formats @ 96, max_comp_streams @ 100, node_guid @ 104, max_crypto_keys @ 112,
    reserved0 @ 116, opcodes_hi @ 120, odp_opcodes @ 128, odp_opcodes_hi @ 136, reserved @ 144);

impl DeviceCaps {
    /// Whether the device executes `opcode`.
    pub fn runs(&self, opcode: crate::wqe::Opcode) -> bool {
        let n = opcode as u8 as u32;
        match n < 64 {
            true => self.opcodes & (1 << n) != 0,
            false => self.opcodes_hi.checked_shr(n - 64).is_some_and(|word| word & 1 != 0),
        }
    }

    /// Both opcode words as one mask: bit `1 << opcode`.
    pub fn opcode_mask(&self) -> u128 {
        u128::from(self.opcodes) | u128::from(self.opcodes_hi) << 64
    }
}

/// Packs a version triple the way `DeviceCaps::fw_ver` stores it.
pub const fn pack_version(major: u16, minor: u16, patch: u16) -> u64 {
    ((major as u64) << 32) | ((minor as u64) << 16) | patch as u64
}
