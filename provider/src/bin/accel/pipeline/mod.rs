//! The device pipeline that `accel gzip`, `gunzip`, `compress`, `decompress` and `demo` share:
//! one context on the soft device, one QP and CQ, and registered buffers reused from file to
//! file. Each file is one compression context (stream) on the device.
//!
//! - Compression (`encode.rs`): a ring of `DEPTH` slots, each an input region of `CHUNK`
//!   bytes and an output region big enough that a chunk's output always fits. Requests of one
//!   QP run in order and a stream's outputs come out in posting order, so chunk N+1 is posted
//!   before chunk N completes: the host reads ahead into free slots and writes completed
//!   outputs in order while the device compresses.
//! - Decompression (`decode.rs`): one request in flight, since how much of a chunk a request
//!   consumes is known only from its completion (an output that fills first leaves the rest
//!   to post again). Two input and two output regions let the host read the next chunk and
//!   write the previous output while the device works.
//! - LZ4 blocks (`block.rs`): one request for the whole input, up to `BLOCK_LIMIT`.
//! - AES-GCM (`gcm.rs`) and HMAC-SHA-256 (`digest.rs`): the device does not carry them from
//!   request to request, so one request covers the whole input, up to `ONE_REQUEST_LIMIT`.
//! - AES-XTS (`xts.rs`), CRC32C and SHA-256 (`digest.rs`): any size, in pieces of bounded size
//!   (`pieces.rs`), XTS by whole data units with the tweak counting on, CRC32C with each
//!   piece's result as the next one's seed, SHA-256 with its state carried between pieces.
//!
//! The host waits on a completion channel, not by spinning, so the engine thread keeps a core.

mod block;
mod decode;
mod digest;
mod encode;
mod gcm;
mod pieces;
mod xts;

use std::io::{self, Read};

use accelverbs::{
    devices, Access, CompletionChannel, Cq, CqeStatus, CryptoKey, Error, Format, KeyAlgorithm, MemoryRegion, Pd, PostError, Qp,
    QpInit, WorkCompletion,
};

pub use block::BLOCK_LIMIT;
pub use gcm::GcmRequest;
pub use xts::{XtsRequest, MAX_DATA_UNIT, MIN_DATA_UNIT};

/// Most bytes one request over a whole input may take (AES-GCM and HMAC-SHA-256, which the
/// device does not carry from request to request). An SGE's length is a `u32`; a GiB is well inside it, and
/// more than one should hold in memory at once (the input is registered whole, so the
/// locked-memory limit, `ulimit -l`, usually binds first).
pub const ONE_REQUEST_LIMIT: usize = 1 << 30;

/// Which way a cipher runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Encrypt,
    Decrypt,
}

/// Bytes of input per compression request.
pub const CHUNK: usize = 256 << 10;
/// Compression requests in flight at once.
pub const DEPTH: usize = 8;
/// Output room per compression request. A stream request's output is the chunk's plus what
/// the codec held back from earlier requests: under 128 KiB of input for zstd (one block),
/// 64 KiB for LZ4 frames, one 16K-symbol block for deflate; none expands incompressible data
/// by more than a few bytes per block. Half a chunk and 64 KiB more covers all with room to
/// spare, so `OutputTooSmall`, which would break the ordering of the requests behind it,
/// cannot happen (it is still checked, as an internal error).
pub const ENCODE_ROOM: usize = CHUNK + CHUNK / 2 + (64 << 10);
/// Output room per decompression request (any more is delivered by the next request).
pub const DECODE_ROOM: usize = 1 << 20;

/// Why a file could not be processed; the command that ran it names the file.
#[derive(Debug)]
pub enum Failure {
    /// Reading the input failed.
    Read(io::Error),
    /// Writing the output failed.
    Write(io::Error),
    /// The data is not what it should be.
    Data(DataError),
    /// The device or the library failed: not the data's fault.
    Device(String),
}

