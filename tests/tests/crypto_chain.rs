//! The chained operations: COMPRESS_ENCRYPT's output decrypts with an independent AES-GCM
//! (Python's `cryptography`) to a stream that stock gzip and the device's decompressor both
//! accept; DECRYPT_DECOMPRESS gives the input back; a tampered tag leaves no plaintext; the
//! completion reports both stages; and the request rules.

use accelverbs::{
    Access, CompressEncrypt, CqeStatus, CryptoKey, Decompress, DecryptDecompress, ExecPolicy, Format, KeyAlgorithm, Nop, QpState,
    VendorError,
};
use accelverbs_tests::stock;
use accelverbs_tests::{pattern, poll_n, Traffic};

const IV: [u8; 12] = *b"block-000042";
const AAD: &[u8] = b"volume 7, lba 42";

/// `sealed` (ciphertext then tag) opened by OpenSSL.
fn openssl_open(key: &[u8], sealed: &[u8]) -> Vec<u8> {
    accelverbs_tests::openssl::gcm(true, key, &IV, AAD, sealed).expect("cryptography refused the device's ciphertext")
}

struct Setup {
    t: Traffic,
    material: Vec<u8>,
    key: CryptoKey,
}

fn setup(policy: ExecPolicy) -> Setup {
    let t = Traffic::new(1, policy, 8);
    let material = pattern(11, 32);
    let key = t.base.pd.create_crypto_key(KeyAlgorithm::Aes256Gcm, &material).unwrap();
    Setup { t, material, key }
}

/// COMPRESS_ENCRYPT of `plain` into a `room`-byte output: the completion and the output
/// (ciphertext then tag, as long as the completion says).
fn compress_encrypt(s: &mut Setup, plain: &[u8], room: usize) -> (accelverbs::WorkCompletion, Vec<u8>) {
    let input = s.t.base.pd.reg_mr(plain.to_vec(), Access::empty()).unwrap();
    let aad = s.t.base.pd.reg_mr(AAD.to_vec(), Access::empty()).unwrap();
    let mut out = s.t.base.pd.alloc_mr(room, Access::LOCAL_WRITE).unwrap();
    let mut tag = s.t.base.pd.alloc_mr(16, Access::LOCAL_WRITE).unwrap();
    let n = plain.len() as u32;
    let wr = CompressEncrypt::new(
        1,
        Format::Gzip,
        6,
        &s.key,
        IV,
        input.slice(0, n),
        out.slice_mut(0, room as u32),
        tag.slice_mut(0, 16),
    );
    s.t.qp.post(wr.aad(aad.slice(0, AAD.len() as u32))).unwrap();
    let wc = poll_n(&mut s.t.cq, 1)[0];
    let mut sealed = out.as_slice().unwrap()[..wc.byte_len as usize].to_vec();
    sealed.extend_from_slice(tag.as_slice().unwrap());
    (wc, sealed)
}

/// Bytes of the output region past the request's `room`, to see that nothing lands there.
const FENCE: usize = 64;

/// DECRYPT_DECOMPRESS of `sealed` (ciphertext then tag) into a `room`-byte output (of a region
/// `FENCE` bytes longer, all 0x55 first).
fn decrypt_decompress(s: &mut Setup, sealed: &[u8], room: usize) -> (accelverbs::WorkCompletion, Vec<u8>) {
    let (cipher, tag_bytes) = sealed.split_at(sealed.len() - 16);
    let input = s.t.base.pd.reg_mr(cipher.to_vec(), Access::empty()).unwrap();
    let tag = s.t.base.pd.reg_mr(tag_bytes.to_vec(), Access::empty()).unwrap();
    let aad = s.t.base.pd.reg_mr(AAD.to_vec(), Access::empty()).unwrap();
    let mut out = s.t.base.pd.reg_mr(vec![0x55; room + FENCE], Access::LOCAL_WRITE).unwrap();
    let n = cipher.len() as u32;
    let wr =
        DecryptDecompress::new(2, Format::Gzip, &s.key, IV, input.slice(0, n), out.slice_mut(0, room as u32), tag.slice(0, 16));
    s.t.qp.post(wr.aad(aad.slice(0, AAD.len() as u32))).unwrap();
    let wc = poll_n(&mut s.t.cq, 1)[0];
    (wc, out.as_slice().unwrap().to_vec())
}

