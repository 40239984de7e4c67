//! Known answers through the device, read from the published files as Debian ships them in
//! python3-cryptography-vectors: NIST CAVP AES-GCM (encryption, and decryption including the
//! vectors whose tag must fail) and AES-XTS (both tweak styles), and RFC 4231's HMAC-SHA-256.
//! Every vector the device's parameters allow runs; the test counts them, and says which it
//! leaves out and why.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use accelverbs::{Access, CqeStatus, Decrypt, Digest, Encrypt, ExecPolicy, KeyAlgorithm, MemoryRegion, DIGEST_LEN};
use accelverbs_tests::{poll_n, Traffic};

/// Where the vectors are: the package's directory, asked of Debian's python3.
fn vectors() -> PathBuf {
    let out = Command::new("/usr/bin/python3")
        .args(["-c", "import cryptography_vectors, os; print(os.path.dirname(cryptography_vectors.__file__))"])
        .output()
        .expect("python3");
    assert!(out.status.success(), "apt install python3-cryptography-vectors (tests/run.sh does)");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// One record of a CAVP-style file: its fields, and the `[...]` section headers above it.
#[derive(Debug, Default, Clone)]
struct Record {
    section: HashMap<String, String>,
    fields: HashMap<String, String>,
    /// A bare line in the record (GCM decryption's `FAIL`).
    flags: Vec<String>,
}

impl Record {
    fn hex(&self, name: &str) -> Vec<u8> {
        let s = self.fields.get(name).unwrap_or_else(|| panic!("no {name} in {self:?}"));
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
    }

    fn number(&self, name: &str) -> Option<usize> {
        self.fields.get(name).or_else(|| self.section.get(name)).and_then(|v| v.parse().ok())
    }
}

/// Parses a CAVP `.rsp` (or RFC test-case `.txt`) file: `key = value` lines, records separated
/// by blank lines, `[key = value]` or `[NAME]` sections, `#` comments.
fn parse(path: &PathBuf) -> Vec<Record> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (mut records, mut section, mut current) = (Vec::new(), HashMap::new(), Record::default());
    let flush = |current: &mut Record, records: &mut Vec<Record>| {
        if !current.fields.is_empty() {
            records.push(std::mem::take(current));
        }
    };
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            flush(&mut current, &mut records);
        } else if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            flush(&mut current, &mut records);
            let (k, v) = header.split_once('=').unwrap_or((header, ""));
            section.insert(k.trim().to_string(), v.trim().to_string());
        } else if !line.starts_with('#') {
            if current.fields.is_empty() {
                current.section = section.clone();
            }
            match line.split_once('=') {
                Some((k, v)) => {
                    current.fields.insert(k.trim().to_string(), v.trim().to_string());
                }
                None => current.flags.push(line.to_string()),
            }
        }
    }
    flush(&mut current, &mut records);
    records
}

/// Regions reused by every vector (registering one per vector would dominate the run).
struct Bench {
    t: Traffic,
    input: MemoryRegion,
    output: MemoryRegion,
    aad: MemoryRegion,
    tag: MemoryRegion,
}

impl Bench {
    fn new() -> Self {
        let t = Traffic::new(1, ExecPolicy::Inline, 8);
        let region = |len| t.base.pd.alloc_mr(len, Access::LOCAL_WRITE).unwrap();
        let (input, output, aad, tag) = (region(1 << 12), region(1 << 12), region(1 << 12), region(64));
        Self { t, input, output, aad, tag }
    }

    fn load(region: &mut MemoryRegion, bytes: &[u8]) {
        region.as_mut_slice().unwrap()[..bytes.len()].copy_from_slice(bytes);
    }

    fn key(&self, algorithm: KeyAlgorithm, material: &[u8]) -> accelverbs::CryptoKey {
        self.t.base.pd.create_crypto_key(algorithm, material).unwrap()
    }

