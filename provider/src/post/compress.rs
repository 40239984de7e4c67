//! COMPRESS and DECOMPRESS: one-shot requests in any of the device's formats, over one buffer
//! per side or gathered from up to `MAX_LIST_ENTRIES` slices per side.

use std::sync::Arc;

use accelverbs_uapi::compress::{flags as cflags, CompressParams, Format};
use accelverbs_uapi::wqe::{flags, Opcode, Wqe};
use zerocopy::IntoBytes;

use super::lists::ListSide;
use super::side::{lend, Side};
use super::{completion_options, sealed, ListWriter};
use crate::comp_stream::StreamInner;
use crate::in_flight::{Borrower, DeviceAccess, Regions};
use crate::{CompressionStream, MemoryRegion, MrSlice, MrSliceMut, PostError};

/// What COMPRESS and DECOMPRESS share.
#[derive(Debug)]
struct Request<'a> {
    opcode: Opcode,
    wr_id: u64,
    format: Format,
    level: i8,
    input: Side<'a>,
    output: Side<'a>,
    stream: Option<&'a Arc<StreamInner>>,
    /// `compress::flags::FLUSH` / `FINISH`, for requests in a stream.
    stream_flags: u16,
}

impl<'a> Request<'a> {
    fn new(opcode: Opcode, wr_id: u64, format: Format, input: Side<'a>, output: Side<'a>) -> Self {
        let level = if opcode == Opcode::Compress { format.default_level() } else { 0 };
        Self { opcode, wr_id, format, level, input, output, stream: None, stream_flags: 0 }
    }

