//! acceldv.h, the direct verbs for what standard verbs cannot say: the device's accelerator
//! operations (NOP, COPY, COMPRESS, DECOMPRESS, ENCRYPT, DECRYPT, DIGEST) as builders of an
//! extended QP, compression contexts, crypto keys, and completions with the accelerator's
//! fields. Exported with symbol versions ACCELDV_1.0 and ACCELDV_1.1 (`acceldv.map` declares
//! them; `versioned!` binds each function to its own). Builders added later (the SGE-list
//! ones) are appended to `acceldv_qp_ex` and announced by a bit of its `comp_mask`.

use std::ffi::{c_int, c_void};
use std::mem::offset_of;

use accelverbs::uapi::compress::{flags as comp_flags, CompressParams};
use accelverbs::uapi::crypto::{digest_flags, ChainParams, CryptoParams, DigestParams, GCM_IV_LEN};
use accelverbs::uapi::wqe::{Opcode, Sge, Wqe};
use accelverbs::{CompressionStream, CryptoKey, Format, KeyAlgorithm, RawGatherWqe, WorkCompletion, MAX_LIST_ENTRIES};
use zerocopy::{FromZeros, IntoBytes};

use crate::context::state;
use crate::cq::{ibv_wc, PluginCq};
use crate::ffi::{errno_of, guard, leak, null_with, reclaim};
use crate::pd::PluginPd;
use crate::post::{base_wqe, post_errno};
use crate::qp::{create_extended, Accel, PluginQp};
use crate::send_queue::Queue;
use crate::sys;
use crate::wr::{fail, stage_building};

/// Binds each exported function to its version (as default), as a C library's `.symver` does.
macro_rules! versioned {
    ($version:literal: $($name:ident),* $(,)?) => {
        $(std::arch::global_asm!(concat!(".symver ", stringify!($name), ", ", stringify!($name), "@@", $version));)*
    };
}
versioned!(
    "ACCELDV_1.0":
    acceldv_query_device,
    acceldv_create_qp,
    acceldv_qp_ex_from_ibv_qp_ex,
    acceldv_create_comp_stream,
    acceldv_destroy_comp_stream,
    acceldv_poll_cq,
);
versioned!("ACCELDV_1.1": acceldv_create_crypto_key, acceldv_create_wrapped_crypto_key, acceldv_destroy_crypto_key);

/// Every accelerator builder a QP may ask for.
const ALL_OPS: u64 = (sys::ACCELDV_QP_EX_WITH_NOP
    | sys::ACCELDV_QP_EX_WITH_COPY
    | sys::ACCELDV_QP_EX_WITH_COMPRESS
    | sys::ACCELDV_QP_EX_WITH_DECOMPRESS
    | sys::ACCELDV_QP_EX_WITH_ENCRYPT
    | sys::ACCELDV_QP_EX_WITH_DECRYPT
    | sys::ACCELDV_QP_EX_WITH_DIGEST
    | sys::ACCELDV_QP_EX_WITH_COMPRESS_ENCRYPT
    | sys::ACCELDV_QP_EX_WITH_DECRYPT_DECOMPRESS) as u64;

#[no_mangle]
pub unsafe extern "C" fn acceldv_query_device(context: *mut sys::ibv_context, attr: *mut sys::acceldv_device_attr) -> c_int {
    guard("acceldv_query_device", libc::EIO, || {
        if context.is_null() || attr.is_null() {
            return libc::EINVAL;
        }
        // SAFETY: the application's output structure.
        if unsafe { (*attr).comp_mask } != 0 {
            return libc::EINVAL;
        }
        // SAFETY: a context of this provider (acceldv is this provider's interface).
        let caps = unsafe { state(context) }.caps;
        let out = sys::acceldv_device_attr {
            comp_mask: 0,
            opcodes: caps.opcodes,
            compress_formats: caps.compress_formats,
            max_comp_streams: caps.max_comp_streams,
            num_engines: caps.num_engines,
            max_crypto_keys: caps.max_crypto_keys,
            opcodes_hi: caps.opcodes_hi,
            // What the provider lets a side hold (`PostError::SgeCount`): the device ABI's list
            // limit, which the device's codec and cipher operations take.
            max_sge_list: MAX_LIST_ENTRIES,
            ..Default::default()
        };
        // SAFETY: as above.
        unsafe { attr.write(out) };
        0
    })
}

