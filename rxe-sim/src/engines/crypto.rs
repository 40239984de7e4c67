//! What the crypto operations share with the rest of the device: which WQEs name a key (for
//! the key's destroy rule).

use accelverbs_uapi::crypto::{ChainParams, CryptoParams, DigestAlgorithm, DigestParams};
use accelverbs_uapi::wqe::{Opcode, Wqe};

/// Whether `wqe` is a crypto request naming key `number`.
pub fn names_key(wqe: &Wqe, number: u32) -> bool {
    if [Opcode::Encrypt as u8, Opcode::Decrypt as u8].contains(&wqe.ctrl.opcode) {
        let params: CryptoParams = zerocopy::transmute!(wqe.params);
        return params.key == number;
    }
    if [Opcode::CompressEncrypt as u8, Opcode::DecryptDecompress as u8].contains(&wqe.ctrl.opcode) {
        let params: ChainParams = zerocopy::transmute!(wqe.params);
        return params.key == number;
    }
    let params: DigestParams = zerocopy::transmute!(wqe.params);
    wqe.ctrl.opcode == Opcode::Digest as u8 && params.algorithm == DigestAlgorithm::HmacSha256 as u8 && params.key == number
}
