//! COMPRESS: deflate, zlib, gzip, LZ4 (frame and block) and zstd, one-shot or in a stream.

use accelverbs_uapi::wqe::{Opcode, Wqe};

use super::{Done, ExecContext, Failure, Operation};
use crate::engines::codec::Direction;
use crate::engines::compression;

#[derive(Debug)]
pub struct Compress;

impl Operation for Compress {
    fn opcode(&self) -> Opcode {
        Opcode::Compress
    }

    fn max_sge(&self) -> u32 {
        accelverbs_uapi::compress::MAX_LIST_ENTRIES
    }

    fn run(&self, wqe: &Wqe, ctx: &ExecContext<'_>) -> Result<Done, Failure> {
        compression::run(Direction::Compress, wqe, ctx)
    }
}
