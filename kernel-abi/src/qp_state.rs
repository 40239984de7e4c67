//! The QP state machine, mirroring the kernel's `ib_modify_qp_is_ok` table for the states an
//! accelerator QP uses (no SQD/SQE: there is no wire to drain).

use accelverbs_uapi::verbs::QpState;

/// Whether `ibv_modify_qp` may move a QP from `current` to `next`.
pub fn transition_allowed(current: QpState, next: QpState) -> bool {
    use QpState::*;
    match (current, next) {
        // Any state may be reset or forced into error.
        (_, Reset) | (_, Err) => true,
        (Reset, Init) | (Init, Init) | (Init, Rtr) | (Rtr, Rts) | (Rts, Rts) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use QpState::*;

    #[test]
    fn forward_path_and_escapes() {
        for (a, b) in [(Reset, Init), (Init, Rtr), (Rtr, Rts), (Rts, Err), (Err, Reset), (Rts, Reset)] {
            assert!(transition_allowed(a, b), "{a:?} -> {b:?}");
        }
        for (a, b) in [(Reset, Rts), (Reset, Rtr), (Init, Rts), (Err, Rts), (Err, Init), (Rts, Init), (Rts, Sqd)] {
            assert!(!transition_allowed(a, b), "{a:?} -> {b:?}");
        }
    }
}