/// What is wrong with the data (exit status 1, the file is named in the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataError {
    /// The input ended inside a stream.
    Truncated,
    /// The input is not valid data of the format (or failed its checksum).
    Corrupt,
    /// gzip: the input does not start with a gzip member.
    NotGzip,
    /// Decompression produced more than the QP's ratio limit allows.
    OutputLimit,
    /// LZ4 block: the input is over `BLOCK_LIMIT` (or, compressed, over its bound).
    BlockTooLarge,
    /// LZ4 block: decompression needs the decompressed size.
    BlockNeedsSize,
    /// LZ4 block: `--size` is over `BLOCK_LIMIT`.
    BlockSizeTooLarge { size: u64 },
    /// LZ4 block: the block decodes to more than `--size`.
    BlockLargerThanSize { size: u64 },
    /// AES-GCM: the tag does not check (data, tag, AAD, IV or key differ from the encryption's).
    AuthenticationFailed,
    /// AES-GCM decryption: the input (`size` bytes) is shorter than the tag that ends it.
    ShorterThanTag { size: u64 },
    /// A one-request operation's input is over `ONE_REQUEST_LIMIT`.
    OverRequestLimit { operation: &'static str },
    /// AES-XTS: the input (`size` bytes) is not a whole number of data units.
    PartialDataUnit { size: u64, unit: u32 },
}

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let limit = BLOCK_LIMIT >> 20;
        match self {
            DataError::Truncated => write!(f, "unexpected end of file"),
            DataError::Corrupt => write!(f, "invalid compressed data--format violated or checksum mismatch"),
            DataError::NotGzip => write!(f, "not in gzip format"),
            DataError::OutputLimit => write!(f, "decompression stopped at the device's ratio limit (a decompression bomb?)"),
            DataError::BlockTooLarge => write!(
                f,
                "the input is over the lz4-block limit of {limit} MiB (one request holds the whole block; --format lz4 streams)"
            ),
            DataError::BlockNeedsSize => {
                write!(f, "lz4-block decompression needs --size N, the decompressed size (a raw LZ4 block does not record it)")
            }
            DataError::BlockSizeTooLarge { size } => write!(f, "--size {size} is over the lz4-block limit of {limit} MiB"),
            DataError::BlockLargerThanSize { size } => {
                write!(f, "the block decompresses to more than --size {size} bytes")
            }
            DataError::AuthenticationFailed => write!(
                f,
                "authentication failed: the ciphertext, tag, AAD, IV or key differs from the encryption's; no plaintext written"
            ),
            DataError::ShorterThanTag { size } => {
                write!(f, "the input is {size} bytes, shorter than the {}-byte AES-GCM tag that ends it", accelverbs::TAG_LEN)
            }
            DataError::OverRequestLimit { operation } => write!(
                f,
                "the input is over the {} GiB limit of {operation} (one device request takes the whole input)",
                ONE_REQUEST_LIMIT >> 30
            ),
            DataError::PartialDataUnit { size, unit } => {
                write!(f, "the input is {size} bytes, not a whole number of {unit}-byte data units (--data-unit)")
            }
        }
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Device(e.to_string())
    }
}

impl From<PostError> for Failure {
    fn from(e: PostError) -> Self {
        Failure::Device(format!("posting a work request failed: {e}"))
    }
}

/// What became of a stream's trailing bytes (gzip's rules: after the last member, zeros are
/// ignored silently, anything else with a warning).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trailing {
    #[default]
    None,
    Zeros,
    Garbage,
}

/// Byte counts of one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Totals {
    pub read: u64,
    pub written: u64,
    pub trailing: Trailing,
}

/// Progress callbacks: bytes of input processed.
pub trait Progress {
    fn advance(&self, bytes: u64);
}

impl Progress for () {
    fn advance(&self, _: u64) {}
}

/// The device, its queues and the buffers the pipeline reuses.
pub struct Pipeline {
    // Children first: fields drop in order, and each holds its parents anyway.
    encode_slots: Vec<encode::Slot>,
    decode_buffers: Option<decode::Buffers>,
    qp: Qp,
    cq: Cq,
    channel: CompletionChannel,
    pd: Pd,
    device_name: String,
    /// Requests posted and not yet completed.
    outstanding: u32,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline").field("device", &self.device_name).finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Opens the first device (`accelsim0`, configured from `ACCELSIM_ENGINES`) with the
    /// default context options (engine threads).
    pub fn open() -> Result<Self, Failure> {
        let device = devices().into_iter().next().ok_or_else(|| Failure::Device("no accelverbs device".to_owned()))?;
        let ctx = device.open()?;
        let pd = ctx.alloc_pd()?;
        let channel = ctx.create_comp_channel()?;
        let cq = ctx.create_cq(2 * DEPTH as u32, Some(&channel))?;
        let qp = pd.create_qp(&cq, QpInit::new(DEPTH as u32))?;
        Ok(Self {
            encode_slots: Vec::new(),
            decode_buffers: None,
            qp,
            cq,
            channel,
            pd,
            device_name: device.name().to_owned(),
            outstanding: 0,
        })
    }

    pub fn device_name(&self) -> &str {
        &self.device_name
    }

    /// Compresses all of `input` into one stream of `format` at `level` (checked by the caller
    /// against `format.levels()`).
    pub fn compress(
        &mut self,
        format: Format,
        level: i8,
        input: &mut dyn Read,
        output: &mut dyn io::Write,
        progress: &dyn Progress,
    ) -> Result<Totals, Failure> {
        let result = if format == Format::Lz4Block {
            self.block_compress(level, input, output, progress)
        } else {
            self.encode(format, level, input, output, progress)
        };
        self.settle(result)
    }

    /// Decompresses all of `input`: every member or frame, as the stock tools do. `size`: the
    /// decompressed size, which only LZ4 blocks need.
    pub fn decompress(
        &mut self,
        format: Format,
        size: Option<u64>,
        input: &mut dyn Read,
        output: &mut dyn io::Write,
        progress: &dyn Progress,
    ) -> Result<Totals, Failure> {
        let result = if format == Format::Lz4Block {
            self.block_decompress(size, input, output, progress)
        } else {
            self.decode(format, input, output, progress)
        };
        self.settle(result)
    }

