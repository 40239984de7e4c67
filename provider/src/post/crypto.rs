//! ENCRYPT and DECRYPT with a device-held key. AES-GCM: the IV travels in the WQE, the AAD and
//! the tag in regions of their own. AES-XTS: the first data unit's tweak travels in the WQE,
//! with the data unit's size. Either side may be gathered from up to `MAX_LIST_ENTRIES` slices.
//! The request holds every region it names (the tag and the output for writing) and the key
//! until the device is done with it.

use std::sync::Arc;

use accelverbs_uapi::compress::Format;
use accelverbs_uapi::crypto::{flags as crypto_flags, ChainParams, CryptoParams, GCM_IV_LEN, GCM_TAG_LEN};
use accelverbs_uapi::wqe::{flags, Opcode, Sge, Wqe};
use zerocopy::IntoBytes;

use super::lists::ListSide;
use super::side::{lend, Side};
use super::{completion_options, sealed, ListWriter};
use crate::in_flight::{Borrower, DeviceAccess, Regions};
use crate::mr::MrShared;
use crate::{CryptoKey, MrSlice, MrSliceMut, PostError};

/// What ENCRYPT and DECRYPT share.
#[derive(Debug)]
struct Request<'a> {
    opcode: Opcode,
    wr_id: u64,
    key: &'a CryptoKey,
    /// AES-GCM: the IV then zeros; AES-XTS: the first tweak.
    iv: [u8; 16],
    /// AES-XTS's data unit (0 for AES-GCM).
    data_unit: u32,
    src: Side<'a>,
    dst: Side<'a>,
    tag: Option<(Sge, &'a Arc<MrShared>)>,
    aad: Option<(Sge, &'a Arc<MrShared>)>,
    /// A chained request's compression: format and level.
    codec: Option<(Format, i8)>,
}

impl<'a> Request<'a> {
    /// An AES-GCM request over one slice a side, with the tag given as an SGE of its region
    /// (written by ENCRYPT, read by DECRYPT).
    fn new(
        opcode: Opcode,
        wr_id: u64,
        key: &'a CryptoKey,
        iv: [u8; GCM_IV_LEN],
        src: MrSlice<'a>,
        dst: MrSliceMut<'a>,
        tag: (Sge, &'a Arc<MrShared>),
    ) -> Self {
        Self::gcm(opcode, wr_id, key, iv, Side::one(src.sge, src.mr), Side::one(dst.sge, dst.mr), tag)
    }

    /// An AES-GCM request.
    fn gcm(
        opcode: Opcode,
        wr_id: u64,
        key: &'a CryptoKey,
        iv: [u8; GCM_IV_LEN],
        src: Side<'a>,
        dst: Side<'a>,
        tag: (Sge, &'a Arc<MrShared>),
    ) -> Self {
        let mut full = [0u8; 16];
        full[..GCM_IV_LEN].copy_from_slice(&iv);
        Self { opcode, wr_id, key, iv: full, data_unit: 0, src, dst, tag: Some(tag), aad: None, codec: None }
    }

    /// An AES-XTS request.
    fn xts(opcode: Opcode, wr_id: u64, key: &'a CryptoKey, tweak: u128, data_unit: u32, src: Side<'a>, dst: Side<'a>) -> Self {
        Self { opcode, wr_id, key, iv: tweak.to_le_bytes(), data_unit, src, dst, tag: None, aad: None, codec: None }
    }

    fn encode(&self, wqe: &mut Wqe, lists: &mut ListWriter<'_>) {
        wqe.ctrl.wr_id = self.wr_id;
        wqe.ctrl.opcode = self.opcode as u8;
        match self.codec {
            None => {
                let mut params =
                    CryptoParams { key: self.key.number(), iv: self.iv, data_unit: self.data_unit, ..CryptoParams::default() };
                if self.src.is_list() {
                    params.flags |= crypto_flags::SRC_LIST;
                }
                if self.dst.is_list() {
                    params.flags |= crypto_flags::DST_LIST;
                }
                wqe.params.copy_from_slice(params.as_bytes());
            }
            Some((format, level)) => {
                let mut iv = [0u8; GCM_IV_LEN];
                iv.copy_from_slice(&self.iv[..GCM_IV_LEN]);
                let params = ChainParams { format: format as u8, level, key: self.key.number(), iv, ..ChainParams::default() };
                wqe.params.copy_from_slice(params.as_bytes());
            }
        }
        // A chain is built from one slice a side only (its constructors), so takes no lists.
        wqe.src = self.src.encode(ListSide::Input, lists);
        wqe.dst = self.dst.encode(ListSide::Output, lists);
        wqe.aux[0] = self.aad.map_or(Sge::default(), |a| a.0);
        wqe.aux[1] = self.tag.map_or(Sge::default(), |t| t.0);
    }

    fn regions(&self, qp: Borrower<'_>, held: &mut Regions) -> Result<(), PostError> {
        if !self.key.inner.belongs_to(qp.ctx) {
            return Err(PostError::WrongContext);
        }
        self.src.check_count()?;
        self.dst.check_count()?;
        let writes_tag = matches!(self.opcode, Opcode::Encrypt | Opcode::CompressEncrypt);
        let tag_access = if writes_tag { DeviceAccess::Write } else { DeviceAccess::Read };
        let aux = [self.tag.map(|t| (t.1, tag_access)), self.aad.map(|a| (a.1, DeviceAccess::Read))];
        let key = &self.key.inner;
        if let (Side::One(_, src), Side::One(_, dst)) = (&self.src, &self.dst) {
            // The common case, with nothing to allocate.
            let mut named = [(*src, DeviceAccess::Read); 4];
            named[1] = (dst, DeviceAccess::Write);
            let mut n = 2;
            for used in aux.into_iter().flatten() {
                named[n] = used;
                n += 1;
            }
            return lend(&named[..n], Some(key), qp, held);
        }
        let inputs = self.src.regions().iter().map(|&mr| (mr, DeviceAccess::Read));
        let outputs = self.dst.regions().iter().map(|&mr| (mr, DeviceAccess::Write));
        let named: Vec<_> = inputs.chain(outputs).chain(aux.into_iter().flatten()).collect();
        lend(&named, Some(key), qp, held)
    }

    fn gathers(&self) -> bool {
        self.src.is_list() || self.dst.is_list()
    }
}

/// The builder of ENCRYPT or DECRYPT: one body, apart from the opcode and how the device uses
/// the tag (`MrSliceMut` for the tag ENCRYPT writes, `MrSlice` for the one DECRYPT reads).
macro_rules! cipher_request {
    ($(#[$doc:meta])* $name:ident, $opcode:expr, $tag:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name<'a> {
            request: Request<'a>,
            flags: u8,
        }

        impl<'a> $name<'a> {
            /// Signaled by default. `tag` should be 16 bytes (the device refuses another length).
            pub fn new(
                wr_id: u64,
                key: &'a CryptoKey,
                iv: [u8; GCM_IV_LEN],
                src: MrSlice<'a>,
                dst: MrSliceMut<'a>,
                tag: $tag<'a>,
            ) -> Self {
                let request = Request::new($opcode, wr_id, key, iv, src, dst, (tag.sge, tag.mr));
                Self { request, flags: flags::SIGNALED }
            }

            /// In place: `data` is both the input and the output.
            pub fn in_place(wr_id: u64, key: &'a CryptoKey, iv: [u8; GCM_IV_LEN], data: MrSliceMut<'a>, tag: $tag<'a>) -> Self {
                let sge = data.sge;
                Self::new(wr_id, key, iv, MrSlice { mr: data.mr, sge }, data, tag)
            }

            /// Gathered from `src` and scattered into `dst`, in order (1 to `MAX_LIST_ENTRIES`
            /// slices per side, else `PostError::SgeCount`; the two need not be cut alike). The
            /// device reads the lists from memory the QP registers on first use.
            pub fn gather(
                wr_id: u64,
                key: &'a CryptoKey,
                iv: [u8; GCM_IV_LEN],
                src: &[MrSlice<'a>],
                dst: Vec<MrSliceMut<'a>>,
                tag: $tag<'a>,
            ) -> Self {
                let (src, dst) = (Side::gather(src), Side::scatter(dst));
                Self { request: Request::gcm($opcode, wr_id, key, iv, src, dst, (tag.sge, tag.mr)), flags: flags::SIGNALED }
            }

            /// AES-XTS under `key` (an AES-XTS key): `src` is a whole number of `data_unit`-byte
            /// units (16 bytes to 16 MiB each), the first under tweak `tweak` (a storage block
            /// number, say) and each next one under the next number. `dst` at least as long; it
            /// may be `src`.
            pub fn xts(
                wr_id: u64,
                key: &'a CryptoKey,
                tweak: u128,
                data_unit: u32,
                src: MrSlice<'a>,
                dst: MrSliceMut<'a>,
            ) -> Self {
                Self::xts_sides(wr_id, key, tweak, data_unit, Side::one(src.sge, src.mr), Side::one(dst.sge, dst.mr))
            }

            /// AES-XTS gathered and scattered, as [`Self::gather`]: a data unit may straddle two
            /// slices.
            pub fn xts_gather(
                wr_id: u64,
                key: &'a CryptoKey,
                tweak: u128,
                data_unit: u32,
                src: &[MrSlice<'a>],
                dst: Vec<MrSliceMut<'a>>,
            ) -> Self {
                Self::xts_sides(wr_id, key, tweak, data_unit, Side::gather(src), Side::scatter(dst))
            }

            fn xts_sides(wr_id: u64, key: &'a CryptoKey, tweak: u128, data_unit: u32, src: Side<'a>, dst: Side<'a>) -> Self {
                Self { request: Request::xts($opcode, wr_id, key, tweak, data_unit, src, dst), flags: flags::SIGNALED }
            }

            /// AES-XTS of `data` in place, as a storage device encrypts or decrypts a block.
            pub fn xts_in_place(wr_id: u64, key: &'a CryptoKey, tweak: u128, data_unit: u32, data: MrSliceMut<'a>) -> Self {
                let sge = data.sge;
                Self::xts(wr_id, key, tweak, data_unit, MrSlice { mr: data.mr, sge }, data)
            }

            /// Additional authenticated data: covered by the tag, not encrypted.
            pub fn aad(mut self, aad: MrSlice<'a>) -> Self {
                self.request.aad = Some((aad.sge, aad.mr));
                self
            }
        }
    };
}

cipher_request!(
    /// Encrypts `src` into `dst` (at least as long) with AES-GCM under `key` and `iv`, writing
    /// the 16-byte tag into `tag`; [`Encrypt::aad`] adds authenticated data. Or AES-XTS, from
    /// [`Encrypt::xts`].
    Encrypt,
    Opcode::Encrypt,
    MrSliceMut
);

cipher_request!(
    /// Decrypts `src` into `dst` with AES-GCM under `key` and `iv`, checking the 16-byte `tag`:
    /// a mismatch completes with `CqeStatus::AuthenticationFailed` and every byte of `dst` the
    /// request wrote zeroed (as many as `src` holds; in place, `data`). Or AES-XTS, from
    /// [`Decrypt::xts`].
    Decrypt,
    Opcode::Decrypt,
    MrSlice
);

/// Compresses `src` (one-shot, `format` at `level`) and encrypts the result with AES-GCM under
/// `key` and `iv` into `dst`, writing the tag to `tag`: one request per block for a storage
/// engine. The completion's `byte_len` is the ciphertext's length (the compressed size), its
/// `consumed()` and `checksum()` the compression's; a `dst` too small for the compressed data
/// completes with `CqeStatus::OutputTooSmall`, the QP going on.
#[derive(Debug)]
pub struct CompressEncrypt<'a> {
    request: Request<'a>,
    flags: u8,
}

/// Decrypts `src` with AES-GCM under `key` and `iv`, checking `tag`, and decompresses the result
/// (one-shot, `format`) into `dst`, which must be at least as long as `src`. A tag that does not
/// check completes with `CqeStatus::AuthenticationFailed` and `dst` zeroed; otherwise as
/// DECOMPRESS (`byte_len` the plain size).
#[derive(Debug)]
pub struct DecryptDecompress<'a> {
    request: Request<'a>,
    flags: u8,
}

impl<'a> CompressEncrypt<'a> {
    /// Signaled by default.
    #[allow(clippy::too_many_arguments)] // The request's parts, as verbs lists them.
    pub fn new(
        wr_id: u64,
        format: Format,
        level: i8,
        key: &'a CryptoKey,
        iv: [u8; GCM_IV_LEN],
        src: MrSlice<'a>,
        dst: MrSliceMut<'a>,
        tag: MrSliceMut<'a>,
    ) -> Self {
        let mut request = Request::new(Opcode::CompressEncrypt, wr_id, key, iv, src, dst, (tag.sge, tag.mr));
        request.codec = Some((format, level));
        Self { request, flags: flags::SIGNALED }
    }

    /// Additional authenticated data: covered by the tag, not encrypted.
    pub fn aad(mut self, aad: MrSlice<'a>) -> Self {
        self.request.aad = Some((aad.sge, aad.mr));
        self
    }
}

impl<'a> DecryptDecompress<'a> {
    /// Signaled by default.
    pub fn new(
        wr_id: u64,
        format: Format,
        key: &'a CryptoKey,
        iv: [u8; GCM_IV_LEN],
        src: MrSlice<'a>,
        dst: MrSliceMut<'a>,
        tag: MrSlice<'a>,
    ) -> Self {
        let mut request = Request::new(Opcode::DecryptDecompress, wr_id, key, iv, src, dst, (tag.sge, tag.mr));
        request.codec = Some((format, 0));
        Self { request, flags: flags::SIGNALED }
    }

    /// The additional authenticated data the tag covers.
    pub fn aad(mut self, aad: MrSlice<'a>) -> Self {
        self.request.aad = Some((aad.sge, aad.mr));
        self
    }
}

completion_options!(Encrypt<'a>);
completion_options!(Decrypt<'a>);
completion_options!(CompressEncrypt<'a>);
completion_options!(DecryptDecompress<'a>);

macro_rules! encode_request {
    ($wr:ident) => {
        impl sealed::Encode for $wr<'_> {
            fn encode(&self, wqe: &mut Wqe, lists: &mut ListWriter<'_>) {
                self.request.encode(wqe, lists);
                wqe.ctrl.flags = self.flags;
            }

            fn gathers(&self) -> bool {
                self.request.gathers()
            }

            fn payload_bytes(&self) -> u64 {
                self.request.src.total()
            }

            fn regions(&self, qp: Borrower<'_>, held: &mut Regions) -> Result<(), PostError> {
                self.request.regions(qp, held)
            }
        }
    };
}
encode_request!(Encrypt);
encode_request!(Decrypt);
encode_request!(CompressEncrypt);
encode_request!(DecryptDecompress);

/// The tag's length, for callers sizing its region.
pub const TAG_LEN: usize = GCM_TAG_LEN;
