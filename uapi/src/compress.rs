//! COMPRESS and DECOMPRESS: the parameters they carry in `Wqe::params` and what their
//! completions report.
//!
//! ```text
//!  params  0       1       2        4          8                                        48
//!          +-------+-------+--------+----------+----------------------------------------+
//!          |format | level | flags  |  stream  |  reserved (zero)                       |
//!          +-------+-------+--------+----------+----------------------------------------+
//! ```
//!
//! `src` is the input and `dst` the output. With `flags::SRC_LIST` (`DST_LIST`) the SGE names
//! an array of up to `MAX_LIST_ENTRIES` SGEs inside a registered region instead of the data
//! itself (an indirect list, as mlx5's KLMs): `length` is the array's size in bytes, a whole
//! non-zero number of 16-byte entries. The entries are the data, in order.
//!
//! A zero `stream` is a one-shot request: the input is one whole stream (a gzip member, a zstd
//! frame) and the output receives all of it. A nonzero `stream` is the device number of a
//! compression context: the request continues that context's stream, so input and output may
//! be cut anywhere.
//!
//! The completion reports (see [`result`]): `Cqe::byte_len` = bytes produced, `Cqe::result` =
//! bytes consumed in the high half and the format's checksum in the low half, and
//! `cqe::flags::END_OF_STREAM` once the stream is complete.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

wire_enum! {
    /// A compressed data format.
    pub enum Format: u8 {
        /// Raw deflate (RFC 1951); checksum: CRC-32 of the uncompressed data.
        Deflate = 1,
        /// zlib (RFC 1950); checksum: its Adler-32.
        Zlib = 2,
        /// gzip (RFC 1952); checksum: its CRC-32. Decompression reads every member of a
        /// multi-member file.
        Gzip = 3,
        /// The LZ4 frame format; checksum: the frame's content checksum (XXH32), when present.
        Lz4Frame = 4,
        /// One LZ4 block, one-shot only; no checksum.
        Lz4Block = 5,
        /// Zstandard (RFC 8878); checksum: the frame's content checksum (low 32 bits of XXH64),
        /// when present.
        Zstd = 6,
    }
}

impl Format {
    pub const ALL: [Format; 6] = [Format::Deflate, Format::Zlib, Format::Gzip, Format::Lz4Frame, Format::Lz4Block, Format::Zstd];

    /// The compression levels the format takes: deflate's 0 (store) to 9, LZ4's 0 (fast) to 12
    /// (HC), zstd's negative (fast) levels down to -128 up to 19 (0 is zstd's default, 3). zstd's
    /// "ultra" levels 20–22 are not offered: their windows of up to 128 MiB would let a single
    /// request hold hundreds of MiB of device memory.
    pub const fn levels(self) -> core::ops::RangeInclusive<i8> {
        match self {
            Format::Deflate | Format::Zlib | Format::Gzip => 0..=9,
            Format::Lz4Frame | Format::Lz4Block => 0..=12,
            Format::Zstd => -128..=19,
        }
    }

    /// The level its command-line tool uses by default (gzip 6, lz4 1, zstd 3).
    pub const fn default_level(self) -> i8 {
        match self {
            Format::Deflate | Format::Zlib | Format::Gzip => 6,
            Format::Lz4Frame | Format::Lz4Block => 1,
            Format::Zstd => 3,
        }
    }

    /// Whether a compression context can carry a stream of this format across requests.
    pub const fn streams(self) -> bool {
        !matches!(self, Format::Lz4Block)
    }
}

wire_enum! {
    /// Which way a compression context's stream goes.
    pub enum StreamDirection: u32 {
        Compress = 0,
        Decompress = 1,
    }
}

/// `CompressParams::flags` bits.
pub mod flags {
    /// `src` names a list of input SGEs.
    pub const SRC_LIST: u16 = 1 << 0;
    /// `dst` names a list of output SGEs.
    pub const DST_LIST: u16 = 1 << 1;
    /// Compression in a stream: make everything consumed so far decodable from the output
    /// (a deflate sync flush, a zstd/LZ4 block end).
    pub const FLUSH: u16 = 1 << 2;
    /// Compression in a stream: this request's input ends the stream (the trailer follows).
    /// One-shot requests always finish.
    pub const FINISH: u16 = 1 << 3;
    /// Bits a device of this revision accepts.
    pub const KNOWN: u16 = SRC_LIST | DST_LIST | FLUSH | FINISH;
}

/// Most entries one indirect list holds.
pub const MAX_LIST_ENTRIES: u32 = 16;

/// The parameters of COMPRESS and DECOMPRESS, in `Wqe::params`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub struct CompressParams {
    /// `Format`. For a request in a stream, the format of its context.
    pub format: u8,
    /// Compression level in `Format::levels`; zero for decompression and for a request in a
    /// stream (the context's level applies).
    pub level: i8,
    /// `flags::*`.
    pub flags: u16,
    /// Device number of a compression context, or 0 for a one-shot request.
    pub stream: u32,
    pub reserved: [u8; 40],
}
assert_layout!(CompressParams, 48; format @ 0, level @ 1, flags @ 2, stream @ 4, reserved @ 8);

impl Default for CompressParams {
    fn default() -> Self {
        Self { format: 0, level: 0, flags: 0, stream: 0, reserved: [0; 40] }
    }
}

/// How the 64-bit `Cqe::result` of a compression completion is packed.
pub mod result {
    /// `(consumed << 32) | checksum`.
    pub const fn pack(consumed: u32, checksum: u32) -> u64 {
        (consumed as u64) << 32 | checksum as u64
    }

    /// Input bytes the request consumed.
    pub const fn consumed(result: u64) -> u32 {
        (result >> 32) as u32
    }

    /// The format's checksum of the uncompressed data so far (0 where the format has none or
    /// the stream has not reached it yet).
    pub const fn checksum(result: u64) -> u32 {
        result as u32
    }
}
