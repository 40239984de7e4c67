//! What COMPRESS and DECOMPRESS share: decoding their parameters, resolving both sides, running
//! the codec over them, and turning how it stopped into a completion. Failures of the WQE
//! itself (format, level, flags, keys, bounds, lists) stop the QP as any bad WQE does; what
//! the data decides (output too small, corrupt or truncated input, the ratio limit) completes
//! with its own status and leaves the QP running.

mod checksum;
mod pump;
mod scratch;

use accelverbs_uapi::compress::{flags, result, CompressParams, Format};
use accelverbs_uapi::cqe::{self, CqeStatus, VendorError};
use accelverbs_uapi::wqe::{Sge, Wqe};

use super::codec::{self, lz4_block_compress, lz4_block_decompress, BlockError, Direction, Feed};
use super::ops::{Done, ExecContext, Failure};
use super::sgl::SgList;
use crate::hw::mr_table::Use;
use checksum::ChecksumTracker;
use pump::{pump, Pumped, Sides, Stop};

const MAX_CHUNKS: usize = accelverbs_uapi::compress::MAX_LIST_ENTRIES as usize;

/// A request's parameters, checked.
#[derive(Debug, Clone, Copy)]
struct Request {
    format: Format,
    level: i8,
    flags: u16,
}

fn decode(wqe: &Wqe, direction: Direction) -> Result<Request, Failure> {
    let params: CompressParams = zerocopy::transmute!(wqe.params);
    let format = Format::try_from(params.format).map_err(|_| Failure::malformed(VendorError::BadFormat))?;
    if params.flags & !flags::KNOWN != 0 || params.reserved.iter().any(|&b| b != 0) || wqe.aux != [Sge::default(); 2] {
        return Err(Failure::malformed(VendorError::ReservedNonzero));
    }
    if params.stream != 0 {
        return Err(Failure::protection(VendorError::StreamUnknown));
    }
    // A one-shot request always finishes its stream: the stream flags belong to contexts.
    if params.flags & (flags::FLUSH | flags::FINISH) != 0 {
        return Err(Failure::malformed(VendorError::ReservedNonzero));
    }
    let level_ok = match direction {
        Direction::Compress => format.levels().contains(&params.level),
        Direction::Decompress => params.level == 0,
    };
    if !level_ok {
        return Err(Failure::malformed(VendorError::BadLevel));
    }
    Ok(Request { format, level: params.level, flags: params.flags })
}

/// Runs a COMPRESS (`direction` = compress) or DECOMPRESS WQE.
pub fn run(direction: Direction, wqe: &Wqe, ctx: &ExecContext<'_>) -> Result<Done, Failure> {
    let request = decode(wqe, direction)?;
    let src = SgList::resolve(&wqe.src, request.flags & flags::SRC_LIST != 0, ctx, Use::Read)?;
    let dst = SgList::resolve(&wqe.dst, request.flags & flags::DST_LIST != 0, ctx, Use::Write)?;
    if dst.overlaps_itself() {
        return Err(Failure::malformed(VendorError::BadList));
    }
    let output_cap = match direction {
        Direction::Decompress if ctx.max_ratio != 0 => dst.total().min(src.total() * u64::from(ctx.max_ratio)),
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
                &inputs[..src.ranges().count()]
            }
        };
        let mut outputs: [&mut [u8]; MAX_CHUNKS] = Default::default();
        for (slot, (ptr, len)) in outputs.iter_mut().zip(dst.ranges()) {
            // SAFETY: as for the inputs, for an MR with local write access; the output ranges
            // share no byte with each other (checked above) or with the inputs, so each is
            // reachable through this one reference only.
            *slot = unsafe { std::slice::from_raw_parts_mut(ptr, len) };
        }
        let outputs = &mut outputs[..dst.ranges().count()];
        let done = match request.format {
            Format::Lz4Block => lz4_block(direction, request.level, inputs, outputs, output_cap),
            format => {
                let mut tracker = ChecksumTracker::new(format);
                let pumped = codec::with_cached(format, direction, request.level, |codec| {
                    let sides = Sides { input: inputs, output: outputs, output_cap, probe_when_full: true };
                    pump(codec, direction, format, &mut tracker, sides, Feed::Finish)
                });
                // Only LZ4 blocks lack a codec, and they took the branch above.
                let pumped = pumped.ok_or(Failure::malformed(VendorError::BadFormat))?;
                one_shot_completion(direction, &pumped, &tracker, output_cap < dst.total())
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

/// One LZ4 block: liblz4 takes whole buffers, so scattered sides go through scratch memory.
fn lz4_block(direction: Direction, level: i8, inputs: &[&[u8]], outputs: &mut [&mut [u8]], output_cap: u64) -> Done {
    let input_len: usize = inputs.iter().map(|c| c.len()).sum();
    let room = output_cap as usize;
    let outcome = scratch::with_contiguous(inputs, |input| {
        scratch::with_output(outputs, room, |output| match direction {
            Direction::Compress => lz4_block_compress(input, output, level),
            Direction::Decompress => lz4_block_decompress(input, output),
        })
    });
    let status = match outcome {
        Ok(produced) => return Done::ok_with(produced as u32, result::pack(input_len as u32, 0), cqe::flags::END_OF_STREAM),
        Err(BlockError::TooLong) => CqeStatus::OutputTooSmall,
        Err(BlockError::NoFit) => match direction {
            Direction::Compress => CqeStatus::OutputTooSmall,
            // LZ4 cannot tell "does not fit" from "not a block": the block's real size does.
            Direction::Decompress => match scratch::with_contiguous(inputs, lz4_block_decoded_size) {
                Some(size) if size as u64 > output_cap && output_cap < outputs_total(outputs) => CqeStatus::OutputLimit,
                Some(size) if size > room => CqeStatus::OutputTooSmall,
                _ => CqeStatus::CorruptInput,
            },
        },
    };
    Done { status, byte_len: 0, result: 0, flags: 0 }
}

fn outputs_total(outputs: &[&mut [u8]]) -> u64 {
    outputs.iter().map(|c| c.len() as u64).sum()
}

/// Largest output an LZ4 block's size is looked for in: 255 bytes per input byte is the
/// format's ceiling, bounded so a failed request cannot make the device allocate without limit.
const LZ4_PROBE_MAX: usize = 64 << 20;

/// The size `input` decodes to as one LZ4 block, if it is one (within `LZ4_PROBE_MAX`).
fn lz4_block_decoded_size(input: &[u8]) -> Option<usize> {
    let mut probe = vec![0u8; input.len().saturating_mul(255).min(LZ4_PROBE_MAX)];
    lz4_block_decompress(input, &mut probe).ok()
}
