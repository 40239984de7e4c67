//! ENCRYPT and DECRYPT with a device-held key. AES-GCM: the IV travels in the WQE, the AAD and
//! the tag in regions of their own. AES-XTS: the first data unit's tweak travels in the WQE,
//! with the data unit's size. The request holds every region it names (the tag and the output
//! for writing) and the key until the device is done with it.

use std::sync::Arc;

use accelverbs_uapi::crypto::{CryptoParams, GCM_IV_LEN, GCM_TAG_LEN};
use accelverbs_uapi::wqe::{flags, Opcode, Sge, Wqe};
use zerocopy::IntoBytes;

use super::{completion_options, sealed, ListWriter};
use crate::in_flight::{Borrower, DeviceAccess, RegionUse, Regions};
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
    src: (Sge, &'a Arc<MrShared>),
    dst: (Sge, &'a Arc<MrShared>),
    tag: Option<(Sge, &'a Arc<MrShared>)>,
    aad: Option<(Sge, &'a Arc<MrShared>)>,
}

impl<'a> Request<'a> {
    /// An AES-GCM request, with the tag given as an SGE of its region (written by ENCRYPT,
    /// read by DECRYPT).
    fn new(
        opcode: Opcode,
        wr_id: u64,
        key: &'a CryptoKey,
        iv: [u8; GCM_IV_LEN],
        src: MrSlice<'a>,
        dst: MrSliceMut<'a>,
        tag: (Sge, &'a Arc<MrShared>),
    ) -> Self {
        let mut full = [0u8; 16];
        full[..GCM_IV_LEN].copy_from_slice(&iv);
        let (src, dst) = ((src.sge, src.mr), (dst.sge, dst.mr));
        Self { opcode, wr_id, key, iv: full, data_unit: 0, src, dst, tag: Some(tag), aad: None }
    }

    /// An AES-XTS request.
    fn xts(
        opcode: Opcode,
        wr_id: u64,
        key: &'a CryptoKey,
        tweak: u128,
        data_unit: u32,
        src: MrSlice<'a>,
        dst: MrSliceMut<'a>,
    ) -> Self {
        let (src, dst) = ((src.sge, src.mr), (dst.sge, dst.mr));
        Self { opcode, wr_id, key, iv: tweak.to_le_bytes(), data_unit, src, dst, tag: None, aad: None }
    }

    fn encode(&self, wqe: &mut Wqe) {
        wqe.ctrl.wr_id = self.wr_id;
        wqe.ctrl.opcode = self.opcode as u8;
        let params = CryptoParams { key: self.key.number(), iv: self.iv, data_unit: self.data_unit, ..CryptoParams::default() };
        wqe.params.copy_from_slice(params.as_bytes());
        wqe.src = self.src.0;
        wqe.dst = self.dst.0;
        wqe.aux[0] = self.aad.map_or(Sge::default(), |a| a.0);
        wqe.aux[1] = self.tag.map_or(Sge::default(), |t| t.0);
    }

    fn regions(&self, qp: Borrower<'_>) -> Result<Regions, PostError> {
        if !self.key.inner.belongs_to(qp.ctx) {
            return Err(PostError::WrongContext);
        }
        let tag_access = if self.opcode == Opcode::Encrypt { DeviceAccess::Write } else { DeviceAccess::Read };
        let mut uses: Vec<(&Arc<MrShared>, DeviceAccess)> = Vec::new();
        let named = [
            Some((self.src.1, DeviceAccess::Read)),
            Some((self.dst.1, DeviceAccess::Write)),
            self.tag.map(|t| (t.1, tag_access)),
            self.aad.map(|a| (a.1, DeviceAccess::Read)),
        ];
        // Each region once, written if any use of it writes.
        for (mr, access) in named.into_iter().flatten() {
            match uses.iter_mut().find(|(seen, _)| Arc::ptr_eq(seen, mr)) {
                Some(seen) if access == DeviceAccess::Write => seen.1 = DeviceAccess::Write,
                Some(_) => {}
                None => uses.push((mr, access)),
            }
        }
        let held = uses.into_iter().map(|(mr, access)| RegionUse::new(mr, qp, access)).collect::<Result<Vec<_>, _>>()?;
        Ok(Regions::many(held).with_key(Arc::clone(&self.key.inner)))
    }
}

/// Encrypts `src` into `dst` (at least as long) with AES-GCM under `key` and `iv`, writing the
/// 16-byte tag into `tag`; [`Encrypt::aad`] adds authenticated data.
#[derive(Debug)]
pub struct Encrypt<'a> {
    request: Request<'a>,
    flags: u8,
}

/// Decrypts `src` into `dst` with AES-GCM under `key` and `iv`, checking the 16-byte `tag`: a
/// mismatch completes with `CqeStatus::AuthenticationFailed` and `dst` zeroed.
#[derive(Debug)]
pub struct Decrypt<'a> {
    request: Request<'a>,
    flags: u8,
}

impl<'a> Encrypt<'a> {
    /// Signaled by default. `tag` should be 16 bytes (the device refuses another length).
    pub fn new(
        wr_id: u64,
        key: &'a CryptoKey,
        iv: [u8; GCM_IV_LEN],
        src: MrSlice<'a>,
        dst: MrSliceMut<'a>,
        tag: MrSliceMut<'a>,
    ) -> Self {
        let request = Request::new(Opcode::Encrypt, wr_id, key, iv, src, dst, (tag.sge, tag.mr));
        Self { request, flags: flags::SIGNALED }
    }

    /// Encrypts `data` in place.
    pub fn in_place(wr_id: u64, key: &'a CryptoKey, iv: [u8; GCM_IV_LEN], data: MrSliceMut<'a>, tag: MrSliceMut<'a>) -> Self {
        let sge = data.sge;
        Self::new(wr_id, key, iv, MrSlice { mr: data.mr, sge }, data, tag)
    }

    /// AES-XTS under `key` (an AES-XTS key): `src` is a whole number of `data_unit`-byte units
    /// (at least 16 bytes each), the first under tweak `tweak` (a storage block number, say)
    /// and each next one under the next number. `dst` at least as long; it may be `src`.
    pub fn xts(wr_id: u64, key: &'a CryptoKey, tweak: u128, data_unit: u32, src: MrSlice<'a>, dst: MrSliceMut<'a>) -> Self {
        Self { request: Request::xts(Opcode::Encrypt, wr_id, key, tweak, data_unit, src, dst), flags: flags::SIGNALED }
    }

    /// AES-XTS of `data` in place, as a storage device encrypts a block.
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

impl<'a> Decrypt<'a> {
    /// Signaled by default.
    pub fn new(
        wr_id: u64,
        key: &'a CryptoKey,
        iv: [u8; GCM_IV_LEN],
        src: MrSlice<'a>,
        dst: MrSliceMut<'a>,
        tag: MrSlice<'a>,
    ) -> Self {
        let request = Request::new(Opcode::Decrypt, wr_id, key, iv, src, dst, (tag.sge, tag.mr));
        Self { request, flags: flags::SIGNALED }
    }

    /// Decrypts `data` in place (zeroed if the tag does not check).
    pub fn in_place(wr_id: u64, key: &'a CryptoKey, iv: [u8; GCM_IV_LEN], data: MrSliceMut<'a>, tag: MrSlice<'a>) -> Self {
        let sge = data.sge;
        Self::new(wr_id, key, iv, MrSlice { mr: data.mr, sge }, data, tag)
    }

    /// AES-XTS, as [`Encrypt::xts`].
    pub fn xts(wr_id: u64, key: &'a CryptoKey, tweak: u128, data_unit: u32, src: MrSlice<'a>, dst: MrSliceMut<'a>) -> Self {
        Self { request: Request::xts(Opcode::Decrypt, wr_id, key, tweak, data_unit, src, dst), flags: flags::SIGNALED }
    }

    /// AES-XTS of `data` in place.
    pub fn xts_in_place(wr_id: u64, key: &'a CryptoKey, tweak: u128, data_unit: u32, data: MrSliceMut<'a>) -> Self {
        let sge = data.sge;
        Self::xts(wr_id, key, tweak, data_unit, MrSlice { mr: data.mr, sge }, data)
    }

    /// The additional authenticated data the tag covers.
    pub fn aad(mut self, aad: MrSlice<'a>) -> Self {
        self.request.aad = Some((aad.sge, aad.mr));
        self
    }
}

completion_options!(Encrypt<'a>);
completion_options!(Decrypt<'a>);

macro_rules! encode_request {
    ($wr:ident) => {
        impl sealed::Encode for $wr<'_> {
            fn encode(&self, wqe: &mut Wqe, _lists: &mut ListWriter<'_>) {
                self.request.encode(wqe);
                wqe.ctrl.flags = self.flags;
            }

            fn payload_bytes(&self) -> u64 {
                u64::from(self.request.src.0.length)
            }

            fn regions(&self, qp: Borrower<'_>) -> Result<Regions, PostError> {
                self.request.regions(qp)
            }
        }
    };
}
encode_request!(Encrypt);
encode_request!(Decrypt);

/// The tag's length, for callers sizing its region.
pub const TAG_LEN: usize = GCM_TAG_LEN;
