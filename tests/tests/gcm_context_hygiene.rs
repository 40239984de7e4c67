//! After an AES-GCM request streamed through SGE lists, and its key and context gone, none of
//! the library's per-request context (keystream blocks, the GHASH state) is left in the
//! process's writable memory. Its own test binary, as key_hygiene.rs.

use accelverbs::{Access, Encrypt, ExecPolicy, KeyAlgorithm, TAG_LEN};
use accelverbs_tests::memory_scan::{find_in_memory, SecretPage};
use accelverbs_tests::{embedded_only, pattern, poll_n, Traffic};

/// What intel-ipsec-mb's per-request context holds after the data, computed with OpenSSL's AES:
/// the GHASH state (with the AAD and ciphertext known, a GHASH value gives the hash key H as a
/// polynomial root: a forger's key) with the last partial block added, and after the length
/// block, each in both byte orders; and the unused bytes of the last keystream block.
fn gcm_secrets(key: &[u8], iv: &[u8; 12], aad: &[u8], plain: &[u8]) -> Vec<Vec<u8>> {
    let script = r#"
import sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
k, iv, aad, pt = (bytes.fromhex(a) for a in sys.argv[1:5])
ecb = lambda b: (lambda e: e.update(b) + e.finalize())(Cipher(algorithms.AES(k), modes.ECB()).encryptor())
H = int.from_bytes(ecb(bytes(16)), 'big')
def mul(x, y):
    R, z, v = 0xe1 << 120, 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1: z ^= v
        v = (v >> 1) ^ R if v & 1 else v >> 1
    return z
def blocks(b):
    b = b + bytes(-len(b) % 16)
    return [int.from_bytes(b[i:i + 16], 'big') for i in range(0, len(b), 16)]
ks = [ecb(iv + (2 + i).to_bytes(4, 'big')) for i in range((len(pt) + 15) // 16)]
ct = bytes(p ^ ks[i // 16][i % 16] for i, p in enumerate(pt))
full = len(ct) // 16 * 16
y = 0
for x in blocks(aad) + blocks(ct[:full]):
    y = mul(y ^ x, H)
# The library's running state: the partial block's ciphertext added, not yet multiplied; its
# keystream block, the used bytes replaced by ciphertext (the unused ones are pure keystream).
partial = y ^ blocks(ct[full:])[0] if full < len(ct) else y
final = mul(y ^ (blocks(ct[full:])[0] if full < len(ct) else 0), H) if full < len(ct) else y
final = mul(final ^ ((len(aad) * 8) << 64 | len(ct) * 8), H)
out = [v.to_bytes(16, 'big') for v in (partial, final)]
out = [o for v in out for o in (v, v[::-1])]
if full < len(ct):
    out.append(ks[-1][len(ct) - full:])
for o in out:
    print(o.hex())
"#;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script, &hex(key), &hex(iv), &hex(aad), &hex(plain)])
        .output()
        .expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| (0..l.len()).step_by(2).map(|i| u8::from_str_radix(&l[i..i + 2], 16).unwrap()).collect())
        .collect()
}

/// An AES-128-GCM request gathered from odd pieces (the library streams them through a context
/// of the engine's), then the key destroyed and the context closed: no keystream block of the
/// request and no GHASH state is left in the process's memory (gcm_key.rs: "every context
/// [is] zeroed when done with").
#[test]
fn no_gcm_context_survives_a_gathered_request() {
    if embedded_only("the scan reads this process's memory, not the daemon's") {
        return;
    }
    let page = SecretPage::new(16, 41);
    let iv = [0x5a; 12];
    let aad = pattern(42, 24);
    let plain = pattern(43, 4001);
    // The secrets live in a page of their own, excluded from the scan, never in a `Vec` of the
    // test once copied there.
    let mut computed = gcm_secrets(page.bytes(16), &iv, &aad, &plain);
    let mut secrets = SecretPage::new(0, 0);
    for (i, secret) in computed.iter_mut().enumerate() {
        // 5 secrets of at most 16 bytes, 16 apart, fit the page.
        secrets.bytes_mut(i * 16 + secret.len())[i * 16..].copy_from_slice(secret);
        secret.fill(0);
        std::hint::black_box(&secret);
    }
    let lens: Vec<usize> = computed.iter().map(Vec::len).collect();
    drop(computed);
    {
        let mut t = Traffic::new(1, ExecPolicy::Threads, 8);
        let key = t.base.pd.create_crypto_key(KeyAlgorithm::Aes128Gcm, page.bytes(16)).unwrap();
        let data = t.base.pd.reg_mr(plain.clone(), Access::empty()).unwrap();
        let aad_mr = t.base.pd.reg_mr(aad.clone(), Access::empty()).unwrap();
        let mut out = t.base.pd.alloc_mr(4001, Access::LOCAL_WRITE).unwrap();
        let mut tag = t.base.pd.alloc_mr(TAG_LEN, Access::LOCAL_WRITE).unwrap();
        let halves = [data.slice(0, 1000), data.slice(1000, 3001)];
        let (head, rest) = out.slice_mut(0, 4001).split_at(2000);
        t.qp.post(Encrypt::gather(1, &key, iv, &halves, vec![head, rest], tag.slice_mut(0, 16)).aad(aad_mr.slice(0, 24)))
            .unwrap();
        assert!(poll_n(&mut t.cq, 1)[0].is_success());
        // The test's own copies of the output and tag go (they hold no secret).
        out.as_mut_slice().unwrap().fill(0);
        tag.as_mut_slice().unwrap().fill(0);
        key.try_destroy().unwrap();
    }
    assert_eq!(lens, [16, 16, 16, 16, 15], "GHASH states and the keystream's unused bytes");
    let mut left = Vec::new();
    for (i, &len) in lens.iter().enumerate() {
        let secret = &secrets.bytes(lens.len() * 16)[i * 16..i * 16 + len];
        for hit in find_in_memory(secret, &[page.range(), secrets.range()]) {
            left.push(format!("{} ({i}) at {hit}", ["GHASH state", "GHASH state", "GHASH", "GHASH", "keystream"][i]));
        }
    }
    assert!(left.is_empty(), "{left:#?}");
}

/// A DECRYPT whose tag does not check computes the tag that would have checked: for altered
/// ciphertext, a forgery. It must not stay in the device's memory either (one range a side and
/// through lists).
#[test]
fn a_failed_tag_leaves_no_forgery_behind() {
    if embedded_only("the scan reads this process's memory, not the daemon's") {
        return;
    }
    use accelverbs::{CqeStatus, Decrypt};
    let page = SecretPage::new(32, 51);
    let iv = [0x3c; 12];
    let plain = pattern(53, 777);
    let sealed = accelverbs_tests::openssl::gcm(false, page.bytes(32), &iv, &[], &plain).unwrap();
    let (cipher, tag) = sealed.split_at(777);
    let mut altered = cipher.to_vec();
    altered[100] ^= 0x20;
    // The tag of the altered ciphertext: GCM is a counter mode, so it is the tag of the plaintext
    // altered alike.
    // (Computed as hex and parsed straight into a page of its own: no raw copy in the test's heap.)
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let script = "import sys\nfrom cryptography.hazmat.primitives.ciphers.aead import AESGCM\n\
                  k, iv, pt = (bytes.fromhex(a) for a in sys.argv[1:4])\n\
                  pt = bytearray(pt); pt[100] ^= 0x20\n\
                  print(AESGCM(k).encrypt(iv, bytes(pt), None)[-16:].hex())\n";
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script, &hex(page.bytes(32)), &hex(&iv), &hex(&plain)])
        .output()
        .expect("python3");
    let line = String::from_utf8(out.stdout).unwrap();
    let mut secrets = SecretPage::new(0, 0);
    for (i, byte) in secrets.bytes_mut(16).iter_mut().enumerate() {
        *byte = u8::from_str_radix(&line[2 * i..2 * i + 2], 16).unwrap();
    }
    assert!(secrets.bytes(16) != tag);
    {
        let mut t = Traffic::new(1, ExecPolicy::Threads, 8);
        let key = t.base.pd.create_crypto_key(KeyAlgorithm::Aes256Gcm, page.bytes(32)).unwrap();
        let data = t.base.pd.reg_mr(altered.clone(), Access::empty()).unwrap();
        let tag_mr = t.base.pd.reg_mr(tag.to_vec(), Access::empty()).unwrap();
        let mut out = t.base.pd.alloc_mr(777, Access::LOCAL_WRITE).unwrap();
        t.qp.post(Decrypt::new(1, &key, iv, data.slice(0, 777), out.slice_mut(0, 777), tag_mr.slice(0, 16))).unwrap();
        assert_eq!(poll_n(&mut t.cq, 1)[0].status, CqeStatus::AuthenticationFailed);
        let halves = [data.slice(0, 300), data.slice(300, 477)];
        let (head, rest) = out.slice_mut(0, 777).split_at(5);
        t.qp.post(Decrypt::gather(2, &key, iv, &halves, vec![head, rest], tag_mr.slice(0, 16))).unwrap();
        assert_eq!(poll_n(&mut t.cq, 1)[0].status, CqeStatus::AuthenticationFailed);
        key.try_destroy().unwrap();
    }
    let hits = find_in_memory(secrets.bytes(16), &[page.range(), secrets.range()]);
    assert!(hits.is_empty(), "the forged tag left at {hits:#?}");
}
