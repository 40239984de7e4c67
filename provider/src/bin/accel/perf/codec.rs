//! The compression workload of `accel perf`: the demo's generated log text at the requested
//! size, and the same library the device runs (zlib-rs, libzstd, liblz4, through the engines'
//! own thin adapter) called directly on the same registered buffers, reusing its state between
//! calls as a careful application would. That direct call is the baseline the device is measured
//! against. For raw deflate the device also reports the CRC-32 of the plain bytes (the format
//! has no trailer to take it from), so the direct call computes it too (crc32fast): the same
//! result by the means a user would use.

use accelverbs::Format;
use accelverbs_rxe_sim::codec::{lz4_block_compress, lz4_block_decompress, new_codec, Codec, Direction, Feed};

/// Room any format needs for `n` input bytes.
pub fn bound(n: usize) -> usize {
    n + n / 8 + 1024
}

/// One format, level and direction, with the library ready to be called directly.
pub struct Workload {
    pub format: Format,
    pub level: i8,
    pub direction: Direction,
    /// What the device reads: plain text to compress, or its compressed form to decompress.
    pub input: Vec<u8>,
    /// Bytes the output needs.
    pub output_room: usize,
    /// What the last direct call wrote.
    pub last_output: usize,
    codec: Option<Box<dyn Codec>>,
    /// The data before compression, and its compressed form (for `--verify` and the header).
    plain: Vec<u8>,
    packed_len: usize,
}

impl Workload {
    pub fn new(format: Format, level: i8, direction: Direction, size: usize) -> Result<Self, String> {
        let plain = crate::sample::log_text(size);
        let codec = new_codec(format, direction, level);
        let mut compressor = Workload {
            format,
            level,
            direction: Direction::Compress,
            input: plain.clone(),
            output_room: bound(size),
            last_output: 0,
            codec: new_codec(format, Direction::Compress, level),
            plain: Vec::new(),
            packed_len: 0,
        };
        let mut packed = vec![0u8; bound(size)];
        let packed_len = compressor.run_direct(&plain, &mut packed)?;
        packed.truncate(packed_len);
        let (input, output_room) = match direction {
            Direction::Compress => (plain.clone(), bound(size)),
            Direction::Decompress => (packed, size),
        };
        Ok(Self { format, level, direction, input, output_room, last_output: 0, codec, plain, packed_len })
    }

    /// The library alone, for `direction`, to be called with [`Workload::run_direct`] on
    /// buffers of the caller's.
    pub fn library(format: Format, level: i8, direction: Direction) -> Self {
        Workload {
            format,
            level,
            direction,
            input: Vec::new(),
            output_room: 0,
            last_output: 0,
            codec: new_codec(format, direction, level),
            plain: Vec::new(),
            packed_len: 0,
        }
    }

    /// The data before compression.
    pub fn plain(&self) -> &[u8] {
        &self.plain
    }

    /// Its size compressed by the library at the workload's level.
    pub fn packed_len(&self) -> usize {
        self.packed_len
    }

    /// Decompresses `packed` with the library into `out` (for `--verify` of compression).
    pub fn decode(&self, packed: &[u8], out: &mut [u8]) -> Result<usize, String> {
        let mut decoder = Workload {
            direction: Direction::Decompress,
            codec: new_codec(self.format, Direction::Decompress, 0),
            ..self.shell()
        };
        decoder.run_direct(packed, out)
    }

    fn shell(&self) -> Workload {
        Workload {
            format: self.format,
            level: self.level,
            direction: self.direction,
            input: Vec::new(),
            output_room: 0,
            last_output: 0,
            codec: None,
            plain: Vec::new(),
            packed_len: 0,
        }
    }

    /// The library called directly: one whole request's worth, `src` into `dst`; bytes written.
    pub fn run_direct(&mut self, src: &[u8], dst: &mut [u8]) -> Result<usize, String> {
        let failed = |what: &str| format!("{:?} {:?} called directly: {what}", self.format, self.direction);
        let Some(codec) = self.codec.as_mut() else {
            let n = match self.direction {
                Direction::Compress => lz4_block_compress(src, dst, self.level),
                Direction::Decompress => lz4_block_decompress(src, dst),
            };
            let n = n.map_err(|e| failed(&format!("{e:?}")))?;
            self.last_output = n;
            return Ok(n);
        };
        let (mut consumed, mut produced) = (0, 0);
        let result = loop {
            let step = match codec.step(&src[consumed..], &mut dst[produced..], Feed::Finish) {
                Ok(step) => step,
                Err(_) => break Err(failed("corrupt")),
            };
            consumed += step.consumed;
            produced += step.produced;
            if step.ended {
                if self.format == Format::Deflate {
                    let plain = if self.direction == Direction::Compress { src } else { &dst[..produced] };
                    std::hint::black_box(crc32fast::hash(plain));
                }
                self.last_output = produced;
                break Ok(produced);
            }
            if step.consumed == 0 && step.produced == 0 {
                break Err(failed("no progress"));
            }
        };
        codec.reset();
        result
    }
}