    /// Runs one AES-GCM vector (`open`: decryption) and returns the status and the output.
    fn gcm(
        &mut self,
        open: bool,
        key: &accelverbs::CryptoKey,
        iv: &[u8],
        aad: &[u8],
        data: &[u8],
        tag: &[u8],
    ) -> (CqeStatus, Vec<u8>) {
        Self::load(&mut self.input, data);
        Self::load(&mut self.aad, aad);
        Self::load(&mut self.tag, tag);
        let iv: [u8; 12] = iv.try_into().unwrap();
        let n = data.len() as u32;
        let (input, aad_slice) = (self.input.slice(0, n), self.aad.slice(0, aad.len() as u32));
        let out = self.output.slice_mut(0, n);
        let post = match open {
            false => {
                let wr = Encrypt::new(1, key, iv, input, out, self.tag.slice_mut(0, 16));
                self.t.qp.post(if aad.is_empty() { wr } else { wr.aad(aad_slice) })
            }
            true => {
                let wr = Decrypt::new(1, key, iv, input, out, self.tag.slice(0, 16));
                self.t.qp.post(if aad.is_empty() { wr } else { wr.aad(aad_slice) })
            }
        };
        post.unwrap();
        let wc = poll_n(&mut self.t.cq, 1)[0];
        let mut result = self.output.as_slice().unwrap()[..data.len()].to_vec();
        if !open {
            result.extend_from_slice(&self.tag.as_slice().unwrap()[..16]);
        }
        (wc.status, result)
    }
}

impl Bench {
    /// SHA-256 of `data` through the device.
    fn sha256(&mut self, data: &[u8]) -> Vec<u8> {
        Self::load(&mut self.input, data);
        let (input, out) = (self.input.slice(0, data.len() as u32), self.output.slice_mut(0, DIGEST_LEN as u32));
        self.t.qp.post(Digest::sha256(2, input, out)).unwrap();
        assert_eq!(poll_n(&mut self.t.cq, 1)[0].status, CqeStatus::Success);
        self.output.as_slice().unwrap()[..DIGEST_LEN].to_vec()
    }
}

fn gcm_algorithm(key_len: usize) -> Option<KeyAlgorithm> {
    match key_len {
        16 => Some(KeyAlgorithm::Aes128Gcm),
        32 => Some(KeyAlgorithm::Aes256Gcm),
        _ => None,
    }
}

#[test]
fn nist_cavp_aes_gcm_encryption_and_decryption() {
    let dir = vectors().join("ciphers/AES/GCM");
    let mut bench = Bench::new();
    let (mut ran, mut failures_checked) = (0, 0);
    for file in ["gcmEncryptExtIV128.rsp", "gcmEncryptExtIV256.rsp", "gcmDecrypt128.rsp", "gcmDecrypt256.rsp"] {
        let open = file.starts_with("gcmDecrypt");
        for v in parse(&dir.join(file)) {
            // The device takes 96-bit IVs and 128-bit tags (what GCM users deploy); the files
            // also hold other IV and tag lengths, which it refuses by design.
            if v.number("IVlen") != Some(96) || v.number("Taglen") != Some(128) {
                continue;
            }
            let material = v.hex("Key");
            let key = bench.key(gcm_algorithm(material.len()).unwrap(), &material);
            let (iv, aad, tag) = (v.hex("IV"), v.hex("AAD"), v.hex("Tag"));
            if open {
                let (status, plain) = bench.gcm(true, &key, &iv, &aad, &v.hex("CT"), &tag);
                if v.flags.iter().any(|f| f == "FAIL") {
                    assert_eq!(status, CqeStatus::AuthenticationFailed, "{file} {:?}", v.fields.get("Count"));
                    assert!(plain.iter().all(|&b| b == 0), "no plaintext after a failed tag");
                    failures_checked += 1;
                } else {
                    assert_eq!((status, plain), (CqeStatus::Success, v.hex("PT")), "{file} {:?}", v.fields.get("Count"));
                }
            } else {
                let (status, sealed) = bench.gcm(false, &key, &iv, &aad, &v.hex("PT"), &[0; 16]);
                let mut expected = v.hex("CT");
                expected.extend_from_slice(&tag);
                assert_eq!((status, sealed), (CqeStatus::Success, expected), "{file} {:?}", v.fields.get("Count"));
            }
            ran += 1;
        }
    }
    println!("AES-GCM: {ran} vectors, {failures_checked} of them failing tags");
    // Four files of 7875 vectors, 15 groups of 96-bit IV and 128-bit tag each.
    assert!(ran >= 4 * 15 * 15 && failures_checked > 0, "ran {ran}, of which {failures_checked} failing tags");
}

