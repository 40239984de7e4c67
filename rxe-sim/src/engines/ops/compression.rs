//! COMPRESS and DECOMPRESS: deflate, zlib, gzip, LZ4 (frame and block) and zstd, one-shot or in
//! a stream. The two differ only in direction; the work is in `engines::compression`.

use accelverbs_uapi::compress::MAX_LIST_ENTRIES;
use accelverbs_uapi::wqe::{Opcode, Wqe};

use super::{Done, ExecContext, Failure, Operation};
use crate::engines::codec::Direction;
use crate::engines::compression;

/// One direction of the codec operations.
#[derive(Debug)]
pub struct CodecOperation {
    opcode: Opcode,
    direction: Direction,
}

pub static COMPRESS: CodecOperation = CodecOperation { opcode: Opcode::Compress, direction: Direction::Compress };
pub static DECOMPRESS: CodecOperation = CodecOperation { opcode: Opcode::Decompress, direction: Direction::Decompress };

impl Operation for CodecOperation {
    fn opcode(&self) -> Opcode {
        self.opcode
    }

    fn max_sge(&self) -> u32 {
        MAX_LIST_ENTRIES
    }

    fn run(&self, wqe: &Wqe, ctx: &ExecContext<'_>) -> Result<Done, Failure> {
        compression::run(self.direction, wqe, ctx)
    }
}
