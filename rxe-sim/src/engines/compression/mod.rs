//! What COMPRESS and DECOMPRESS share: decoding their parameters, resolving both sides, running
//! the codec over them, and turning how it stopped into a completion. Failures of the WQE
//! itself (format, level, flags, keys, bounds, lists) stop the QP as any bad WQE does; what
//! the data decides (output too small, corrupt or truncated input, the ratio limit) completes
//! with its own status and leaves the QP running.

mod checksum;
mod pump;
mod scratch;

use std::sync::Arc;

use accelverbs_uapi::compress::{flags, result, CompressParams, Format, StreamDirection};
use accelverbs_uapi::cqe::{self, CqeStatus, VendorError};
use accelverbs_uapi::wqe::{Opcode, Sge, Wqe};

use super::codec::{
    self, lz4_block_compress, lz4_block_decompress, lz4_block_decompress_partial, BlockError, Codec, Direction, Feed,
};
use super::ops::{Done, ExecContext, Failure};
use super::sgl::SgList;
use crate::hw::mr_table::Use;
use crate::hw::stream_table::SoftStream;
use checksum::ChecksumTracker;
use pump::{pump, Pumped, Sides, Stop};

const MAX_CHUNKS: usize = accelverbs_uapi::compress::MAX_LIST_ENTRIES as usize;

/// A request's parameters, checked.
#[derive(Debug)]
struct Request {
    format: Format,
    level: i8,
    flags: u16,
    /// The compression context it continues (`None`: one-shot).
    stream: Option<Arc<SoftStream>>,
}

fn decode(wqe: &Wqe, direction: Direction, ctx: &ExecContext<'_>) -> Result<Request, Failure> {
    let params: CompressParams = zerocopy::transmute!(wqe.params);
    let format = Format::try_from(params.format).map_err(|_| Failure::malformed(VendorError::BadFormat))?;
    if params.flags & !flags::KNOWN != 0 || params.reserved.iter().any(|&b| b != 0) || wqe.aux != [Sge::default(); 2] {
        return Err(Failure::malformed(VendorError::ReservedNonzero));
    }
    let stream_flags = params.flags & (flags::FLUSH | flags::FINISH);
    if params.stream != 0 {
        let stream = ctx.streams.resolve(params.stream, ctx.pdn).map_err(Failure::protection)?;
        if stream.format != format {
            return Err(Failure::malformed(VendorError::BadFormat));
        }
        let same_way = matches!(
            (stream.direction, direction),
            (StreamDirection::Compress, Direction::Compress) | (StreamDirection::Decompress, Direction::Decompress)
        );
        if !same_way {
            return Err(Failure::malformed(VendorError::StreamDirection));
        }
        // The context's level applies; flush and finish say where compression's input ends.
        if params.level != 0 {
            return Err(Failure::malformed(VendorError::BadLevel));
        }
        if direction == Direction::Decompress && stream_flags != 0 {
            return Err(Failure::malformed(VendorError::ReservedNonzero));
        }
        return Ok(Request { format, level: 0, flags: params.flags, stream: Some(stream) });
    }
    // A one-shot request always finishes its stream: the stream flags belong to contexts.
    if stream_flags != 0 {
        return Err(Failure::malformed(VendorError::ReservedNonzero));
    }
    let level_ok = match direction {
        Direction::Compress => format.levels().contains(&params.level),
        Direction::Decompress => params.level == 0,
    };
    if !level_ok {
        return Err(Failure::malformed(VendorError::BadLevel));
    }
    Ok(Request { format, level: params.level, flags: params.flags, stream: None })
}

/// Whether `wqe` is a compression request in stream `number`.
pub fn names_stream(wqe: &Wqe, number: u32) -> bool {
    let params: CompressParams = zerocopy::transmute!(wqe.params);
    let compression = [Opcode::Compress as u8, Opcode::Decompress as u8].contains(&wqe.ctrl.opcode);
    compression && params.stream == number
}

/// A compression context's state: its codec mid-stream, what the checksum has seen, and the
/// stream's totals (for the ratio limit, which holds over the whole stream).
pub struct StreamState {
    codec: Box<dyn Codec>,
    tracker: ChecksumTracker,
    format: Format,
    direction: Direction,
    consumed: u64,
    produced: u64,
}

impl std::fmt::Debug for StreamState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamState")
            .field("format", &self.format)
            .field("direction", &self.direction)
            .field("consumed", &self.consumed)
            .field("produced", &self.produced)
            .finish_non_exhaustive()
    }
}

impl StreamState {
    /// `None` for a format without streams (LZ4 blocks).
    pub fn new(format: Format, direction: StreamDirection, level: i8) -> Option<Self> {
        let direction = match direction {
            StreamDirection::Compress => Direction::Compress,
            StreamDirection::Decompress => Direction::Decompress,
        };
        let codec = codec::new_codec(format, direction, level)?;
        Some(Self { codec, tracker: ChecksumTracker::new(format), format, direction, consumed: 0, produced: 0 })
    }