    fn gathered(opcode: Opcode, wr_id: u64, format: Format, src: &[MrSlice<'a>], dst: Vec<MrSliceMut<'a>>) -> Self {
        Self::new(opcode, wr_id, format, Side::gather(src), Side::scatter(dst))
    }

    fn encode(&self, wqe: &mut Wqe, lists: &mut ListWriter<'_>) {
        wqe.ctrl.wr_id = self.wr_id;
        wqe.ctrl.opcode = self.opcode as u8;
        let mut params = CompressParams { format: self.format as u8, level: self.level, ..CompressParams::default() };
        if let Some(stream) = self.stream {
            params.stream = stream.number;
            params.level = 0;
            params.flags = self.stream_flags;
        }
        if self.input.is_list() {
            params.flags |= cflags::SRC_LIST;
        }
        if self.output.is_list() {
            params.flags |= cflags::DST_LIST;
        }
        wqe.src = self.input.encode(ListSide::Input, lists);
        wqe.dst = self.output.encode(ListSide::Output, lists);
        wqe.params.copy_from_slice(params.as_bytes());
    }

    fn gathers(&self) -> bool {
        self.input.is_list() || self.output.is_list()
    }

    fn regions(&self, qp: Borrower<'_>, held: &mut Regions) -> Result<(), PostError> {
        self.input.check_count()?;
        self.output.check_count()?;
        if self.stream.is_some_and(|s| !s.belongs_to(qp.ctx)) {
            return Err(PostError::WrongContext);
        }
        let stream = self.stream.cloned();
        if let (Side::One(_, src), Side::One(_, dst)) = (&self.input, &self.output) {
            // The common case, with nothing to allocate.
            lend(&[(src, DeviceAccess::Read), (dst, DeviceAccess::Write)], None, qp, held)?;
            held.hold_stream(stream);
            return Ok(());
        }
        let inputs = self.input.regions().iter().map(|&mr| (mr, DeviceAccess::Read));
        let outputs = self.output.regions().iter().map(|&mr| (mr, DeviceAccess::Write));
        let named: Vec<_> = inputs.chain(outputs).collect();
        lend(&named, None, qp, held)?;
        held.hold_stream(stream);
        Ok(())
    }
}

macro_rules! codec_request {
    ($(#[$doc:meta])* $name:ident, $opcode:expr) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name<'a> {
            request: Request<'a>,
            flags: u8,
        }

        impl<'a> $name<'a> {
            /// One buffer per side. Signaled by default.
            pub fn new(wr_id: u64, format: Format, src: MrSlice<'a>, dst: MrSliceMut<'a>) -> Self {
                let request = Request::new($opcode, wr_id, format, Side::one(src.sge, src.mr), Side::one(dst.sge, dst.mr));
                Self { request, flags: flags::SIGNALED }
            }

            /// Gathered from `src` and scattered into `dst`, in order (1 to `MAX_LIST_ENTRIES`
            /// slices per side, else `PostError::SgeCount`). The
            /// device reads the lists from memory the QP registers on first use.
            pub fn gather(wr_id: u64, format: Format, src: &[MrSlice<'a>], dst: Vec<MrSliceMut<'a>>) -> Self {
                Self { request: Request::gathered($opcode, wr_id, format, src, dst), flags: flags::SIGNALED }
            }

            /// In place: `input` and `output` (offset, length) in one region; they may overlap
            /// (the device stages the input first).
            pub fn within(
                wr_id: u64,
                format: Format,
                region: &'a mut MemoryRegion,
                input: (usize, u32),
                output: (usize, u32),
            ) -> Self {
                let out = region.slice_mut(output.0, output.1);
                let src = Side::one(out.mr.sge(input.0, input.1), out.mr);
                let request = Request::new($opcode, wr_id, format, src, Side::one(out.sge, out.mr));
                Self { request, flags: flags::SIGNALED }
            }

            /// Continues `stream` (its format; its level, for compression): input and output
            /// may be cut anywhere. The completion reports what was consumed; post the rest
            /// again when it is short of the input (`CqeStatus::OutputTooSmall`), and keep
            /// posting (with empty input, if need be) until one reports `end_of_stream()`.
            pub fn in_stream(mut self, stream: &'a CompressionStream) -> Self {
                self.request.stream = Some(&stream.inner);
                self.request.format = stream.inner.format;
                self
            }

            /// Bytes of input.
            pub fn input_len(&self) -> u64 {
                self.request.input.total()
            }
        }

        completion_options!($name<'a>);

        impl sealed::Encode for $name<'_> {
            fn encode(&self, wqe: &mut Wqe, lists: &mut ListWriter<'_>) {
                self.request.encode(wqe, lists);
                wqe.ctrl.flags = self.flags;
            }

            fn payload_bytes(&self) -> u64 {
                self.request.input.total()
            }

            fn gathers(&self) -> bool {
                self.request.gathers()
            }

            fn regions(&self, qp: Borrower<'_>, held: &mut Regions) -> Result<(), PostError> {
                self.request.regions(qp, held)
            }
        }
    };
}

codec_request!(
    /// Compresses the input into one whole stream of `format` (a gzip member, a zstd frame…).
    /// The completion's `byte_len` is the compressed size; see `WorkCompletion::consumed` and
    /// `checksum`. Too small an output completes with `CqeStatus::OutputTooSmall`.
    Compress,
    Opcode::Compress
);

codec_request!(
    /// Decompresses one whole stream of `format` (every member of a multi-member gzip file,
    /// every frame of a zstd or LZ4 file). Data that ends early completes with
    /// `CqeStatus::TruncatedInput`, data that is not of the format with `CorruptInput`, an
    /// output too small with `OutputTooSmall`; the QP stays usable after each.
    Decompress,
    Opcode::Decompress
);

impl Compress<'_> {
    /// In a stream: make everything consumed so far decodable from the output (a deflate sync
    /// flush, a zstd or LZ4 block end).
    pub fn flush(mut self) -> Self {
        self.request.stream_flags |= cflags::FLUSH;
        self
    }

    /// In a stream: this request's input is the last; the stream ends (trailer written) when a
    /// completion reports `end_of_stream()`.
    pub fn finish(mut self) -> Self {
        self.request.stream_flags |= cflags::FINISH;
        self
    }

    /// The compression level, in `format.levels()` (default: `format.default_level()`). A
    /// level outside the range fails the request (`VendorError::BadLevel`).
    pub fn level(mut self, level: i8) -> Self {
        self.request.level = level;
        self
    }
}
