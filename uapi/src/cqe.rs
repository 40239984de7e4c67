//! Completion-queue entries.
//!
//! ```text
//!  0         8         16         20        24          26          27      28      29     30    31
//!  +---------+---------+----------+---------+-----------+-----------+-------+-------+------+-----+
//!  | wr_id   | result  | byte_len | qp_num  |wqe_counter| vendor_err|opcode |status |flags |rsvd |owner
//!  +---------+---------+----------+---------+-----------+-----------+-------+-------+------+-----+
//! ```
//!
//! The device writes every field, then publishes the entry by storing `owner` with release
//! ordering. The entry at free-running index `i` of a ring of `2^log_size` is valid when
//! `owner & 1 == owner_bit_for(i, log_size)`: 1 on the first lap, 0 on the second, and so on, so a
//! zero-filled ring starts empty.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Bytes per CQE.
pub const CQE_SIZE: usize = 32;

wire_enum! {
    /// Completion status. Values shared with `enum ibv_wc_status` keep its numbers (checked
    /// against libibverbs' header); accelerator-specific ones start at 0x40.
    pub enum CqeStatus: u8 {
        Success = 0,
        /// `IBV_WC_LOC_LEN_ERR`: an SGE is too short for the operation.
        LocalLengthError = 1,
        /// `IBV_WC_LOC_QP_OP_ERR`: malformed WQE (bad opcode, flags, reserved bits).
        LocalQpOperationError = 2,
        /// `IBV_WC_LOC_PROT_ERR`: a key, PD, bounds or access check failed.
        LocalProtectionError = 4,
        /// `IBV_WC_WR_FLUSH_ERR`: not executed because the QP is in the error state.
        WorkRequestFlushed = 5,
        /// `IBV_WC_REM_INV_REQ_ERR`: the receiver could not take the SEND (its receive
        /// buffer is too short). Stops the QP.
        RemoteInvalidRequest = 9,
        /// `IBV_WC_REM_ACCESS_ERR`: the remote side of an RDMA request failed its key, PD,
        /// bounds or remote-access check.
        RemoteAccessError = 10,
        /// `IBV_WC_REM_OP_ERR`: the receiver failed the SEND on its side (its receive
        /// buffer failed a key, PD, bounds or access check). Stops the QP.
        RemoteOperationError = 11,
        /// `IBV_WC_RETRY_EXC_ERR`: the SEND reached no receiver: the QP was never connected,
        /// or the QP it was connected to is gone or not ready to receive. Stops the QP.
        RetryExceeded = 12,
        /// `IBV_WC_RNR_RETRY_EXC_ERR`: the receiver had no receive posted, or no room in its
        /// receive CQ for the completion (the device does not retry: as with `rnr_retry`
        /// 0). Stops the QP.
        ReceiverNotReady = 13,
        /// `IBV_WC_GENERAL_ERR`.
        GeneralError = 21,
        /// The output filled before the input was used up. Recoverable: the completion says
        /// how much was consumed and produced; a stream continues with more output, a one-shot
        /// request is retried with a larger destination. The QP stays usable.
        OutputTooSmall = 0x40,
        /// The input is not valid data of the format (bad header, bad code, checksum
        /// mismatch). The QP stays usable.
        CorruptInput = 0x41,
        /// A one-shot request's input ended before its stream did. The QP stays usable.
        TruncatedInput = 0x42,
        /// Decompression would produce more than the QP's ratio limit allows per byte of input
        /// (a decompression bomb). The QP stays usable.
        OutputLimit = 0x43,
        /// Decryption: the tag does not authenticate the data (wrong key, IV, AAD, tag, or
        /// altered ciphertext). The destination holds zeros, never unauthenticated plaintext.
        /// The QP stays usable.
        AuthenticationFailed = 0x44,
    }
}

