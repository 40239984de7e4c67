//! `accel encrypt`, `decrypt` and `digest` run as a user would: AES-GCM and AES-XTS byte for
//! byte against Python's `cryptography` (OpenSSL) both ways, digests against `sha256sum`,
//! Python's `hmac` and the CRC32C check value; tampered GCM input leaves no plaintext anywhere;
//! every argument error is status 1 with a message naming the limit.

mod cli_support;

use std::path::Path;

use cli_support::{accel, assert_exit, noise, run_in, stock, Run, Scratch, MIB};

fn hexs(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// AES-GCM by Python's `cryptography`: `op` is `encrypt` (output: ciphertext then tag) or
/// `decrypt` (input: the same); the run, which fails for a tag that does not check.
fn python_gcm(op: &str, key: &[u8], iv: &[u8], aad: &[u8], input: &[u8]) -> Run {
    let script = "import sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
k, iv, aad = (bytes.fromhex(a) for a in sys.argv[1:4])
gcm = AESGCM(k)
op = gcm.encrypt if sys.argv[4] == 'encrypt' else gcm.decrypt
sys.stdout.buffer.write(op(iv, sys.stdin.buffer.read(), aad or None))";
    run_in(Path::new("."), "/usr/bin/python3", &["-c", script, &hexs(key), &hexs(iv), &hexs(aad), op], input)
}

/// AES-XTS by Python's `cryptography`, unit by unit, each unit's tweak the previous one's plus
/// one (modulo 2^128, little-endian), as IEEE 1619 counts.
fn python_xts(op: &str, key: &[u8], tweak: u128, unit: usize, data: &[u8]) -> Vec<u8> {
    let script = "import sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
key, tweak, unit, op = bytes.fromhex(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
data, out = sys.stdin.buffer.read(), []
for i in range(0, len(data), unit):
    t = ((tweak + i // unit) % (1 << 128)).to_bytes(16, 'little')
    c = Cipher(algorithms.AES(key), modes.XTS(t))
    c = c.encryptor() if op == 'encrypt' else c.decryptor()
    out.append(c.update(data[i:i + unit]) + c.finalize())
sys.stdout.buffer.write(b''.join(out))";
    stock("/usr/bin/python3", &["-c", script, &hexs(key), &tweak.to_string(), &unit.to_string(), op], data)
}

/// CRC32C (Castagnoli, reflected, polynomial 0x82F63B78), bit by bit: the reference.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0x82F6_3B78 } else { crc >> 1 };
        }
    }
    !crc
}

/// XTS key material: two halves that differ.
fn xts_key(len: usize) -> Vec<u8> {
    let key = noise(len as u64 + 7, len);
    assert_ne!(key[..len / 2], key[len / 2..]);
    key
}

#[test]
fn gcm_interoperates_with_python_both_ways() {
    let dir = Scratch::new("gcm");
    for (alg, key_len) in [("aes-128-gcm", 16), ("aes-256-gcm", 32)] {
        let key = noise(key_len as u64, key_len);
        dir.write("key", &key);
        for (i, len) in [0, 1, 16, 4096, MIB].into_iter().enumerate() {
            for aad in [&[][..], b"header: v1\x00\xff"] {
                let data = noise(i as u64 + 100, len);
                let iv = noise(i as u64 + 200, 12);
                let what = format!("{alg}, {len} bytes, {} bytes of AAD", aad.len());
                let mut args = vec!["--alg", alg, "--key-file", "key"];
                let (iv_hex, aad_hex) = (hexs(&iv), hexs(aad));
                args.extend(["--iv", &iv_hex]);
                if !aad.is_empty() {
                    args.extend(["--aad", &aad_hex]);
                }
                // Ours, from standard input; Python's of the same data.
                let ours = accel(&dir.path, &[&["encrypt"], &args[..]].concat(), &data);
                assert_exit(&ours, 0, &[]);
                assert_eq!(ours.stderr, "", "{what}");
                assert_eq!(ours.stdout.len(), len + 16, "{what}: ciphertext and a 16-byte tag");
                let theirs = python_gcm("encrypt", &key, &iv, aad, &data);
                assert_eq!(theirs.code, 0, "{}", theirs.stderr);
                assert!(ours.stdout == theirs.stdout, "{what}: same key, IV, AAD: same ciphertext and tag as OpenSSL");
                // OpenSSL opens ours.
                let opened = python_gcm("decrypt", &key, &iv, aad, &ours.stdout);
                assert!(opened.code == 0 && opened.stdout == data, "{what}: OpenSSL decrypts ours: {}", opened.stderr);
                // We open OpenSSL's, from a file into a file.
                dir.write("sealed", &theirs.stdout);
                let back = accel(&dir.path, &[&["decrypt"], &args[..], &["-f", "-o", "plain", "sealed"]].concat(), b"");
                assert_exit(&back, 0, &[]);
                assert_eq!((back.stdout.len(), back.stderr.as_str()), (0, ""), "{what}: -o leaves stdout alone");
                assert!(dir.read("plain") == data, "{what}: we decrypt OpenSSL's");
            }
        }
    }
}

#[test]
fn tampered_gcm_input_is_refused_with_no_plaintext_anywhere() {
    let dir = Scratch::new("gcm-tamper");
    let key = noise(1, 32);
    dir.write("key", &key);
    let data = noise(2, 4096);
    let iv = hexs(&noise(3, 12));
    let args = |aad: &'static str| vec!["--alg", "aes-256-gcm", "--key-file", "key", "--iv", &iv, "--aad", aad];
    let sealed = accel(&dir.path, &[&["encrypt"], &args("a1b2")[..]].concat(), &data);
    assert_exit(&sealed, 0, &[]);
    let sealed = sealed.stdout;
    // The untampered input opens, so the refusals below are the tampering's doing.
    let good = accel(&dir.path, &[&["decrypt"], &args("a1b2")[..]].concat(), &sealed);
    assert!(good.code == 0 && good.stdout == data, "{}", good.stderr);

    let flip = |at: usize| {
        let mut bad = sealed.clone();
        bad[at] ^= 0x01;
        bad
    };
    let cases = [
        ("a flipped ciphertext bit", flip(100), "a1b2", "authentication failed"),
        ("a flipped tag bit", flip(sealed.len() - 1), "a1b2", "authentication failed"),
        ("another AAD", sealed.clone(), "a1b3", "authentication failed"),
        ("no AAD", sealed.clone(), "", "authentication failed"),
        ("a cut-off tag", sealed[..sealed.len() - 1].to_vec(), "a1b2", "authentication failed"),
        ("less than a tag", sealed[..15].to_vec(), "a1b2", "shorter than the 16-byte"),
    ];
    for (what, bad, aad, message) in cases {
        dir.write("bad", &bad);
        let before = dir.names();
        let run = accel(&dir.path, &[&["decrypt"], &args(aad)[..], &["-o", "plain", "bad"]].concat(), b"");
        assert_exit(&run, 1, &["accel: bad: ", message]);
        assert!(run.stdout.is_empty(), "{what}");
        assert_eq!(dir.names(), before, "{what}: no output file, no temporary file");
        // To standard output: not a byte.
        let run = accel(&dir.path, &[&["decrypt"], &args(aad)[..]].concat(), &bad);
        assert_exit(&run, 1, &["accel: stdin: ", message]);
        assert!(run.stdout.is_empty(), "{what}: plaintext on stdout");
        // An existing output replaced with -f stays as it was.
        dir.write("plain", b"previous");
        let run = accel(&dir.path, &[&["decrypt"], &args(aad)[..], &["-f", "-o", "plain", "bad"]].concat(), b"");
        assert_exit(&run, 1, &["bad", message]);
        assert_eq!(dir.read("plain"), b"previous", "{what}");
        std::fs::remove_file(dir.file("plain")).unwrap();
        std::fs::remove_file(dir.file("bad")).unwrap();
    }
}

#[test]
fn xts_interoperates_with_python_both_ways() {
    let dir = Scratch::new("xts");
    // One unit and a few; several 1 MiB pieces whose tweaks wrap past 2^128 - 1 in the middle.
    let cases: [(usize, usize, Option<u128>); 4] = [
        (512, 1, Some(1)),
        (512, 9, Some(0x0123_4567_89ab_cdef_0011_2233_4455_6677)),
        (4096, 3, None),
        (4096, 2 * 256 + 3, Some(u128::MAX - 300)),
    ];
    for (alg, key_len) in [("aes-128-xts", 32), ("aes-256-xts", 64)] {
        let key = xts_key(key_len);
        dir.write("key", &key);
        for (i, (unit, units, tweak)) in cases.into_iter().enumerate() {
            let data = noise(i as u64 + 40, unit * units);
            let what = format!("{alg}, {units} units of {unit}, tweak {tweak:?}");
            let mut args = vec!["--alg".to_owned(), alg.to_owned(), "--key-file".to_owned(), "key".to_owned()];
            if let Some(tweak) = tweak {
                args.extend(["--tweak".to_owned(), tweak.to_string()]);
            }
            // 512 is the default data unit.
            if unit != 512 {
                args.extend(["--data-unit".to_owned(), unit.to_string()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let ours = accel(&dir.path, &[&["encrypt"], &args[..]].concat(), &data);
            assert_exit(&ours, 0, &[]);
            assert_eq!(ours.stderr, "", "{what}");
            let theirs = python_xts("encrypt", &key, tweak.unwrap_or(0), unit, &data);
            assert_eq!(ours.stdout.len(), data.len(), "{what}: XTS keeps the size");
            assert!(ours.stdout == theirs, "{what}: differs from OpenSSL");
            assert!(python_xts("decrypt", &key, tweak.unwrap_or(0), unit, &ours.stdout) == data, "{what}: OpenSSL decrypts ours");
            dir.write("sealed", &theirs);
            let back = accel(&dir.path, &[&["decrypt"], &args[..], &["-f", "-o", "plain", "sealed"]].concat(), b"");
            assert_exit(&back, 0, &[]);
            assert!(dir.read("plain") == data, "{what}: we decrypt OpenSSL's");
        }
    }
}

#[test]
fn xts_input_that_is_not_whole_data_units_is_refused_naming_its_size() {
    let dir = Scratch::new("xts-units");
    dir.write("key", &xts_key(32));
    let xts = ["encrypt", "--alg", "aes-128-xts", "--key-file", "key"];
    // A file: refused before any output exists.
    dir.write("in", &noise(1, 1000));
    let before = dir.names();
    let run = accel(&dir.path, &[&xts[..], &["-o", "out", "in"]].concat(), b"");
    assert_exit(&run, 1, &["accel: in: ", "1000 bytes", "512-byte data units"]);
    assert_eq!(dir.names(), before, "no output file");
    // Standard input: found at its end, past the first 1 MiB piece; -o still gets nothing.
    let data = noise(2, MIB + 4096 + 100);
    let run = accel(&dir.path, &[&xts[..], &["--data-unit", "4k", "-o", "out"]].concat(), &data);
    assert_exit(&run, 1, &["accel: stdin: ", &format!("{} bytes", data.len()), "4096-byte data units"]);
    assert_eq!(dir.names(), before, "no output file");
    // Whole units of the same input go through.
    let run = accel(&dir.path, &[&xts[..], &["--data-unit", "4k"]].concat(), &data[..MIB + 4096]);
    assert_exit(&run, 0, &[]);
    assert_eq!(run.stdout.len(), MIB + 4096);
    // An empty input is no units: nothing out.
    let run = accel(&dir.path, &xts, b"");
    assert_exit(&run, 0, &[]);
    assert!(run.stdout.is_empty());
}

#[test]
fn digests_match_sha256sum_python_hmac_and_the_crc32c_check_value() {
    let dir = Scratch::new("digest");
    let big = noise(3, 3 * MIB + 5);
    dir.write("empty", b"");
    dir.write("one", b"x");
    dir.write("big file", &big);
    // Whole 1 MiB pieces, the device's last part then empty; and past the 1 GiB that one
    // request takes (sparse: zeros).
    dir.write("whole pieces", &noise(4, 2 * MIB));
    std::fs::File::create(dir.file("over a GiB")).unwrap().set_len((1 << 30) + 17).unwrap();
    let files = ["empty", "one", "big file", "whole pieces", "over a GiB"];

    let run = accel(&dir.path, &[&["digest", "--alg", "sha256"], &files[..]].concat(), b"");
    assert_exit(&run, 0, &[]);
    let sums = run_in(&dir.path, "sha256sum", &files, b"");
    assert_eq!(sums.code, 0, "{}", sums.stderr);
    assert_eq!(String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&sums.stdout), "as sha256sum prints");
    // Standard input, as no file and as `-`.
    for args in [&["digest", "--alg", "sha256"][..], &["digest", "--alg", "sha256", "-"]] {
        let run = accel(&dir.path, args, b"abc");
        assert_exit(&run, 0, &[]);
        assert_eq!(run.stdout, b"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  -\n", "{args:?}");
    }

    for key_len in [16, 64, 128] {
        let key = noise(key_len as u64, key_len);
        dir.write("key", &key);
        let run = accel(&dir.path, &["digest", "--alg", "hmac-sha256", "--key-file", "key", "big file", "empty"], b"");
        assert_exit(&run, 0, &[]);
        let script = "import sys, hmac, hashlib
k = bytes.fromhex(sys.argv[1])
for name in sys.argv[2:]:
    print(hmac.new(k, open(name, 'rb').read(), hashlib.sha256).hexdigest() + '  ' + name)";
        let expected = run_in(&dir.path, "/usr/bin/python3", &["-c", script, &hexs(&key), "big file", "empty"], b"");
        assert_eq!(expected.code, 0, "{}", expected.stderr);
        assert_eq!(run.stdout, expected.stdout, "HMAC-SHA-256 with a {key_len}-byte key");
    }

    let run = accel(&dir.path, &["digest", "--alg", "crc32c"], b"123456789");
    assert_exit(&run, 0, &[]);
    assert_eq!(run.stdout, b"e3069283  -\n", "the catalogue's check value");
    // Four 1 MiB pieces chained through the seed; an empty file's CRC is 0.
    let run = accel(&dir.path, &["digest", "--alg", "crc32c", "big file", "empty"], b"");
    assert_exit(&run, 0, &[]);
    assert_eq!(String::from_utf8_lossy(&run.stdout), format!("{:08x}  big file\n00000000  empty\n", crc32c(&big)));

    // A file that cannot be read is named; the others are still printed.
    let run = accel(&dir.path, &["digest", "--alg", "crc32c", "one", "missing", "empty"], b"");
    assert_exit(&run, 1, &["accel: missing: No such file or directory"]);
    assert_eq!(String::from_utf8_lossy(&run.stdout), format!("{:08x}  one\n00000000  empty\n", crc32c(b"x")));
}

#[test]
fn every_argument_error_is_status_1_naming_the_limit() {
    let dir = Scratch::new("crypto-args");
    for (name, len) in [("k8", 8), ("k16", 16), ("k32", 32), ("k64", 64), ("k200", 200)] {
        dir.write(name, &xts_key(len));
    }
    let half = noise(9, 32);
    dir.write("same64", &[half.clone(), half].concat());
    dir.write("in", &noise(1, 1024));
    dir.write("in10", &noise(2, 10));
    dir.write("exists", b"keep");
    // Over the one-request limit without a GiB on disk.
    std::fs::File::create(dir.file("huge")).unwrap().set_len((1 << 30) + 17).unwrap();
    let iv = "00112233445566778899aabb";
    let gcm = ["--alg", "aes-128-gcm", "--key-file", "k16"];
    let xts = ["--alg", "aes-128-xts", "--key-file", "k32"];
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        ([&["encrypt"], &gcm[..], &["--iv", "0011", "in"]].concat(), &["--iv", "2-byte IV", "12-byte IV (24 hex digits)"]),
        ([&["encrypt"], &gcm[..], &["--iv", "00112233445566778899aabbcc", "in"]].concat(), &["--iv", "13-byte", "12-byte"]),
        ([&["encrypt"], &gcm[..], &["--iv", "0011223344556677889900zz", "in"]].concat(), &["--iv", "not a hexadecimal digit"]),
        ([&["encrypt"], &gcm[..], &["--iv", "0011223344556677889900a", "in"]].concat(), &["--iv", "odd number"]),
        ([&["encrypt"], &gcm[..], &["in"]].concat(), &["--iv", "needs --iv", "12-byte"]),
        ([&["encrypt"], &gcm[..], &["--iv", iv, "--aad", "abc", "in"]].concat(), &["--aad", "odd number"]),
        ([&["encrypt"], &gcm[..], &["--iv", iv, "--tweak", "1", "in"]].concat(), &["--tweak", "AES-XTS only"]),
        ([&["decrypt"], &gcm[..], &["--iv", iv, "--data-unit", "512", "in"]].concat(), &["--data-unit", "AES-XTS only"]),
        ([&["encrypt"], &xts[..], &["--iv", iv, "in"]].concat(), &["--iv", "AES-GCM only"]),
        ([&["decrypt"], &xts[..], &["--aad", "00", "in"]].concat(), &["--aad", "AES-GCM only"]),
        ([&["encrypt"], &xts[..], &["--data-unit", "15", "in"]].concat(), &["--data-unit", "15 bytes", "16", "1048576"]),
        ([&["encrypt"], &xts[..], &["--data-unit", "2m", "in"]].concat(), &["--data-unit", "2097152 bytes", "1048576"]),
        ([&["encrypt"], &xts[..], &["--data-unit", "lots", "in"]].concat(), &["--data-unit", "bad size"]),
        ([&["encrypt"], &xts[..], &["--tweak=-1", "in"]].concat(), &["--tweak", "340282366920938463463374607431768211455"]),
        (
            [&["encrypt"], &xts[..], &["--tweak", "340282366920938463463374607431768211456", "in"]].concat(),
            &["--tweak", "2^128-1"],
        ),
        (vec!["encrypt", "--alg", "aes-256-gcm", "--key-file", "k16", "--iv", iv, "in"], &["k16: ", "16 bytes", "32-byte key"]),
        (
            vec!["encrypt", "--alg", "aes-128-xts", "--key-file", "k64", "in"],
            &["k64: ", "64 bytes", "32-byte key (two different 16-byte halves)"],
        ),
        (vec!["decrypt", "--alg", "aes-256-xts", "--key-file", "same64", "in"], &["same64: ", "halves are the same"]),
        (vec!["encrypt", "--alg", "aes-128-gcm", "--key-file", "nokey", "--iv", iv, "in"], &["nokey: No such file"]),
        (vec!["encrypt", "--alg", "aes-512-gcm", "--key-file", "k16", "in"], &["aes-512-gcm", "aes-128-gcm", "aes-256-xts"]),
        ([&["decrypt"], &gcm[..], &["--iv", iv, "in10"]].concat(), &["in10: ", "10 bytes", "shorter than the 16-byte"]),
        ([&["encrypt"], &gcm[..], &["--iv", iv, "huge"]].concat(), &["huge: ", "1 GiB limit of AES-GCM"]),
        ([&["encrypt"], &xts[..], &["-o", "exists", "in"]].concat(), &["exists: already exists", "-f"]),
        (vec!["digest", "--alg", "hmac-sha256", "--key-file", "k16", "huge"], &["huge: ", "1 GiB limit of HMAC-SHA-256"]),
        (vec!["digest", "--alg", "hmac-sha256", "in"], &["--key-file", "16 to 128 bytes"]),
        (vec!["digest", "--alg", "hmac-sha256", "--key-file", "k8", "in"], &["k8: ", "8 bytes", "16 to 128 bytes"]),
        (vec!["digest", "--alg", "hmac-sha256", "--key-file", "k200", "in"], &["k200: ", "over 128 bytes", "16 to 128"]),
        (vec!["digest", "--alg", "sha256", "--key-file", "k16", "in"], &["--key-file", "hmac-sha256 only"]),
        (vec!["digest", "--alg", "md5", "in"], &["md5", "sha256", "crc32c"]),
    ];
    let before = dir.names();
    for (args, words) in cases {
        // With -o where the command takes it: a refused run leaves no file either.
        let with_output = if args[0] != "digest" && !args.contains(&"-o") {
            [&args[..args.len() - 1], &["-o", "out"], &args[args.len() - 1..]].concat()
        } else {
            args.clone()
        };
        let run = accel(&dir.path, &with_output, b"");
        assert_exit(&run, 1, words);
        assert!(run.stdout.is_empty(), "{args:?}: {:?}", String::from_utf8_lossy(&run.stdout));
        assert_eq!(dir.names(), before, "{args:?}: no output file");
    }
    assert_eq!(dir.read("exists"), b"keep");
}

/// File names are printed as their own bytes, as sha256sum prints them, so `sha256sum -c`
/// checks the list: one that is not UTF-8 included, and the escaped ones.
#[test]
fn digest_names_are_the_files_own_bytes() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let dir = Scratch::new("digest-names");
    let names: [&[u8]; 5] = [b"lat\xe9", b"plain", b"back\\slash", b"new\nline", b"carriage\rreturn"];
    for name in names {
        std::fs::write(dir.path.join(OsStr::from_bytes(name)), name).unwrap();
    }
    let mut command = std::process::Command::new(cli_support::accel_bin());
    command.args(["digest", "--alg", "sha256"]).args(names.iter().map(|n| OsStr::from_bytes(n))).current_dir(&dir.path);
    let run = command.output().expect("run accel");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let mut sha256sum = std::process::Command::new("sha256sum");
    sha256sum.args(names.iter().map(|n| OsStr::from_bytes(n))).current_dir(&dir.path);
    assert_eq!(run.stdout, sha256sum.output().expect("run sha256sum").stdout, "as sha256sum prints");
    let check = run_in(&dir.path, "sha256sum", &["-c", "--quiet", "-"], &run.stdout);
    assert_exit(&check, 0, &[]);
}

/// `-f -o FILE` over an existing file keeps its permissions, as writing into it would: a file
/// made private for the plaintext does not come back readable by all.
#[test]
fn a_replaced_output_keeps_its_permissions() {
    use std::os::unix::fs::PermissionsExt;

    let dir = Scratch::new("replace-mode");
    dir.write("key", &noise(9, 32));
    dir.write("msg", b"attack at dawn");
    let iv = "000102030405060708090a0b";
    let sealed = accel(&dir.path, &["encrypt", "--alg", "aes-256-gcm", "--key-file", "key", "--iv", iv, "msg"], b"");
    assert_exit(&sealed, 0, &[]);
    for mode in [0o600, 0o640] {
        let plain = dir.write("plain", b"");
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(mode)).unwrap();
        let args = ["decrypt", "--alg", "aes-256-gcm", "--key-file", "key", "--iv", iv, "-f", "-o", "plain"];
        assert_exit(&accel(&dir.path, &args, &sealed.stdout), 0, &[]);
        assert_eq!(dir.read("plain"), b"attack at dawn");
        let kept = std::fs::metadata(&plain).unwrap().permissions().mode() & 0o777;
        assert_eq!(kept, mode, "the replaced file's permissions");
    }
}

/// Standard input may come partly read (`{ read -r header; accel ...; } < file`): what is left
/// is what counts, so 512 bytes after a 2-byte header are one whole data unit, not 514 bytes.
#[test]
fn stdin_part_read_is_sized_from_where_it_stands() {
    use std::io::{Seek, SeekFrom};

    let dir = Scratch::new("stdin-offset");
    let key = xts_key(64);
    dir.write("key", &key);
    let sector = noise(18, 512);
    let file = dir.write("headed", &[&b"H\n"[..], &sector].concat());
    let mut stdin = std::fs::File::open(file).unwrap();
    stdin.seek(SeekFrom::Start(2)).unwrap();
    let out = std::process::Command::new(cli_support::accel_bin())
        .args(["encrypt", "--alg", "aes-256-xts", "--key-file", "key"])
        .current_dir(&dir.path)
        .stdin(stdin)
        .output()
        .expect("run accel");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout == python_xts("encrypt", &key, 0, 512, &sector), "the 512 bytes after the header");
}
