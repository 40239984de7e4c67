//! The checksum a compression completion reports, taken from what passes through the codec:
//! raw deflate has no trailer, so its CRC-32 is computed over the uncompressed bytes; the other
//! formats carry theirs in the stream (gzip's CRC-32, zlib's Adler-32, the zstd and LZ4 frames'
//! content checksums), read from the compressed bytes as they pass, at no extra cost.

use accelverbs_uapi::compress::Format;

/// Bytes of a frame header that decide whether it carries a content checksum: the 4-byte
/// magic and the descriptor byte after it (bit 2 is the checksum flag in zstd and LZ4 frames).
const HEADER: usize = 5;
const CONTENT_CHECKSUM_FLAG: u8 = 1 << 2;
const ZSTD_MAGIC: [u8; 4] = 0xFD2F_B528u32.to_le_bytes();
const LZ4_MAGIC: [u8; 4] = 0x184D_2204u32.to_le_bytes();
/// Skippable frames of zstd and LZ4: `0x184D2A50`–`0x184D2A5F`.
const SKIPPABLE_MAGIC_HIGH: [u8; 3] = [0x2A, 0x4D, 0x18];
const GZIP_MAGIC: [u8; 2] = [0x1F, 0x8B];

/// Follows one stream's bytes for its checksum.
#[derive(Debug, Clone)]
pub struct ChecksumTracker {
    format: Format,
    /// Raw deflate: CRC-32 of the uncompressed bytes so far.
    crc: crc32fast::Hasher,
    /// The last 8 compressed bytes: where the trailers are.
    tail: [u8; 8],
    /// The current frame's first bytes, and how many of them were seen.
    header: [u8; HEADER],
    header_seen: usize,
    /// The checksum of the last data member or frame that ended (skippable frames carry none).
    last: u32,
}

impl ChecksumTracker {
    pub fn new(format: Format) -> Self {
        Self { format, crc: crc32fast::Hasher::new(), tail: [0; 8], header: [0; HEADER], header_seen: 0, last: 0 }
    }

    /// Uncompressed bytes passed through.
    pub fn plain(&mut self, bytes: &[u8]) {
        if self.format == Format::Deflate {
            self.crc.update(bytes);
        }
    }

    /// Compressed bytes passed through.
    pub fn packed(&mut self, bytes: &[u8]) {
        if bytes.len() >= 8 {
            self.tail.copy_from_slice(&bytes[bytes.len() - 8..]);
        } else {
            self.tail.rotate_left(bytes.len());
            self.tail[8 - bytes.len()..].copy_from_slice(bytes);
        }
        if self.header_seen < HEADER {
            let take = (HEADER - self.header_seen).min(bytes.len());
            self.header[self.header_seen..self.header_seen + take].copy_from_slice(&bytes[..take]);
            self.header_seen += take;
        }
    }

    /// A new member or frame starts (its header is tracked from here).
    pub fn next_member(&mut self) {
        self.header_seen = 0;
    }

    /// A member or frame just ended: takes its checksum from its trailer. A skippable frame
    /// keeps the last data frame's.
    pub fn member_ended(&mut self) {
        let last4 = |at: usize| [self.tail[at], self.tail[at + 1], self.tail[at + 2], self.tail[at + 3]];
        self.last = match self.format {
            Format::Deflate => self.crc.clone().finalize(),
            // gzip's trailer: CRC-32, then the length, both little-endian.
            Format::Gzip => u32::from_le_bytes(last4(0)),
            Format::Zlib => u32::from_be_bytes(last4(4)),
            Format::Zstd | Format::Lz4Frame => {
                let magic = if self.format == Format::Zstd { ZSTD_MAGIC } else { LZ4_MAGIC };
                let data_frame = self.header_seen == HEADER && self.header[..4] == magic;
                match data_frame {
                    true if self.header[4] & CONTENT_CHECKSUM_FLAG != 0 => u32::from_le_bytes(last4(4)),
                    true => 0,
                    false => self.last,
                }
            }
            Format::Lz4Block => 0,
        };
    }

    /// The checksum once the stream ended: its last data member's or frame's (for gzip, the
    /// last member's CRC-32); 0 where there is none.
    pub fn at_end(&self) -> u32 {
        self.last
    }

    /// The checksum before the stream ended: raw deflate's running CRC; the others are only
    /// known from their trailer.
    pub fn so_far(&self) -> u32 {
        match self.format {
            Format::Deflate => self.crc.clone().finalize(),
            _ => 0,
        }
    }
}

/// Whether `next` (the input after a finished member or frame; fewer than 4 bytes when the
/// input ends sooner) starts another one that decompression goes on with: gzip members, zstd
/// and LZ4 frames (skippable ones included) follow each other; deflate and zlib streams stand
/// alone.
pub fn another_member_follows(format: Format, next: &[u8]) -> bool {
    match format {
        Format::Gzip => next.len() >= 2 && next[..2] == GZIP_MAGIC,
        Format::Zstd | Format::Lz4Frame => {
            let magic = if format == Format::Zstd { ZSTD_MAGIC } else { LZ4_MAGIC };
            next.len() >= 4 && (next[..4] == magic || (next[0] & 0xF0 == 0x50 && next[1..4] == SKIPPABLE_MAGIC_HIGH))
        }
        Format::Deflate | Format::Zlib | Format::Lz4Block => false,
    }
}