wire_enum! {
    /// `Cqe::vendor_err`: which check failed, so "protection error" is never ambiguous.
    pub enum VendorError: u8 {
        None = 0,
        /// No MR has this key index.
        KeyUnknown = 1,
        /// The key's index exists but its variant byte is stale (MR re-registered).
        KeyStale = 2,
        /// The MR belongs to another protection domain.
        PdMismatch = 3,
        /// The SGE does not lie inside the MR (or its end overflows).
        OutOfBounds = 4,
        /// The MR lacks the access right the operation needs (LOCAL_WRITE for a destination).
        AccessDenied = 5,
        /// Unknown opcode, or an opcode the QP was not created for.
        BadOpcode = 6,
        /// Unknown flag or nonzero reserved/parameter bytes.
        ReservedNonzero = 7,
        /// The destination is shorter than the source.
        DestinationTooSmall = 8,
        /// Unknown compression format, or a request in a stream naming another format than its
        /// context's.
        BadFormat = 9,
        /// A level outside the format's range, or a level where none is taken.
        BadLevel = 10,
        /// An indirect SGE list that is empty, too long, not whole entries, or whose total
        /// length overflows.
        BadList = 11,
        /// No compression context has this number (never created, destroyed, or of another
        /// context's device number space).
        StreamUnknown = 12,
        /// The compression context compresses and the request decompresses, or the reverse.
        StreamDirection = 13,
        /// No crypto key has this number in the QP's PD (never created, destroyed, or another
        /// PD's).
        CryptoKeyUnknown = 14,
        /// The key is for another algorithm than the operation needs.
        WrongKeyAlgorithm = 15,
        /// An output range overlaps another range of the request (other than its own input).
        Overlap = 16,
        /// Unknown digest algorithm.
        BadAlgorithm = 17,
        /// A SEND on a QP with no connected peer, or whose peer is gone or not in RTR/RTS.
        NotConnected = 18,
        /// A SEND found no receive posted at the peer (or no room in its receive CQ).
        NoReceivePosted = 19,
        /// AES-XTS: a data unit under 16 bytes, or an input that is not a whole number of them.
        BadDataUnit = 20,
        /// Memory of an on-demand region (or one the device reaches by copies) is not mapped
        /// with the access needed, or its process is gone: the page fault could not be
        /// resolved.
        PageFault = 21,
        /// SHA-256 over several requests (`digest_flags`): a request with `MORE` whose input
        /// is not a whole number of 64-byte blocks, or a state read back (`RESUME`) that no
        /// request wrote (its byte count not a whole number of blocks, or past SHA-256's
        /// limit with this input).
        BadDigestState = 22,
    }
}

/// One completion.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct Cqe {
    pub wr_id: u64,
    /// Operation-specific result (checksum, digest location); zero for NOP and COPY.
    pub result: u64,
    /// Bytes produced (written to the destination).
    pub byte_len: u32,
    pub qp_num: u32,
    /// Low 16 bits of the send-queue index of the WQE this completes.
    pub wqe_counter: u16,
    /// `VendorError`.
    pub vendor_err: u8,
    /// `wqe::Opcode` of the completed WQE (as read from it; garbage for a bad opcode).
    pub opcode: u8,
    /// `CqeStatus`.
    pub status: u8,
    /// `flags::*`.
    pub flags: u8,
    pub reserved: u8,
    /// Phase bit, stored last with release ordering.
    pub owner: u8,
}
assert_layout!(Cqe, CQE_SIZE; wr_id @ 0, result @ 8, byte_len @ 16, qp_num @ 20,
    wqe_counter @ 24, vendor_err @ 26, opcode @ 27, status @ 28, flags @ 29, reserved @ 30,
    owner @ 31);

/// `Cqe::flags` bits.
pub mod flags {
    /// The WQE asked for a solicited event.
    pub const SOLICITED: u8 = 1 << 1;
    /// Compression: the stream is complete (the request finished it, or decompression reached
    /// its end: the last gzip member's trailer, the zstd/LZ4 frame's end).
    pub const END_OF_STREAM: u8 = 1 << 2;
}

/// Byte offset of `Cqe::owner`, for the atomic publication store/load.
pub const CQE_OWNER_OFFSET: usize = 31;

/// The owner bit a valid CQE carries at free-running index `index` of a `2^log_size` ring.
#[inline]
pub const fn owner_bit_for(index: u32, log_size: u32) -> u8 {
    (((index >> log_size) & 1) ^ 1) as u8
}