#[no_mangle]
pub unsafe extern "C" fn acceldv_create_qp(
    context: *mut sys::ibv_context,
    qp_attr: *mut sys::ibv_qp_init_attr_ex,
    dv_attr: *mut sys::acceldv_qp_init_attr,
) -> *mut sys::ibv_qp {
    guard("acceldv_create_qp", std::ptr::null_mut(), || {
        if context.is_null() || qp_attr.is_null() || dv_attr.is_null() {
            return null_with(libc::EINVAL);
        }
        // SAFETY: the application's attributes.
        let dv = unsafe { *dv_attr };
        if dv.comp_mask != 0 || dv.reserved != 0 || dv.send_ops_flags & !ALL_OPS != 0 {
            return null_with(libc::EINVAL);
        }
        let accel = Accel { send_ops: dv.send_ops_flags, max_decompress_ratio: dv.max_decompress_ratio };
        // SAFETY: a context of this provider and the application's attributes.
        unsafe { create_extended(context, &mut *qp_attr, accel) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn acceldv_qp_ex_from_ibv_qp_ex(qp: *mut sys::ibv_qp_ex) -> *mut sys::acceldv_qp_ex {
    guard("acceldv_qp_ex_from_ibv_qp_ex", std::ptr::null_mut(), || {
        if qp.is_null() {
            return null_with(libc::EINVAL);
        }
        // SAFETY: an extended QP of this provider: `ibv_qp_ex` starts with its `ibv_qp`.
        let plugin = unsafe { PluginQp::from_ibv(qp.cast()) };
        if plugin.dv_ops == 0 {
            return null_with(libc::EINVAL);
        }
        (&plugin.dv as *const sys::acceldv_qp_ex).cast_mut()
    })
}

/// Installs the builders and records the ones `ops` asks for (nonzero marks a QP made by
/// `acceldv_create_qp`). Every pointer is set, so calling a builder the QP was not created
/// with is an `EINVAL` at `ibv_wr_complete`, not a jump through NULL. `comp_mask` says which
/// appended members exist.
pub fn install(qp: &mut PluginQp, ops: u64) {
    qp.dv_ops = ops;
    let dv = &mut qp.dv;
    dv.comp_mask = u64::from(sys::ACCELDV_QP_EX_MASK_SGE_LISTS | sys::ACCELDV_QP_EX_MASK_DIGEST_PARTS);
    dv.wr_nop = Some(wr_nop);
    dv.wr_copy = Some(wr_copy);
    dv.wr_compress = Some(wr_compress);
    dv.wr_decompress = Some(wr_decompress);
    dv.wr_encrypt = Some(wr_encrypt);
    dv.wr_decrypt = Some(wr_decrypt);
    dv.wr_digest = Some(wr_digest);
    dv.wr_compress_encrypt = Some(wr_compress_encrypt);
    dv.wr_decrypt_decompress = Some(wr_decrypt_decompress);
    dv.wr_compress_list = Some(wr_compress_list);
    dv.wr_decompress_list = Some(wr_decompress_list);
    dv.wr_encrypt_list = Some(wr_encrypt_list);
    dv.wr_decrypt_list = Some(wr_decrypt_list);
    dv.wr_digest_part = Some(wr_digest_part);
}

/// The `ACCELDV_QP_EX_WITH_*` flag a builder of `opcode` needs.
fn needed(opcode: Opcode) -> u64 {
    u64::from(match opcode {
        Opcode::Nop => sys::ACCELDV_QP_EX_WITH_NOP,
        Opcode::Copy => sys::ACCELDV_QP_EX_WITH_COPY,
        Opcode::Compress => sys::ACCELDV_QP_EX_WITH_COMPRESS,
        Opcode::Decompress => sys::ACCELDV_QP_EX_WITH_DECOMPRESS,
        Opcode::Encrypt => sys::ACCELDV_QP_EX_WITH_ENCRYPT,
        Opcode::Decrypt => sys::ACCELDV_QP_EX_WITH_DECRYPT,
        Opcode::Digest => sys::ACCELDV_QP_EX_WITH_DIGEST,
        Opcode::CompressEncrypt => sys::ACCELDV_QP_EX_WITH_COMPRESS_ENCRYPT,
        Opcode::DecryptDecompress => sys::ACCELDV_QP_EX_WITH_DECRYPT_DECOMPRESS,
        // No builder makes another opcode.
        _ => 0,
    })
}

/// Starts the next request of a `wr_start` sequence, after staging the one before: its id and
/// flags from the QP, its opcode, and the rest from `fill`. `None` outside a sequence of this
/// thread (the builder does nothing and `wr_complete` reports `EINVAL`).
///
/// # Safety
/// `dvqp` is the accelerator view of a QP of this provider.
unsafe fn next_wqe<'a>(
    dvqp: *mut sys::acceldv_qp_ex,
    opcode: Opcode,
    fill: impl FnOnce(&mut Wqe) -> Result<(), c_int>,
) -> Option<(&'a mut Queue, Result<Wqe, c_int>)> {
    // SAFETY: `dv` is a field of the `PluginQp` (caller's contract).
    let plugin = unsafe { &*dvqp.byte_sub(offset_of!(PluginQp, dv)).cast::<PluginQp>() };
    // SAFETY: the QP's extended view starts it; the application set `wr_id` and `wr_flags`.
    let (wr_id, wr_flags) = unsafe {
        let qpx = (&plugin.vqp as *const sys::verbs_qp).cast::<sys::ibv_qp_ex>();
        ((*qpx).wr_id, (*qpx).wr_flags)
    };
    let queue = plugin.sq.in_sequence()?;
    stage_building(queue);
    if plugin.dv_ops & needed(opcode) == 0 {
        return Some((queue, Err(libc::EINVAL)));
    }
    let built = base_wqe(wr_id, wr_flags).and_then(|mut wqe| {
        wqe.ctrl.opcode = opcode as u8;
        fill(&mut wqe).map(|()| wqe)
    });
    Some((queue, built))
}

/// Begins the next request of a `wr_start` sequence, built by `fill` and staged with the next
/// builder or `wr_complete`; a failure is kept for `wr_complete`.
///
/// # Safety
/// As [`next_wqe`].
unsafe fn begin(dvqp: *mut sys::acceldv_qp_ex, opcode: Opcode, fill: impl FnOnce(&mut Wqe) -> Result<(), c_int>) {
    // SAFETY: the caller's contract.
    match unsafe { next_wqe(dvqp, opcode, fill) } {
        Some((queue, Ok(wqe))) => queue.building = Some(wqe),
        Some((queue, Err(errno))) => fail(queue, errno),
        None => {}
    }
}

/// An application's SGE array as the device's SGEs (the two have one layout).
///
/// # Safety
/// `list` is NULL or points at `count` SGEs, read during the builder call.
unsafe fn sge_list<'a>(list: *const sys::ibv_sge, count: usize) -> Result<&'a [Sge], c_int> {
    const _: () = assert!(
        size_of::<sys::ibv_sge>() == size_of::<Sge>()
            && offset_of!(sys::ibv_sge, addr) == offset_of!(Sge, addr)
            && offset_of!(sys::ibv_sge, length) == offset_of!(Sge, length)
            && offset_of!(sys::ibv_sge, lkey) == offset_of!(Sge, lkey)
    );
    match (list.is_null(), count) {
        // No entry: the provider's count check refuses it.
        (_, 0) => Ok(&[]),
        (true, _) => Err(libc::EINVAL),
        // More than the device takes (helper-19: checked before a slice claims that many, so
        // a count larger than the caller's array is refused rather than read past).
        (false, n) if n > MAX_LIST_ENTRIES as usize => Err(libc::EINVAL),
        // SAFETY: the caller's contract; both types are plain integers laid out alike
        // (checked above).
        (false, n) => Ok(unsafe { std::slice::from_raw_parts(list.cast::<Sge>(), n) }),
    }
}

/// Stages the next request of a `wr_start` sequence with its input gathered from `src` and its
/// output scattered into `dst` (`num_src`, `num_dst` entries), its parameters from `fill`;
/// the provider checks the lists' lengths. A failure is kept for `wr_complete`.
///
/// # Safety
/// As [`next_wqe`]; the lists as [`sge_list`].
unsafe fn begin_gathered(
    dvqp: *mut sys::acceldv_qp_ex,
    opcode: Opcode,
    fill: impl FnOnce(&mut Wqe) -> Result<(), c_int>,
    (src, num_src): (*const sys::ibv_sge, usize),
    (dst, num_dst): (*const sys::ibv_sge, usize),
) {
    // SAFETY: the caller's contract.
    let Some((queue, built)) = (unsafe { next_wqe(dvqp, opcode, fill) }) else { return };
    // SAFETY: the caller's contract.
    let lists = unsafe { sge_list(src, num_src).and_then(|src| Ok((src, sge_list(dst, num_dst)?))) };
    let staged = built.and_then(|wqe| {
        let (src, dst) = lists?;
        // SAFETY: the verbs contract: memory a request names stays registered and untouched by
        // the application until its completion. The entries are copied here.
        let request = unsafe { RawGatherWqe::new(wqe, src, dst) }.map_err(post_errno)?;
        queue.qp.stage(request).map_err(post_errno)
    });
    if let Err(errno) = staged {
        fail(queue, errno);
    }
}

unsafe extern "C" fn wr_nop(dvqp: *mut sys::acceldv_qp_ex) {
    // SAFETY: libibverbs' application calls builders inside a sequence.
    guard("acceldv_wr_nop", (), || unsafe { begin(dvqp, Opcode::Nop, |_| Ok(())) })
}

unsafe extern "C" fn wr_copy(
    dvqp: *mut sys::acceldv_qp_ex,
    dest_lkey: u32,
    dest_addr: u64,
    src_lkey: u32,
    src_addr: u64,
    length: u32,
) {
    guard("acceldv_wr_copy", (), || {
        let fill = |wqe: &mut Wqe| {
            wqe.src = Sge { addr: src_addr, length, lkey: src_lkey };
            wqe.dst = Sge { addr: dest_addr, length, lkey: dest_lkey };
            Ok(())
        };
        // SAFETY: builders are called inside a sequence.
        unsafe { begin(dvqp, Opcode::Copy, fill) }
    })
}

/// The WQE of a compression request: parameters from `attr`, one SGE each side.
///
/// # Safety
/// `attr`, `src`, `dst` are the application's (checked for NULL); a stream named in `attr` is
/// one `acceldv_create_comp_stream` made.
unsafe fn fill_codec(
    wqe: &mut Wqe,
    attr: *const sys::acceldv_comp_attr,
    src: *const sys::ibv_sge,
    dst: *const sys::ibv_sge,
) -> Result<(), c_int> {
    if src.is_null() || dst.is_null() {
        return Err(libc::EINVAL);
    }
    // SAFETY: the caller's contract.
    unsafe { codec_params(wqe, attr) }?;
    // SAFETY: the caller's contract.
    let (src, dst) = unsafe { (*src, *dst) };
    wqe.src = Sge { addr: src.addr, length: src.length, lkey: src.lkey };
    wqe.dst = Sge { addr: dst.addr, length: dst.length, lkey: dst.lkey };
    Ok(())
}

/// The parameters of a compression request, from `attr`.
///
/// # Safety
/// `attr` is the application's (checked for NULL); a stream it names is one
/// `acceldv_create_comp_stream` made.
unsafe fn codec_params(wqe: &mut Wqe, attr: *const sys::acceldv_comp_attr) -> Result<(), c_int> {
    if attr.is_null() {
        return Err(libc::EINVAL);
    }
    // SAFETY: the caller's contract.
    let attr = unsafe { *attr };
    let known = (sys::ACCELDV_COMP_FLUSH | sys::ACCELDV_COMP_FINISH) as u16;
    if attr.reserved != 0 || attr.flags & !known != 0 {
        return Err(libc::EINVAL);
    }
    let stream = match attr.stream.is_null() {
        true => 0,
        // SAFETY: the caller's contract.
        false => unsafe { &*attr.stream.cast::<PluginStream>() }.stream.number(),
    };
    // acceldv's flags are the device's (checked in the tests).
    let params = CompressParams {
        format: attr.format,
        level: attr.level,
        flags: attr.flags & (comp_flags::FLUSH | comp_flags::FINISH),
        stream,
        ..CompressParams::default()
    };
    wqe.params.copy_from_slice(params.as_bytes());
    Ok(())
}

unsafe extern "C" fn wr_compress(
    dvqp: *mut sys::acceldv_qp_ex,
    attr: *const sys::acceldv_comp_attr,
    src: *const sys::ibv_sge,
    dst: *const sys::ibv_sge,
) {
    guard("acceldv_wr_compress", (), || {
        // SAFETY: builders are called inside a sequence with the application's arguments.
        unsafe { begin(dvqp, Opcode::Compress, |wqe| fill_codec(wqe, attr, src, dst)) }
    })
}

unsafe extern "C" fn wr_decompress(
    dvqp: *mut sys::acceldv_qp_ex,
    attr: *const sys::acceldv_comp_attr,
    src: *const sys::ibv_sge,
    dst: *const sys::ibv_sge,
) {
    guard("acceldv_wr_decompress", (), || {
        // SAFETY: builders are called inside a sequence with the application's arguments.
        unsafe { begin(dvqp, Opcode::Decompress, |wqe| fill_codec(wqe, attr, src, dst)) }
    })
}

/// An SGE of the application's, or the zero SGE for NULL.
///
/// # Safety
/// `sge` is NULL or the application's.
unsafe fn sge_or_zero(sge: *const sys::ibv_sge) -> Sge {
    // SAFETY: the caller's contract.
    unsafe { sge.as_ref() }.map_or(Sge::default(), |s| Sge { addr: s.addr, length: s.length, lkey: s.lkey })
}

/// The device number of a key `acceldv_create_crypto_key` made.
///
/// # Safety
/// `key` is NULL (0: names no key, which the device refuses) or such a key.
unsafe fn key_number(key: *const sys::acceldv_crypto_key) -> u32 {
    // SAFETY: the caller's contract.
    unsafe { key.cast::<PluginKey>().as_ref() }.map_or(0, |k| k.key.number())
}

/// The WQE of an ENCRYPT or DECRYPT: parameters from `attr`, the AAD in `aux[0]`, the tag in
/// `aux[1]`. The device checks the key, the IV, the lengths and the ranges.
///
/// # Safety
/// `attr`, `src`, `dst` and the SGEs `attr` points to are the application's (the first three
/// checked for NULL); a key named in `attr` is one `acceldv_create_crypto_key` made.
unsafe fn fill_crypto(
    wqe: &mut Wqe,
    attr: *const sys::acceldv_crypto_attr,
    src: *const sys::ibv_sge,
    dst: *const sys::ibv_sge,
) -> Result<(), c_int> {
    if src.is_null() || dst.is_null() {
        return Err(libc::EINVAL);
    }
    // SAFETY: the caller's contract.
    unsafe {
        crypto_params(wqe, attr)?;
        wqe.src = sge_or_zero(src);
        wqe.dst = sge_or_zero(dst);
    }
    Ok(())
}

/// The parameters of an ENCRYPT or DECRYPT from `attr`: key, IV and data unit, the AAD in
/// `aux[0]`, the tag in `aux[1]`.
///
/// # Safety
/// `attr` and the SGEs it points to are the application's (`attr` checked for NULL); a key it
/// names is one `acceldv_create_crypto_key` made.
unsafe fn crypto_params(wqe: &mut Wqe, attr: *const sys::acceldv_crypto_attr) -> Result<(), c_int> {
    if attr.is_null() {
        return Err(libc::EINVAL);
    }
    // SAFETY: the caller's contract.
    let attr = unsafe { *attr };
    if attr.reserved != 0 || attr.key.is_null() {
        return Err(libc::EINVAL);
    }
    // SAFETY: the caller's contract.
    let key = unsafe { key_number(attr.key) };
    let params = CryptoParams { key, iv: attr.iv, data_unit: attr.data_unit, ..CryptoParams::default() };
    wqe.params.copy_from_slice(params.as_bytes());
    // SAFETY: the caller's contract.
    unsafe {
        wqe.aux[0] = sge_or_zero(attr.aad);
        wqe.aux[1] = sge_or_zero(attr.tag);
    }
    Ok(())
}

unsafe extern "C" fn wr_encrypt(
    dvqp: *mut sys::acceldv_qp_ex,
    attr: *const sys::acceldv_crypto_attr,
    src: *const sys::ibv_sge,
    dst: *const sys::ibv_sge,
) {
    guard("acceldv_wr_encrypt", (), || {
        // SAFETY: builders are called inside a sequence with the application's arguments.
        unsafe { begin(dvqp, Opcode::Encrypt, |wqe| fill_crypto(wqe, attr, src, dst)) }
    })
}

unsafe extern "C" fn wr_decrypt(
    dvqp: *mut sys::acceldv_qp_ex,
    attr: *const sys::acceldv_crypto_attr,
    src: *const sys::ibv_sge,
    dst: *const sys::ibv_sge,
) {
    guard("acceldv_wr_decrypt", (), || {
        // SAFETY: builders are called inside a sequence with the application's arguments.
        unsafe { begin(dvqp, Opcode::Decrypt, |wqe| fill_crypto(wqe, attr, src, dst)) }
    })
}

unsafe extern "C" fn wr_digest(
    dvqp: *mut sys::acceldv_qp_ex,
    attr: *const sys::acceldv_digest_attr,
    src: *const sys::ibv_sge,
    dst: *const sys::ibv_sge,
) {
    guard("acceldv_wr_digest", (), || {
        let fill = |wqe: &mut Wqe| {
            if attr.is_null() || src.is_null() {
                return Err(libc::EINVAL);
            }
            // SAFETY: the application's attributes; its key, if any, one of this provider.
            let (attr, key) = unsafe { (*attr, key_number((*attr).key)) };
            // An algorithm that does not fit the device's byte is unknown to it too.
            let algorithm = u8::try_from(attr.alg).unwrap_or(u8::MAX);
            let params = DigestParams { algorithm, key, seed: attr.seed, ..DigestParams::new_zeroed() };
            wqe.params.copy_from_slice(params.as_bytes());
            // SAFETY: the application's SGEs (`dst` NULL for CRC32C).
            unsafe {
                wqe.src = sge_or_zero(src);
                wqe.dst = sge_or_zero(dst);
            }
            Ok(())
        };
        // SAFETY: builders are called inside a sequence.
        unsafe { begin(dvqp, Opcode::Digest, fill) }
    })
}

/// One part of a SHA-256 over several requests (`digest_flags` of the device ABI): the state
/// in `aux[0]`. The flags are checked here (none, or an unknown bit, is `EINVAL`: a one-shot
/// digest is `wr_digest`); what they may go with (SHA-256 only, whole blocks) the device checks.
unsafe extern "C" fn wr_digest_part(
    dvqp: *mut sys::acceldv_qp_ex,
    attr: *const sys::acceldv_digest_attr,
    part_flags: u32,
    src: *const sys::ibv_sge,
    state: *const sys::ibv_sge,
    dst: *const sys::ibv_sge,
) {
    guard("acceldv_wr_digest_part", (), || {
        let fill = |wqe: &mut Wqe| {
            let flags = u8::try_from(part_flags).ok().filter(|&f| f != 0 && f & !digest_flags::KNOWN == 0);
            let (Some(flags), false, false, false) = (flags, attr.is_null(), src.is_null(), state.is_null()) else {
                return Err(libc::EINVAL);
            };
            // SAFETY: the application's attributes; its key, if any, one of this provider.
            let (attr, key) = unsafe { (*attr, key_number((*attr).key)) };
            let algorithm = u8::try_from(attr.alg).unwrap_or(u8::MAX);
            let params = DigestParams { algorithm, flags, key, seed: attr.seed, ..DigestParams::new_zeroed() };
            wqe.params.copy_from_slice(params.as_bytes());
            // SAFETY: the application's SGEs (`dst` NULL but for the last part).
            unsafe {
                wqe.src = sge_or_zero(src);
                wqe.aux[0] = sge_or_zero(state);
                wqe.dst = sge_or_zero(dst);
            }
            Ok(())
        };
        // SAFETY: builders are called inside a sequence.
        unsafe { begin(dvqp, Opcode::Digest, fill) }
    })
}

/// The WQE of a chained request: the compression's format and level from `comp` (one-shot),
/// the AES-GCM key, IV, AAD and tag from `crypto`.
///
/// # Safety
/// As [`fill_crypto`], for `comp` too.
unsafe fn fill_chain(
    wqe: &mut Wqe,
    comp: *const sys::acceldv_comp_attr,
    crypto: *const sys::acceldv_crypto_attr,
    src: *const sys::ibv_sge,
    dst: *const sys::ibv_sge,
) -> Result<(), c_int> {
    // SAFETY: the caller's contract.
    unsafe { fill_crypto(wqe, crypto, src, dst) }?;
    if comp.is_null() {
        return Err(libc::EINVAL);
    }
    // SAFETY: the caller's contract.
    let (comp, crypto) = unsafe { (*comp, *crypto) };
    if !comp.stream.is_null()
        || comp.flags != 0
        || comp.reserved != 0
        || crypto.data_unit != 0
        || crypto.iv[GCM_IV_LEN..] != [0; 4]
    {
        return Err(libc::EINVAL);
    }
    let mut iv = [0u8; GCM_IV_LEN];
    iv.copy_from_slice(&crypto.iv[..GCM_IV_LEN]);
    let params: CryptoParams = zerocopy::transmute!(wqe.params);
    let chain = ChainParams { format: comp.format, level: comp.level, key: params.key, iv, ..ChainParams::default() };
    wqe.params.copy_from_slice(chain.as_bytes());
    Ok(())
}

unsafe extern "C" fn wr_compress_encrypt(
    dvqp: *mut sys::acceldv_qp_ex,
    comp: *const sys::acceldv_comp_attr,
    crypto: *const sys::acceldv_crypto_attr,
    src: *const sys::ibv_sge,
    dst: *const sys::ibv_sge,
) {
    guard("acceldv_wr_compress_encrypt", (), || {
        // SAFETY: builders are called inside a sequence with the application's arguments.
        unsafe { begin(dvqp, Opcode::CompressEncrypt, |wqe| fill_chain(wqe, comp, crypto, src, dst)) }
    })
}

unsafe extern "C" fn wr_decrypt_decompress(
    dvqp: *mut sys::acceldv_qp_ex,
    comp: *const sys::acceldv_comp_attr,
    crypto: *const sys::acceldv_crypto_attr,
    src: *const sys::ibv_sge,
    dst: *const sys::ibv_sge,
) {
    guard("acceldv_wr_decrypt_decompress", (), || {
        // SAFETY: builders are called inside a sequence with the application's arguments.
        unsafe { begin(dvqp, Opcode::DecryptDecompress, |wqe| fill_chain(wqe, comp, crypto, src, dst)) }
    })
}

/// The SGE-list builders: the single-SGE ones' parameters, the sides as lists.
macro_rules! list_builder {
    ($name:ident, $attr:ty, $params:ident, $opcode:expr) => {
        unsafe extern "C" fn $name(
            dvqp: *mut sys::acceldv_qp_ex,
            attr: *const $attr,
            src: *const sys::ibv_sge,
            num_src: usize,
            dst: *const sys::ibv_sge,
            num_dst: usize,
        ) {
            guard(concat!("acceldv_", stringify!($name)), (), || {
                // SAFETY: builders are called inside a sequence with the application's
                // arguments: `attr` and lists of `num_src` and `num_dst` entries.
                unsafe { begin_gathered(dvqp, $opcode, |wqe| $params(wqe, attr), (src, num_src), (dst, num_dst)) }
            })
        }
    };
}
list_builder!(wr_compress_list, sys::acceldv_comp_attr, codec_params, Opcode::Compress);
list_builder!(wr_decompress_list, sys::acceldv_comp_attr, codec_params, Opcode::Decompress);
list_builder!(wr_encrypt_list, sys::acceldv_crypto_attr, crypto_params, Opcode::Encrypt);
list_builder!(wr_decrypt_list, sys::acceldv_crypto_attr, crypto_params, Opcode::Decrypt);

/// A crypto key as C holds it (`struct acceldv_crypto_key` is opaque).
struct PluginKey {
    key: CryptoKey,
    /// Its PD, which refuses to go while the key exists.
    pd: *mut sys::ibv_pd,
}

/// Makes a key in `pd`, unwrapped under `kek` if given.
///
/// # Safety
/// `pd` is a PD of this provider; `material` has `length` readable bytes (checked for NULL);
/// `kek` is NULL or a key of this provider.
unsafe fn create_key(
    pd: *mut sys::ibv_pd,
    alg: sys::acceldv_key_alg,
    material: *const c_void,
    length: usize,
    kek: *mut sys::acceldv_crypto_key,
) -> *mut sys::acceldv_crypto_key {
    if pd.is_null() || material.is_null() {
        return null_with(libc::EINVAL);
    }
    let Ok(algorithm) = KeyAlgorithm::try_from(alg) else { return null_with(libc::EINVAL) };
    // SAFETY: the caller's contract; the bytes are read during this call only.
    let bytes = unsafe { std::slice::from_raw_parts(material.cast::<u8>(), length) };
    // SAFETY: a PD of this provider.
    let plugin_pd = unsafe { PluginPd::from_ibv(pd) };
    // SAFETY: the caller's contract.
    let made = match unsafe { kek.cast::<PluginKey>().as_ref() } {
        None => plugin_pd.pd.create_crypto_key(algorithm, bytes),
        Some(kek) => plugin_pd.pd.create_wrapped_crypto_key(algorithm, &kek.key, bytes),
    };
    match made {
        Ok(key) => {
            plugin_pd.hold();
            leak(PluginKey { key, pd }).cast()
        }
        Err(e) => null_with(errno_of(&e)),
    }
}

#[no_mangle]
pub unsafe extern "C" fn acceldv_create_crypto_key(
    pd: *mut sys::ibv_pd,
    alg: sys::acceldv_key_alg,
    material: *const c_void,
    length: usize,
) -> *mut sys::acceldv_crypto_key {
    // SAFETY: the application's PD and material.
    guard("acceldv_create_crypto_key", std::ptr::null_mut(), || unsafe {
        create_key(pd, alg, material, length, std::ptr::null_mut())
    })
}

#[no_mangle]
pub unsafe extern "C" fn acceldv_create_wrapped_crypto_key(
    pd: *mut sys::ibv_pd,
    alg: sys::acceldv_key_alg,
    wrapped: *const c_void,
    length: usize,
    kek: *mut sys::acceldv_crypto_key,
) -> *mut sys::acceldv_crypto_key {
    guard("acceldv_create_wrapped_crypto_key", std::ptr::null_mut(), || {
        if kek.is_null() {
            return null_with(libc::EINVAL);
        }
        // SAFETY: the application's PD, material and key-encryption key.
        unsafe { create_key(pd, alg, wrapped, length, kek) }
    })
}

#[no_mangle]
pub unsafe extern "C" fn acceldv_destroy_crypto_key(key: *mut sys::acceldv_crypto_key) -> c_int {
    guard("acceldv_destroy_crypto_key", libc::EIO, || {
        if key.is_null() {
            return libc::EINVAL;
        }
        let raw = key.cast::<PluginKey>();
        // SAFETY: a key `acceldv_create_crypto_key` made and the application still holds.
        if let Err(e) = unsafe { &*raw }.key.try_destroy() {
            return errno_of(&e);
        }
        // SAFETY: destroyed on the device; the application gives the key up.
        let pd = unsafe { reclaim(raw) }.pd;
        // SAFETY: the PD outlives its keys (it refuses to go while they exist).
        unsafe { PluginPd::from_ibv(pd) }.release();
        0
    })
}

/// A compression context as C holds it (`struct acceldv_comp_stream` is opaque).
struct PluginStream {
    stream: CompressionStream,
    /// Its PD, which refuses to go while the stream exists.
    pd: *mut sys::ibv_pd,
}

#[no_mangle]
pub unsafe extern "C" fn acceldv_create_comp_stream(
    pd: *mut sys::ibv_pd,
    format: sys::acceldv_comp_format,
    direction: sys::acceldv_comp_direction,
    level: c_int,
) -> *mut sys::acceldv_comp_stream {
    guard("acceldv_create_comp_stream", std::ptr::null_mut(), || {
        if pd.is_null() {
            return null_with(libc::EINVAL);
        }
        let Ok(format) = u8::try_from(format).map_err(drop).and_then(|f| Format::try_from(f).map_err(drop)) else {
            return null_with(libc::EINVAL);
        };
        let Ok(level) = i8::try_from(level) else { return null_with(libc::EINVAL) };
        // SAFETY: a PD of this provider.
        let plugin_pd = unsafe { PluginPd::from_ibv(pd) };
        let made = match direction {
            sys::ACCELDV_COMP_COMPRESS => plugin_pd.pd.compression_stream(format, level),
            sys::ACCELDV_COMP_DECOMPRESS if level == 0 => plugin_pd.pd.decompression_stream(format),
            _ => return null_with(libc::EINVAL),
        };
        match made {
            Ok(stream) => {
                plugin_pd.hold();
                leak(PluginStream { stream, pd }).cast()
            }
            Err(e) => null_with(errno_of(&e)),
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn acceldv_destroy_comp_stream(stream: *mut sys::acceldv_comp_stream) -> c_int {
    guard("acceldv_destroy_comp_stream", libc::EIO, || {
        if stream.is_null() {
            return libc::EINVAL;
        }
        let raw = stream.cast::<PluginStream>();
        // SAFETY: a stream `acceldv_create_comp_stream` made and the application still holds.
        if let Err(e) = unsafe { &*raw }.stream.try_destroy() {
            return errno_of(&e);
        }
        // SAFETY: destroyed on the device; the application gives the stream up.
        let pd = unsafe { reclaim(raw) }.pd;
        // SAFETY: the PD outlives its streams (it refuses to go while they exist).
        unsafe { PluginPd::from_ibv(pd) }.release();
        0
    })
}

#[no_mangle]
pub unsafe extern "C" fn acceldv_poll_cq(cq: *mut sys::ibv_cq, num_entries: c_int, wc: *mut sys::acceldv_wc) -> c_int {
    guard("acceldv_poll_cq", -1, || {
        let Ok(wanted) = usize::try_from(num_entries) else { return -1 };
        if cq.is_null() || (wc.is_null() && wanted > 0) {
            return -1;
        }
        // SAFETY: a CQ of this provider.
        let plugin = unsafe { PluginCq::from_ibv(cq) };
        let fill = |i: usize, c: &WorkCompletion| {
            let out = sys::acceldv_wc {
                wc: ibv_wc(c),
                opcode: c.opcode,
                flags: c.flags,
                checksum: c.checksum(),
                consumed: c.consumed(),
                ..Default::default()
            };
            // SAFETY: the caller's array has `num_entries` entries; `poll_with` hands out
            // indexes below `wanted`.
            unsafe { wc.add(i).write(out) };
        };
        plugin.poll_with(wanted, fill) as c_int
    })
}

#[cfg(test)]
mod tests {
    use std::mem::offset_of;

    use accelverbs::uapi::crypto::DigestAlgorithm;
    use accelverbs::uapi::{compress, cqe, wqe};
    use accelverbs::{CqeStatus, Format, KeyAlgorithm, StreamDirection};

    use crate::sys;

    /// Programs built against an older acceldv.h find the builders where that header put them:
    /// members are only appended, and the comp_mask bits that announce them are none an older
    /// plugin stored there (it kept the QP's `ACCELDV_QP_EX_WITH_*` flags in comp_mask).
    #[test]
    fn acceldv_structures_only_grow_at_their_end() {
        let acceldv_1_1 = [
            ("comp_mask", offset_of!(sys::acceldv_qp_ex, comp_mask), 0),
            ("wr_nop", offset_of!(sys::acceldv_qp_ex, wr_nop), 8),
            ("wr_copy", offset_of!(sys::acceldv_qp_ex, wr_copy), 16),
            ("wr_compress", offset_of!(sys::acceldv_qp_ex, wr_compress), 24),
            ("wr_decompress", offset_of!(sys::acceldv_qp_ex, wr_decompress), 32),
            ("wr_encrypt", offset_of!(sys::acceldv_qp_ex, wr_encrypt), 40),
            ("wr_decrypt", offset_of!(sys::acceldv_qp_ex, wr_decrypt), 48),
            ("wr_digest", offset_of!(sys::acceldv_qp_ex, wr_digest), 56),
            ("wr_compress_encrypt", offset_of!(sys::acceldv_qp_ex, wr_compress_encrypt), 64),
            ("wr_decrypt_decompress", offset_of!(sys::acceldv_qp_ex, wr_decrypt_decompress), 72),
            ("opcodes_hi", offset_of!(sys::acceldv_device_attr, opcodes_hi), 32),
            ("acceldv_device_attr", size_of::<sys::acceldv_device_attr>(), 64),
        ];
        for (member, offset, then) in acceldv_1_1 {
            assert_eq!(offset, then, "{member} moved");
        }
        assert!(offset_of!(sys::acceldv_qp_ex, wr_compress_list) >= 80, "the list builders follow the old ones");
        assert_eq!(offset_of!(sys::acceldv_qp_ex, wr_decrypt_list), 104, "the list builders stay where they were");
        assert!(offset_of!(sys::acceldv_qp_ex, wr_digest_part) >= 112, "the digest part builder follows them");
        assert_eq!(u64::from(sys::ACCELDV_QP_EX_MASK_DIGEST_PARTS) & super::ALL_OPS, 0);
        assert_eq!(sys::ACCELDV_QP_EX_MASK_DIGEST_PARTS & sys::ACCELDV_QP_EX_MASK_SGE_LISTS, 0);
        assert_eq!(u64::from(sys::ACCELDV_QP_EX_MASK_SGE_LISTS) & super::ALL_OPS, 0);
        assert!(u64::from(sys::ACCELDV_QP_EX_MASK_SGE_LISTS) >= 1 << 16, "bits 0-15 are never used");
    }

    /// acceldv.h restates numbers of the device ABI for C; they must be the same.
    #[test]
    fn the_header_speaks_the_device_abi() {
        let opcodes = [
            (sys::ACCELDV_OP_NOP, wqe::Opcode::Nop),
            (sys::ACCELDV_OP_COPY, wqe::Opcode::Copy),
            (sys::ACCELDV_OP_RDMA_WRITE, wqe::Opcode::RdmaWrite),
            (sys::ACCELDV_OP_RDMA_READ, wqe::Opcode::RdmaRead),
            (sys::ACCELDV_OP_SEND, wqe::Opcode::Send),
            (sys::ACCELDV_OP_COMPRESS, wqe::Opcode::Compress),
            (sys::ACCELDV_OP_DECOMPRESS, wqe::Opcode::Decompress),
            (sys::ACCELDV_OP_ENCRYPT, wqe::Opcode::Encrypt),
            (sys::ACCELDV_OP_DECRYPT, wqe::Opcode::Decrypt),
            (sys::ACCELDV_OP_DIGEST, wqe::Opcode::Digest),
            (sys::ACCELDV_OP_COMPRESS_ENCRYPT, wqe::Opcode::CompressEncrypt),
            (sys::ACCELDV_OP_DECRYPT_DECOMPRESS, wqe::Opcode::DecryptDecompress),
        ];
        assert_eq!(opcodes.len(), wqe::Opcode::ALL.len(), "every opcode has its acceldv name");
        let keys = [
            (sys::ACCELDV_KEY_AES_128_GCM, KeyAlgorithm::Aes128Gcm),
            (sys::ACCELDV_KEY_AES_256_GCM, KeyAlgorithm::Aes256Gcm),
            (sys::ACCELDV_KEY_AES_128_XTS, KeyAlgorithm::Aes128Xts),
            (sys::ACCELDV_KEY_AES_256_XTS, KeyAlgorithm::Aes256Xts),
            (sys::ACCELDV_KEY_HMAC_SHA256, KeyAlgorithm::HmacSha256),
            (sys::ACCELDV_KEY_AES_128_KW, KeyAlgorithm::AesKeyWrap128),
            (sys::ACCELDV_KEY_AES_256_KW, KeyAlgorithm::AesKeyWrap256),
        ];
        assert_eq!(keys.len(), KeyAlgorithm::ALL.len());
        for (c, ours) in keys {
            assert_eq!(c, ours as u32, "{ours:?}");
        }
        let digests = [
            (sys::ACCELDV_DIGEST_SHA256, DigestAlgorithm::Sha256),
            (sys::ACCELDV_DIGEST_HMAC_SHA256, DigestAlgorithm::HmacSha256),
            (sys::ACCELDV_DIGEST_CRC32C, DigestAlgorithm::Crc32c),
        ];
        for (c, ours) in digests {
            assert_eq!(c, ours as u32, "{ours:?}");
        }
        assert_eq!(sys::ACCELDV_DIGEST_MORE, u32::from(super::digest_flags::MORE));
        assert_eq!(sys::ACCELDV_DIGEST_RESUME, u32::from(super::digest_flags::RESUME));
        assert_eq!(sys::ACCELDV_DIGEST_STATE_LEN as usize, size_of::<accelverbs::uapi::crypto::DigestState>());
        for (c, ours) in opcodes {
            assert_eq!(c, ours as u32, "{ours:?}");
        }
        let formats = [
            (sys::ACCELDV_COMP_DEFLATE, Format::Deflate),
            (sys::ACCELDV_COMP_ZLIB, Format::Zlib),
            (sys::ACCELDV_COMP_GZIP, Format::Gzip),
            (sys::ACCELDV_COMP_LZ4_FRAME, Format::Lz4Frame),
            (sys::ACCELDV_COMP_LZ4_BLOCK, Format::Lz4Block),
            (sys::ACCELDV_COMP_ZSTD, Format::Zstd),
        ];
        for (c, ours) in formats {
            assert_eq!(c, ours as u32, "{ours:?}");
        }
        assert_eq!(sys::ACCELDV_COMP_COMPRESS, StreamDirection::Compress as u32);
        assert_eq!(sys::ACCELDV_COMP_DECOMPRESS, StreamDirection::Decompress as u32);
        assert_eq!(sys::ACCELDV_COMP_FLUSH, u32::from(compress::flags::FLUSH));
        assert_eq!(sys::ACCELDV_COMP_FINISH, u32::from(compress::flags::FINISH));
        let statuses = [
            (sys::ACCELDV_WC_OUTPUT_TOO_SMALL, CqeStatus::OutputTooSmall),
            (sys::ACCELDV_WC_CORRUPT_INPUT, CqeStatus::CorruptInput),
            (sys::ACCELDV_WC_TRUNCATED_INPUT, CqeStatus::TruncatedInput),
            (sys::ACCELDV_WC_OUTPUT_LIMIT, CqeStatus::OutputLimit),
            (sys::ACCELDV_WC_AUTH_FAILED, CqeStatus::AuthenticationFailed),
        ];
        for (c, ours) in statuses {
            assert_eq!(c, ours as u32, "{ours:?}");
        }
        assert_eq!(sys::ACCELDV_WC_END_OF_STREAM, u32::from(cqe::flags::END_OF_STREAM));
    }
}
