//! Review of AES-GCM on intel-ipsec-mb (commit 26a7d82): random sizes, AAD lengths, key sizes
//! and list cuts (zero-length entries, odd sizes, in place cut alike and cut differently),
//! checked against OpenSSL through Python's `cryptography` in one batch; tampered tag, AAD and
//! ciphertext leave zeros; many threads creating the first keys of a fresh process at once.

use std::io::Write;
use std::process::{Command, Stdio};

use accelverbs::uapi::crypto::{flags as crypto_flags, CryptoParams};
use accelverbs::uapi::wqe::{flags, Opcode, Sge, Wqe};
use accelverbs::{Access, CqeStatus, CryptoKey, ExecPolicy, KeyAlgorithm, MemoryRegion, RawWqe, WorkCompletion};
use accelverbs_tests::{pattern, poll_n, Traffic};
use zerocopy::IntoBytes;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// xorshift for the test's choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// One vector: key, IV, AAD, plaintext.
struct Case {
    key: Vec<u8>,
    iv: [u8; 12],
    aad: Vec<u8>,
    plain: Vec<u8>,
}

/// Ciphertext || tag of every case, by OpenSSL, one Python process for all.
fn openssl_seal_all(cases: &[Case]) -> Vec<Vec<u8>> {
    let script = "import sys\nfrom cryptography.hazmat.primitives.ciphers.aead import AESGCM\n\
                  for line in sys.stdin:\n\
                  \x20   k, iv, aad, pt = (bytes.fromhex(x) for x in line.split(','))\n\
                  \x20   print(AESGCM(k).encrypt(iv, pt, aad or None).hex())\n";
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 with cryptography");
    let mut input = String::new();
    for c in cases {
        input += &format!("{},{},{},{}\n", hex(&c.key), hex(&c.iv), hex(&c.aad), hex(&c.plain));
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().lines().map(unhex).collect()
}

/// `len` bytes from `at` of `region` cut into `n` entries at random points (some empty).
fn cut(rng: &mut Rng, region: &MemoryRegion, at: usize, len: usize, n: usize) -> Vec<Sge> {
    let mut points: Vec<usize> = (0..n - 1).map(|_| rng.below(len as u64 + 1) as usize).collect();
    points.sort_unstable();
    let mut out = Vec::new();
    let mut from = 0;
    for p in points.into_iter().chain([len]) {
        out.push(region.sge(at + from, (p - from) as u32));
        from = p;
    }
    out
}

fn wqe(encrypt: bool, key: &CryptoKey, iv: [u8; 12], src: Sge, dst: Sge, aad: Sge, tag: Sge) -> Wqe {
    let mut wqe = Wqe::default();
    wqe.ctrl.opcode = if encrypt { Opcode::Encrypt } else { Opcode::Decrypt } as u8;
    wqe.ctrl.flags = flags::SIGNALED;
    let mut full = [0u8; 16];
    full[..12].copy_from_slice(&iv);
    let params = CryptoParams {
        key: key.number(),
        flags: crypto_flags::SRC_LIST | crypto_flags::DST_LIST,
        iv: full,
        ..CryptoParams::default()
    };
    wqe.params.copy_from_slice(params.as_bytes());
    (wqe.src, wqe.dst, wqe.aux[0], wqe.aux[1]) = (src, dst, aad, tag);
    wqe
}

fn run(t: &mut Traffic, wqe: Wqe) -> WorkCompletion {
    // SAFETY: every region the WQE names stays registered until the completion is polled, and
    // no Rust reference to its bytes is used meanwhile.
    t.qp.post(unsafe { RawWqe::new(wqe) }).unwrap();
    poll_n(&mut t.cq, 1)[0]
}

/// How a request lays its output over its input.
#[derive(Debug, Clone, Copy)]
enum Layout {
    Apart,
    InPlaceCutAlike,
    InPlaceCutDifferently,
}

#[test]
fn random_sizes_and_cuts_match_openssl_and_tampering_leaves_zeros() {
    let mut t = Traffic::new(1, ExecPolicy::Inline, 8);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let sizes = [0usize, 1, 15, 16, 17, 31, 255, 256, 257, 4095, 4096, 4097, 65535, 65536, 65537, 200_003];
    let mut cases = Vec::new();
    for (i, &fixed) in sizes.iter().chain([0usize; 24].iter()).enumerate() {
        let len = if i < sizes.len() { fixed } else { rng.below(70_000) as usize };
        let key_len = if rng.below(2) == 0 { 16 } else { 32 };
        let aad_len = [0, 1, 16, 17, rng.below(700) as usize][rng.below(5) as usize];
        let mut iv = [0u8; 12];
        iv.copy_from_slice(&pattern(rng.next(), 12));
        cases.push(Case {
            key: pattern(rng.next(), key_len),
            iv,
            aad: pattern(rng.next(), aad_len),
            plain: pattern(rng.next(), len),
        });
    }
    let expected = openssl_seal_all(&cases);
    assert_eq!(expected.len(), cases.len());
    for (i, (case, sealed)) in cases.iter().zip(&expected).enumerate() {
        let len = case.plain.len();
        let (cipher, good_tag) = sealed.split_at(len);
        let algorithm = if case.key.len() == 16 { KeyAlgorithm::Aes128Gcm } else { KeyAlgorithm::Aes256Gcm };
        let key = t.base.pd.create_crypto_key(algorithm, &case.key).unwrap();
        let layout = [Layout::Apart, Layout::InPlaceCutAlike, Layout::InPlaceCutDifferently][i % 3];
        // Guards of 64 bytes either side of every buffer the device writes.
        let mut src = t.base.pd.alloc_mr(len + 128, Access::LOCAL_WRITE).unwrap();
        let mut dst = t.base.pd.alloc_mr(len + 128, Access::LOCAL_WRITE).unwrap();
        let mut tag = t.base.pd.alloc_mr(16 + 128, Access::LOCAL_WRITE).unwrap();
        let aad = t.base.pd.reg_mr(if case.aad.is_empty() { vec![0] } else { case.aad.clone() }, Access::empty()).unwrap();
        let aad_sge = if case.aad.is_empty() { Sge::default() } else { aad.sge(0, case.aad.len() as u32) };
        let n_in = 1 + rng.below(16) as usize;
        let n_out = 1 + rng.below(16) as usize;

        for (encrypt, from, to) in [(true, &case.plain[..], cipher), (false, cipher, &case.plain[..])] {
            src.as_mut_slice().unwrap().fill(0xa5);
            src.as_mut_slice().unwrap()[64..64 + len].copy_from_slice(from);
            dst.as_mut_slice().unwrap().fill(0xa5);
            tag.as_mut_slice().unwrap().fill(0xa5);
            if !encrypt {
                tag.as_mut_slice().unwrap()[64..80].copy_from_slice(good_tag);
            }
            let ins = cut(&mut rng, &src, 64, len, n_in);
            let outs = match layout {
                Layout::Apart => cut(&mut rng, &dst, 64, len, n_out),
                Layout::InPlaceCutAlike => ins.clone(),
                Layout::InPlaceCutDifferently => cut(&mut rng, &src, 64, len, n_out),
            };
            let in_list = t.base.pd.reg_mr(ins.as_bytes().to_vec(), Access::empty()).unwrap();
            let out_list = t.base.pd.reg_mr(outs.as_bytes().to_vec(), Access::empty()).unwrap();
            let w = wqe(
                encrypt,
                &key,
                case.iv,
                in_list.sge(0, in_list.len() as u32),
                out_list.sge(0, out_list.len() as u32),
                aad_sge,
                tag.sge(64, 16),
            );
            let what =
                format!("case {i}: {len} bytes, key {}, aad {}, {layout:?}, enc {encrypt}", case.key.len(), case.aad.len());
            let wc = run(&mut t, w);
            assert_eq!((wc.status, wc.byte_len), (CqeStatus::Success, len as u32), "{what}");
            let out = match layout {
                Layout::Apart => &dst,
                _ => &src,
            };
            let bytes = out.as_slice().unwrap();
            assert!(bytes[64..64 + len] == *to, "{what}: output differs from OpenSSL");
            assert!(bytes[..64].iter().chain(&bytes[64 + len..]).all(|&b| b == 0xa5), "{what}: written outside");
            let tag_bytes = tag.as_slice().unwrap();
            assert!(tag_bytes[64..80] == *good_tag, "{what}: tag");
            assert!(tag_bytes[..64].iter().chain(&tag_bytes[80..]).all(|&b| b == 0xa5), "{what}: tag guard");
            if !matches!(layout, Layout::Apart) {
                continue;
            }
            // Tampered tag, AAD (when there is one) or ciphertext (when there is one): zeros.
            if encrypt {
                continue;
            }
            let mut tampers = vec!["tag"];
            if !case.aad.is_empty() {
                tampers.push("aad");
            }
            if len > 0 {
                tampers.push("ciphertext");
            }
            for tamper in tampers {
                dst.as_mut_slice().unwrap().fill(0xa5);
                let mut bad_tag = good_tag.to_vec();
                let mut bad_cipher = cipher.to_vec();
                let mut bad_aad = case.aad.clone();
                let at = rng.below(len.max(1) as u64) as usize;
                match tamper {
                    "tag" => bad_tag[rng.below(16) as usize] ^= 0x80,
                    "aad" => bad_aad[rng.below(case.aad.len() as u64) as usize] ^= 1,
                    _ => bad_cipher[at] ^= 4,
                }
                src.as_mut_slice().unwrap()[64..64 + len].copy_from_slice(&bad_cipher);
                tag.as_mut_slice().unwrap()[64..80].copy_from_slice(&bad_tag);
                let bad_aad_mr =
                    t.base.pd.reg_mr(if bad_aad.is_empty() { vec![0] } else { bad_aad.clone() }, Access::empty()).unwrap();
                let bad_aad_sge = if bad_aad.is_empty() { Sge::default() } else { bad_aad_mr.sge(0, bad_aad.len() as u32) };
                let w = wqe(
                    false,
                    &key,
                    case.iv,
                    in_list.sge(0, in_list.len() as u32),
                    out_list.sge(0, out_list.len() as u32),
                    bad_aad_sge,
                    tag.sge(64, 16),
                );
                let wc = run(&mut t, w);
                assert_eq!(wc.status, CqeStatus::AuthenticationFailed, "{what}: tampered {tamper}");
                let bytes = dst.as_slice().unwrap();
                assert!(bytes[64..64 + len].iter().all(|&b| b == 0), "{what}: tampered {tamper} left plaintext");
                assert!(bytes[..64].iter().chain(&bytes[64 + len..]).all(|&b| b == 0xa5), "{what}: {tamper} guard");
            }
        }
    }
}

/// Many threads of a process that has made no key yet create their first AES-GCM keys at once
/// (the library's manager is set up by whichever comes first) and seal with them: each result
/// is OpenSSL's.
#[test]
fn first_keys_made_at_once_by_many_threads_all_work() {
    let case = Case { key: pattern(77, 32), iv: [3; 12], aad: pattern(78, 20), plain: pattern(79, 1000) };
    let small =
        Case { key: pattern(80, 16), ..Case { key: vec![], iv: case.iv, aad: case.aad.clone(), plain: case.plain.clone() } };
    let expected = openssl_seal_all(&[case, small]);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let barrier = barrier.clone();
            let expected = expected[i % 2].clone();
            std::thread::spawn(move || {
                let mut t = Traffic::new(1, ExecPolicy::Inline, 4);
                let (algorithm, material) = if i % 2 == 0 {
                    (KeyAlgorithm::Aes256Gcm, pattern(77, 32))
                } else {
                    (KeyAlgorithm::Aes128Gcm, pattern(80, 16))
                };
                barrier.wait();
                let key = t.base.pd.create_crypto_key(algorithm, &material).unwrap();
                let src = t.base.pd.reg_mr(pattern(79, 1000), Access::empty()).unwrap();
                let dst = t.base.pd.alloc_mr(1000, Access::LOCAL_WRITE).unwrap();
                let tag = t.base.pd.alloc_mr(16, Access::LOCAL_WRITE).unwrap();
                let aad = t.base.pd.reg_mr(pattern(78, 20), Access::empty()).unwrap();
                let ins = [src.sge(0, 1000)];
                let outs = [dst.sge(0, 500), dst.sge(500, 500)];
                let in_list = t.base.pd.reg_mr(ins.as_bytes().to_vec(), Access::empty()).unwrap();
                let out_list = t.base.pd.reg_mr(outs.as_bytes().to_vec(), Access::empty()).unwrap();
                let w = wqe(true, &key, [3; 12], in_list.sge(0, 16), out_list.sge(0, 32), aad.sge(0, 20), tag.sge(0, 16));
                let wc = run(&mut t, w);
                assert_eq!(wc.status, CqeStatus::Success);
                let mut got = dst.as_slice().unwrap().to_vec();
                got.extend_from_slice(tag.as_slice().unwrap());
                assert!(got == expected, "thread {i}");
            })
        })
        .collect();
    for th in threads {
        th.join().unwrap();
    }
}
