//! DECOMPRESS: any stream of the formats COMPRESS writes, as stock tools write them too.

use accelverbs_uapi::wqe::{Opcode, Wqe};

use super::{Done, ExecContext, Failure, Operation};
use crate::engines::codec::Direction;
use crate::engines::compression;

#[derive(Debug)]
pub struct Decompress;

impl Operation for Decompress {
    fn opcode(&self) -> Opcode {
        Opcode::Decompress
    }

    fn max_sge(&self) -> u32 {
        accelverbs_uapi::compress::MAX_LIST_ENTRIES
    }

    fn run(&self, wqe: &Wqe, ctx: &ExecContext<'_>) -> Result<Done, Failure> {
        compression::run(Direction::Decompress, wqe, ctx)
    }
}