#[test]
fn nist_cavp_aes_xts_both_key_sizes_and_tweak_styles() {
    let dir = vectors().join("ciphers/AES/XTS");
    let mut bench = Bench::new();
    let (mut ran, mut partial_bits) = (0, 0);
    for style in ["tweak-128hexstr", "tweak-dataunitseqno"] {
        for (file, algorithm) in [("XTSGenAES128.rsp", KeyAlgorithm::Aes128Xts), ("XTSGenAES256.rsp", KeyAlgorithm::Aes256Xts)] {
            for v in parse(&dir.join(style).join(file)) {
                let bits = v.number("DataUnitLen").unwrap();
                // Data units of whole bytes only: the files also test lengths like 130 bits.
                if bits % 8 != 0 {
                    partial_bits += 1;
                    continue;
                }
                let tweak = match v.fields.get("i") {
                    Some(_) => u128::from_le_bytes(v.hex("i").try_into().unwrap()),
                    None => v.number("DataUnitSeqNumber").unwrap() as u128,
                };
                let material = v.hex("Key");
                let key = bench.key(algorithm, &material);
                let encrypt = v.section.contains_key("ENCRYPT");
                let (input, expected) = if encrypt { (v.hex("PT"), v.hex("CT")) } else { (v.hex("CT"), v.hex("PT")) };
                Bench::load(&mut bench.input, &input);
                let n = input.len() as u32;
                let (src, dst) = (bench.input.slice(0, n), bench.output.slice_mut(0, n));
                match encrypt {
                    true => bench.t.qp.post(Encrypt::xts(1, &key, tweak, n, src, dst)).unwrap(),
                    false => bench.t.qp.post(Decrypt::xts(1, &key, tweak, n, src, dst)).unwrap(),
                }
                let wc = poll_n(&mut bench.t.cq, 1)[0];
                let out = bench.output.as_slice().unwrap()[..input.len()].to_vec();
                assert_eq!((wc.status, out), (CqeStatus::Success, expected), "{style}/{file} {:?}", v.fields.get("COUNT"));
                ran += 1;
            }
        }
    }
    println!("AES-XTS: {ran} vectors; {partial_bits} with data units of partial bytes left out");
    assert!(ran >= 1000 && partial_bits > 0, "ran {ran}, left out {partial_bits} of partial bytes");
}

#[test]
fn rfc_4231_hmac_sha256() {
    let path = vectors().join("HMAC/rfc-4231-sha256.txt");
    let mut bench = Bench::new();
    let (mut ran, mut short_keys) = (0, 0);
    for v in parse(&path) {
        let material = v.hex("Key");
        // The device takes HMAC keys of 16 bytes or more (NIST SP 800-107); RFC 4231's test
        // case 2 uses a 4-byte key, which it refuses.
        if material.len() < 16 {
            short_keys += 1;
            continue;
        }
        // Keys longer than the device takes (128 bytes) are hashed first, as HMAC itself does
        // with any key longer than its block (RFC 2104): here, by the device's SHA-256.
        let material = match material.len() > 128 {
            true => bench.sha256(&material),
            false => material,
        };
        let key = bench.key(KeyAlgorithm::HmacSha256, &material);
        let message = v.hex("Msg");
        Bench::load(&mut bench.input, &message);
        let (input, out) = (bench.input.slice(0, message.len() as u32), bench.output.slice_mut(0, DIGEST_LEN as u32));
        bench.t.qp.post(Digest::hmac_sha256(1, &key, input, out)).unwrap();
        assert_eq!(poll_n(&mut bench.t.cq, 1)[0].status, CqeStatus::Success);
        assert_eq!(&bench.output.as_slice().unwrap()[..DIGEST_LEN], &v.hex("MD")[..], "{:?}", v.fields.get("Len"));
        ran += 1;
    }
    assert_eq!((ran, short_keys), (5, 1), "RFC 4231's cases 1, 3, 4, 6, 7 run; case 2's short key is left out");
}