    /// After an end or an error: the next request starts a new stream.
    fn restart(&mut self) {
        self.codec.reset();
        self.tracker = ChecksumTracker::new(self.format);
        self.consumed = 0;
        self.produced = 0;
    }
}

/// Runs a COMPRESS (`direction` = compress) or DECOMPRESS WQE.
pub fn run(direction: Direction, wqe: &Wqe, ctx: &ExecContext<'_>) -> Result<Done, Failure> {
    let request = decode(wqe, direction, ctx)?;
    let src = SgList::resolve(&wqe.src, request.flags & flags::SRC_LIST != 0, ctx, Use::Read)?;
    let dst = SgList::resolve(&wqe.dst, request.flags & flags::DST_LIST != 0, ctx, Use::Write)?;
    if dst.overlaps_itself() {
        return Err(Failure::malformed(VendorError::BadList));
    }
    let mut stream = request.stream.as_ref().map(|s| s.state.lock().unwrap_or_else(|e| e.into_inner()));
    let output_cap = match direction {
        Direction::Decompress if ctx.max_ratio != 0 => {
            // Over the whole stream: what its input so far allows, less what it produced.
            let (before_in, before_out) = stream.as_ref().map_or((0, 0), |s| (s.consumed, s.produced));
            let allowed = (before_in + src.total()).saturating_mul(u64::from(ctx.max_ratio));
            dst.total().min(allowed.saturating_sub(before_out))
        }
        _ => dst.total(),
    };
    // In place (the input shares bytes with the output): the input is staged first, since
    // the codec writes ahead of where it reads.
    let staged = src.overlaps(&dst);
    scratch::with_staging(staged.then_some(&src), |staged_input| {
        let mut inputs: [&[u8]; MAX_CHUNKS] = [&[]; MAX_CHUNKS];
        let inputs: &[&[u8]] = match staged_input {
            Some(bytes) => {
                inputs[0] = bytes;
                &inputs[..1]
            }
            None => {
                for (slot, (ptr, len)) in inputs.iter_mut().zip(src.ranges()) {
                    // SAFETY: the range was resolved inside a pinned MR of this QP's PD, held
                    // by `src` for the whole request; no output range overlaps it (else it was
                    // staged), so nothing the device writes aliases it. The application's side
                    // of the contract (no access while the request is in flight) makes it ours.
                    *slot = unsafe { std::slice::from_raw_parts(ptr, len) };
                }
                &inputs[..src.count()]
            }
        };
        let mut outputs: [&mut [u8]; MAX_CHUNKS] = Default::default();
        for (slot, (ptr, len)) in outputs.iter_mut().zip(dst.ranges()) {
            // SAFETY: as for the inputs, for an MR with local write access; the output ranges
            // share no byte with each other (checked above) or with the inputs, so each is
            // reachable through this one reference only.
            *slot = unsafe { std::slice::from_raw_parts_mut(ptr, len) };
        }
        let outputs = &mut outputs[..dst.count()];
        let capped = output_cap < dst.total();
        let done = match (request.format, stream.as_deref_mut()) {
            (_, Some(state)) => {
                let feed = match request.flags & (flags::FLUSH | flags::FINISH) {
                    0 => Feed::More,
                    f if f & flags::FINISH != 0 => Feed::Finish,
                    _ => Feed::Flush,
                };
                let sides = Sides { input: inputs, output: outputs, output_cap, probe_when_full: false };
                let pumped = pump(state.codec.as_mut(), direction, state.format, &mut state.tracker, sides, feed);
                stream_completion(state, &pumped, src.total(), capped)
            }
            (Format::Lz4Block, None) => lz4_block(direction, request.level, inputs, outputs, output_cap),
            (format, None) => {
                let mut tracker = ChecksumTracker::new(format);
                let pumped = codec::with_cached(format, direction, request.level, |codec| {
                    if direction == Direction::Compress {
                        codec.expect_total(src.total());
                    }
                    let sides = Sides { input: inputs, output: outputs, output_cap, probe_when_full: true };
                    pump(codec, direction, format, &mut tracker, sides, Feed::Finish)
                });
                // Only LZ4 blocks lack a codec, and they took the branch above.
                let pumped = pumped.ok_or(Failure::malformed(VendorError::BadFormat))?;
                one_shot_completion(direction, &pumped, &tracker, capped)
            }
        };
        Ok(done)
    })
}

