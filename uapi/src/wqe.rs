//! Send-queue entries.
//!
//! A WQE is 128 bytes: a 16-byte control segment, 48 bytes of opcode parameters, and four
//! 16-byte scatter/gather entries (source, destination, two auxiliary). NOP and COPY leave the
//! parameters zero; compression (algorithm, level, window) and crypto (key handle, IV, tag
//! location) put theirs there, and the auxiliary SGEs carry AAD, digests or an indirect SGL.
//!
//! ```text
//!  0        8      9      10      11       12          16                          64
//!  +--------+------+------+-------+--------+-----------+---------------------------+
//!  | wr_id  |opcode|flags |op_mod | rsvd   |  rsvd     |  params[48] (zero for      |
//!  |        |      |      |       |        |           |  NOP/COPY)                 |
//!  +--------+------+------+-------+--------+-----------+---------------------------+
//!  64  src: addr(8) length(4) lkey(4) | 80 dst: ... | 96 aux[0] | 112 aux[1] | 128
//! ```

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Bytes per WQE; the send queue is an array of these.
pub const WQE_SIZE: usize = 128;
/// `log2(WQE_SIZE)`.
pub const LOG_WQE_SIZE: u32 = 7;

wire_enum! {
    /// What a WQE asks the device to do. The number space is grouped so families can be
    /// gated by one capability bit each: 0x00–0x0f data movement, 0x10–0x1f compression,
    /// 0x20–0x2f crypto, 0x30–0x3f digests and checksums, 0x40– chained operations.
    pub enum Opcode: u8 {
        /// Completes without touching memory.
        Nop = 0x00,
        /// DMA copy of `src.length` bytes from `src` to `dst` (like `mlx5dv_wr_memcpy`).
        Copy = 0x01,
        /// Writes the local `src` into the remote range `dst`, whose key is an rkey of a
        /// region with remote-write access (`IBV_WR_RDMA_WRITE`; the device is its own
        /// responder).
        RdmaWrite = 0x02,
        /// Reads the remote range `src` (an rkey, remote-read access) into the local `dst`
        /// (`IBV_WR_RDMA_READ`).
        RdmaRead = 0x03,
        /// Delivers `src` into the next receive (`recv::RecvWqe`) of the QP this one was
        /// connected to at RTR (`IBV_WR_SEND`; the device carries it in loopback). Both sides
        /// complete: the sender here, the receiver with `recv::OPCODE_RECV`.
        Send = 0x04,
        /// Compresses `src` into `dst` (`compress::CompressParams` in the parameters).
        Compress = 0x10,
        /// Decompresses `src` into `dst` (`compress::CompressParams` in the parameters).
        Decompress = 0x11,
        /// Encrypts `src` into `dst` with a device-held key (`crypto::CryptoParams`); AES-GCM
        /// reads the AAD from `aux[0]` and writes the tag to `aux[1]`.
        Encrypt = 0x20,
        /// Decrypts `src` into `dst` (`crypto::CryptoParams`); AES-GCM reads the AAD from
        /// `aux[0]` and the tag from `aux[1]`.
        Decrypt = 0x21,
        /// A digest or checksum of `src` (`crypto::DigestParams`): SHA-256 and HMAC-SHA-256
        /// write 32 bytes to `dst`; CRC32C reports its value in `Cqe::result`.
        Digest = 0x30,
        /// Compresses `src` (one-shot) and encrypts the result with AES-GCM into `dst`
        /// (`crypto::ChainParams`); the AAD and tag as for ENCRYPT.
        CompressEncrypt = 0x40,
        /// Decrypts `src` with AES-GCM and decompresses the result (one-shot) into `dst`, which
        /// must be at least as long as `src` (`crypto::ChainParams`).
        DecryptDecompress = 0x41,
    }
}

impl Opcode {
    /// Every opcode, in numeric order (for listing capabilities).
    pub const ALL: [Opcode; 12] = [
        Opcode::Nop,
        Opcode::Copy,
        Opcode::RdmaWrite,
        Opcode::RdmaRead,
        Opcode::Send,
        Opcode::Compress,
        Opcode::Decompress,
        Opcode::Encrypt,
        Opcode::Decrypt,
        Opcode::Digest,
        Opcode::CompressEncrypt,
        Opcode::DecryptDecompress,
    ];

    /// The name docs/ABI.md and `accel devinfo` use (verbs' spelling for the verbs opcodes).
    pub const fn name(self) -> &'static str {
        match self {
            Opcode::Nop => "NOP",
            Opcode::Copy => "COPY",
            Opcode::RdmaWrite => "RDMA_WRITE",
            Opcode::RdmaRead => "RDMA_READ",
            Opcode::Send => "SEND",
            Opcode::Compress => "COMPRESS",
            Opcode::Decompress => "DECOMPRESS",
            Opcode::Encrypt => "ENCRYPT",
            Opcode::Decrypt => "DECRYPT",
            Opcode::Digest => "DIGEST",
            Opcode::CompressEncrypt => "COMPRESS_ENCRYPT",
            Opcode::DecryptDecompress => "DECRYPT_DECOMPRESS",
        }
    }
}

/// `WqeCtrl::flags` bits.
pub mod flags {
    /// Produce a CQE on success (errors always produce one).
    pub const SIGNALED: u8 = 1 << 0;
    /// Wake an armed, solicited-only completion channel.
    pub const SOLICITED: u8 = 1 << 1;
    /// Start only after every earlier WQE on this QP has completed (for chaining).
    pub const FENCE: u8 = 1 << 2;
    /// Bits a device of this revision accepts; any other set bit is a bad WQE.
    pub const KNOWN: u8 = SIGNALED | SOLICITED | FENCE;
}

/// A scatter/gather entry: `length` bytes at `addr` inside the MR named by `lkey`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Sge {
    pub addr: u64,
    pub length: u32,
    pub lkey: u32,
}
assert_layout!(Sge, 16; addr @ 0, length @ 8, lkey @ 12);

/// The control segment at the start of every WQE.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct WqeCtrl {
    /// Returned unchanged in the CQE.
    pub wr_id: u64,
    /// `Opcode`.
    pub opcode: u8,
    /// `flags::*`.
    pub flags: u8,
    /// Opcode modifier (algorithm variant); zero for NOP and COPY.
    pub op_mod: u8,
    pub reserved0: u8,
    pub reserved1: u32,
}
assert_layout!(WqeCtrl, 16; wr_id @ 0, opcode @ 8, flags @ 9, op_mod @ 10, reserved0 @ 11,
    reserved1 @ 12);

/// One send-queue entry.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Wqe {
    pub ctrl: WqeCtrl,
    pub params: [u8; 48],
    pub src: Sge,
    pub dst: Sge,
    pub aux: [Sge; 2],
}
assert_layout!(Wqe, WQE_SIZE; ctrl @ 0, params @ 16, src @ 64, dst @ 80, aux @ 96);

impl Default for Wqe {
    fn default() -> Self {
        Self { ctrl: WqeCtrl::default(), params: [0; 48], src: Sge::default(), dst: Sge::default(), aux: [Sge::default(); 2] }
    }
}