#[test]
fn compress_then_encrypt_opens_with_openssl_to_a_stream_gzip_and_the_device_accept() {
    for policy in [ExecPolicy::Inline, ExecPolicy::Threads] {
        let mut s = setup(policy);
        let plain = stock::compressible(5, 64 << 10);
        let (wc, sealed) = compress_encrypt(&mut s, &plain, plain.len());
        assert_eq!(wc.status, CqeStatus::Success, "{wc:?}");
        // Both stages reported: the compressed size, the input used, the plain data's CRC-32.
        assert!(wc.byte_len > 0 && (wc.byte_len as usize) < plain.len() / 2, "compressed to {}", wc.byte_len);
        assert_eq!((wc.consumed() as usize, Some(wc.checksum())), (plain.len(), stock::checksum(Format::Gzip, &plain)));
        assert!(wc.end_of_stream());
        let stream = openssl_open(&s.material, &sealed);
        assert!(stock::decompress(Format::Gzip, &stream, plain.len()) == plain, "stock gzip");
        // And the device's own decompressor.
        let packed = s.t.base.pd.reg_mr(stream.clone(), Access::empty()).unwrap();
        let mut back = s.t.base.pd.alloc_mr(plain.len(), Access::LOCAL_WRITE).unwrap();
        let wr = Decompress::new(3, Format::Gzip, packed.slice(0, stream.len() as u32), back.slice_mut(0, plain.len() as u32));
        s.t.qp.post(wr).unwrap();
        assert_eq!(poll_n(&mut s.t.cq, 1)[0].status, CqeStatus::Success);
        assert!(back.as_slice().unwrap() == &plain[..], "{policy:?}");
    }
}

#[test]
fn decrypt_then_decompress_gives_the_input_back_and_leaves_nothing_else() {
    let mut s = setup(ExecPolicy::Inline);
    let plain = stock::compressible(6, 100_000);
    let (_, sealed) = compress_encrypt(&mut s, &plain, plain.len());
    let room = plain.len() + 4096;
    let (wc, out) = decrypt_decompress(&mut s, &sealed, room);
    assert_eq!((wc.status, wc.byte_len as usize), (CqeStatus::Success, plain.len()), "{wc:?}");
    assert_eq!(Some(wc.checksum()), stock::checksum(Format::Gzip, &plain));
    assert!(out[..plain.len()] == plain[..]);
    assert!(out[room..].iter().all(|&b| b == 0x55), "nothing past the destination range");

    // Compressed data longer than its plain text (incompressible input): what the staged
    // decryption left past the output is zeroed, not left as plaintext.
    let noise = pattern(7, 300);
    let (_, sealed) = compress_encrypt(&mut s, &noise, 400);
    let cipher_len = sealed.len() - 16;
    assert!(cipher_len > noise.len());
    let (wc, out) = decrypt_decompress(&mut s, &sealed, 400);
    assert_eq!((wc.status, &out[..noise.len()]), (CqeStatus::Success, &noise[..]));
    assert!(out[noise.len()..cipher_len].iter().all(|&b| b == 0), "the rest of the decrypted stream is zeroed");
    assert!(out[400..].iter().all(|&b| b == 0x55), "nothing past the destination range");
}

#[test]
fn a_tampered_chain_leaves_no_plaintext_and_the_qp_goes_on() {
    let mut s = setup(ExecPolicy::Inline);
    let plain = stock::compressible(8, 8192);
    let (_, sealed) = compress_encrypt(&mut s, &plain, plain.len());
    for flip in [0, sealed.len() - 1] {
        let mut bad = sealed.clone();
        bad[flip] ^= 1;
        let (wc, out) = decrypt_decompress(&mut s, &bad, plain.len());
        assert_eq!(wc.status, CqeStatus::AuthenticationFailed, "byte {flip} flipped");
        assert!(out[..bad.len() - 16].iter().all(|&b| b == 0), "no plaintext, not even compressed");
        assert_eq!(s.t.qp.query_state().unwrap(), QpState::Rts);
    }
    // Output too small for the compressed data: the compression stage's status; the QP goes on.
    let (wc, _) = compress_encrypt(&mut s, &pattern(9, 4096), 100);
    assert_eq!(wc.status, CqeStatus::OutputTooSmall);
    s.t.qp.post(Nop::new(9)).unwrap();
    assert!(poll_n(&mut s.t.cq, 1)[0].is_success());
}

#[test]
fn a_chain_needs_a_gcm_key_and_room_for_its_input() {
    let mut s = setup(ExecPolicy::Inline);
    let plain = stock::compressible(10, 4096);
    let (_, sealed) = compress_encrypt(&mut s, &plain, plain.len());
    let (wc, _) = decrypt_decompress(&mut s, &sealed, (sealed.len() - 16) / 2);
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::LocalLengthError, VendorError::DestinationTooSmall));

    let mut s = setup(ExecPolicy::Inline);
    s.key = s.t.base.pd.create_crypto_key(KeyAlgorithm::Aes128Xts, &pattern(3, 32)).unwrap();
    let (wc, _) = compress_encrypt(&mut s, &plain, plain.len());
    assert_eq!((wc.status, wc.vendor_err), (CqeStatus::LocalQpOperationError, VendorError::WrongKeyAlgorithm));
    assert_eq!(s.t.qp.query_state().unwrap(), QpState::Err);
}