    /// After a failure, waits for the requests still in flight, so the buffers can be used
    /// for the next file.
    fn settle<T>(&mut self, result: Result<T, Failure>) -> Result<T, Failure> {
        if result.is_err() {
            let mut wc = [WorkCompletion::default(); DEPTH];
            while self.outstanding > 0 {
                if self.wait(&mut wc).is_err() {
                    break;
                }
            }
        }
        result
    }

    fn post(&mut self, wr: impl accelverbs::WorkRequest) -> Result<(), Failure> {
        self.qp.post(wr)?;
        self.outstanding += 1;
        Ok(())
    }

    /// Waits for at least one completion: polls, arms the CQ, polls again (a completion that
    /// landed before the arm), then sleeps on the channel.
    fn wait(&mut self, wc: &mut [WorkCompletion]) -> Result<usize, Failure> {
        loop {
            let n = self.cq.poll(wc);
            if n == 0 {
                self.cq.req_notify(false)?;
                let n = self.cq.poll(wc);
                if n == 0 {
                    self.channel.get_event(None)?;
                    continue;
                }
                return Ok(self.retire(n));
            }
            return Ok(self.retire(n));
        }
    }

    fn retire(&mut self, n: usize) -> usize {
        self.outstanding = self.outstanding.saturating_sub(n as u32);
        n
    }

    fn alloc(&self, len: usize, access: accelverbs::Access) -> Result<MemoryRegion, Failure> {
        self.pd.alloc_mr(len, access).map_err(|e| registration_failure(len, e))
    }

    /// Registers `data` (an empty one as one byte: a region has at least one; requests name
    /// only the bytes they use).
    fn register(&self, data: Vec<u8>, access: Access) -> Result<MemoryRegion, Failure> {
        let len = data.len();
        self.pd.reg_mr(if data.is_empty() { vec![0] } else { data }, access).map_err(|e| registration_failure(len, e))
    }

    /// Installs `material` (checked by the caller against `algorithm`) as a key on this
    /// pipeline's PD.
    pub fn crypto_key(&self, algorithm: KeyAlgorithm, material: &[u8]) -> Result<CryptoKey, Failure> {
        self.pd.create_crypto_key(algorithm, material).map_err(|e| Failure::Device(format!("installing the key failed: {e}")))
    }

    /// Posts `wr` and waits for its completion: the crypto requests that go one at a time.
    fn post_and_wait(&mut self, wr: impl accelverbs::WorkRequest) -> Result<WorkCompletion, Failure> {
        self.post(wr)?;
        let mut wc = [WorkCompletion::default(); 1];
        self.wait(&mut wc)?;
        Ok(wc[0])
    }
}

/// A region the device refused: past the locked-memory limit, say so.
fn registration_failure(len: usize, e: Error) -> Failure {
    match e.errno() {
        Some(libc::ENOMEM) => Failure::Device(format!(
            "cannot register {} KiB of buffers with the device: {e} (is the locked-memory limit, `ulimit -l`, too low?)",
            len.div_ceil(1024)
        )),
        _ => e.into(),
    }
}

/// A completion's status as the pipeline sees it: data errors are the file's fault, anything
/// else the device's.
fn check(wc: &WorkCompletion) -> Result<(), Failure> {
    match wc.status {
        CqeStatus::Success | CqeStatus::OutputTooSmall => Ok(()),
        CqeStatus::CorruptInput => Err(Failure::Data(DataError::Corrupt)),
        CqeStatus::TruncatedInput => Err(Failure::Data(DataError::Truncated)),
        CqeStatus::OutputLimit => Err(Failure::Data(DataError::OutputLimit)),
        status => Err(Failure::Device(format!("a work request completed with {status:?} ({:?})", wc.vendor_err))),
    }
}

/// Anything but success, as a failure of the device: what the crypto requests allow.
fn expect_success(wc: &WorkCompletion) -> Result<(), Failure> {
    match wc.status {
        CqeStatus::Success => Ok(()),
        status => Err(Failure::Device(format!("a work request completed with {status:?} ({:?})", wc.vendor_err))),
    }
}

/// All of `input`, or `too_large` past `limit` bytes (reading at most one byte more).
fn read_limited(input: &mut dyn Read, limit: usize, too_large: DataError) -> Result<Vec<u8>, Failure> {
    let mut data = Vec::new();
    input.take(limit as u64 + 1).read_to_end(&mut data).map_err(Failure::Read)?;
    if data.len() > limit {
        return Err(Failure::Data(too_large));
    }
    Ok(data)
}

/// Reads until `buf` is full or the input ends; the count read.
fn read_full(input: &mut dyn Read, buf: &mut [u8]) -> Result<usize, Failure> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Failure::Read(e)),
        }
    }
    Ok(n)
}