/// The completion of a one-shot request that the codec ran to `pumped`.
fn one_shot_completion(direction: Direction, pumped: &Pumped, tracker: &ChecksumTracker, capped: bool) -> Done {
    let ended = pumped.stop == Stop::Ended;
    let status = match pumped.stop {
        Stop::Ended => CqeStatus::Success,
        Stop::OutputFull if capped => CqeStatus::OutputLimit,
        Stop::OutputFull => CqeStatus::OutputTooSmall,
        Stop::InputUsed if direction == Direction::Decompress => CqeStatus::TruncatedInput,
        // Compression given FINISH always ends once its output has room.
        Stop::InputUsed => CqeStatus::GeneralError,
        // Compression fails only inside the library (out of memory): not the data's fault.
        Stop::Corrupt if direction == Direction::Compress => CqeStatus::GeneralError,
        Stop::Corrupt => CqeStatus::CorruptInput,
    };
    let checksum = if ended { tracker.at_end() } else { tracker.so_far() };
    Done {
        status,
        byte_len: pumped.produced as u32,
        result: result::pack(pumped.consumed as u32, checksum),
        flags: if ended { cqe::flags::END_OF_STREAM } else { 0 },
    }
}

/// The completion of a request in a stream. The stream goes on after anything but an end or
/// corrupt input: input used up waits for more; output full with all input taken has more to
/// give on the next request; output full before the input was taken says so, with what was
/// consumed, and the caller posts the rest again.
fn stream_completion(state: &mut StreamState, pumped: &Pumped, input_total: u64, capped: bool) -> Done {
    state.consumed += pumped.consumed;
    state.produced += pumped.produced;
    let (status, ended) = match pumped.stop {
        Stop::Ended => (CqeStatus::Success, true),
        Stop::InputUsed => (CqeStatus::Success, false),
        Stop::OutputFull if capped => (CqeStatus::OutputLimit, false),
        Stop::OutputFull if pumped.consumed < input_total => (CqeStatus::OutputTooSmall, false),
        Stop::OutputFull => (CqeStatus::Success, false),
        Stop::Corrupt if state.direction == Direction::Compress => (CqeStatus::GeneralError, false),
        Stop::Corrupt => (CqeStatus::CorruptInput, false),
    };
    let checksum = if ended { state.tracker.at_end() } else { state.tracker.so_far() };
    if ended || pumped.stop == Stop::Corrupt {
        state.restart();
    }
    Done {
        status,
        byte_len: pumped.produced as u32,
        result: result::pack(pumped.consumed as u32, checksum),
        flags: if ended { cqe::flags::END_OF_STREAM } else { 0 },
    }
}

/// One LZ4 block: liblz4 takes whole buffers, so scattered sides go through scratch memory.
fn lz4_block(direction: Direction, level: i8, inputs: &[&[u8]], outputs: &mut [&mut [u8]], output_cap: u64) -> Done {
    let input_len: usize = inputs.iter().map(|c| c.len()).sum();
    // liblz4 counts in `int`s; more room than that is as good as `int::MAX` (an LZ4 block
    // never decodes to more than 255 bytes per input byte anyway).
    let room = output_cap.min(lz4_block_room(direction, input_len)) as usize;
    let outcome = scratch::with_contiguous(inputs, |input| {
        scratch::with_output(outputs, room, |output| match direction {
            Direction::Compress => lz4_block_compress(input, output, level),
            Direction::Decompress => match lz4_block_decompress(input, output) {
                // LZ4 cannot tell "does not fit" from "not a block": decoding as much as fits
                // can. A block that fills the room has more to give; one that fails first is bad.
                Err(BlockError::NoFit) => match lz4_block_decompress_partial(input, output) {
                    Ok(n) if n == output.len() => Err(BlockError::NoFit),
                    _ => Err(BlockError::Corrupt),
                },
                other => other,
            },
        })
    });
    let capped = output_cap < outputs_total(outputs);
    let status = match outcome {
        Ok(produced) => return Done::ok_with(produced as u32, result::pack(input_len as u32, 0), cqe::flags::END_OF_STREAM),
        Err(BlockError::NoFit) if capped && direction == Direction::Decompress => CqeStatus::OutputLimit,
        Err(BlockError::NoFit) => CqeStatus::OutputTooSmall,
        Err(BlockError::Corrupt) => CqeStatus::CorruptInput,
        Err(BlockError::TooLong) => CqeStatus::GeneralError,
    };
    Done { status, byte_len: 0, result: 0, flags: 0 }
}

/// The most output an LZ4 block request can use: liblz4's `int` limit, and for decompression
/// the format's own ceiling of 255 bytes per input byte.
fn lz4_block_room(direction: Direction, input_len: usize) -> u64 {
    let ceiling = match direction {
        Direction::Compress => input_len as u64 + input_len as u64 / 255 + 16,
        Direction::Decompress => (input_len as u64).saturating_mul(255) + 16,
    };
    ceiling.min(i32::MAX as u64)
}

fn outputs_total(outputs: &[&mut [u8]]) -> u64 {
    outputs.iter().map(|c| c.len() as u64).sum()
}
