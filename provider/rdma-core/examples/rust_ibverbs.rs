//! The `ibverbs` crate (rust-ibverbs) on accelsim0, through stock libibverbs and this plugin,
//! unmodified: two RC QPs connected to each other with the crate's own handshake exchange a
//! message (SEND into a posted receive), both completions are checked and the bytes compared.
//! Run it under accel-run (the suite does, in tests/verbs_programs.rs):
//!
//! ```text
//! accel-run target/debug/examples/rust_ibverbs
//! ```

use std::io::{Error, Result};
use std::time::{Duration, Instant};

use ibverbs::ibv_qp_type::IBV_QPT_RC;
use ibverbs::ibv_wc_opcode::{IBV_WC_RECV, IBV_WC_SEND};
use ibverbs::{ibv_wc, CompletionQueue};

const LEN: usize = 4096;

fn main() {
    if let Err(e) = run() {
        eprintln!("rust_ibverbs: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let devices = ibverbs::devices()?;
    let device = devices
        .iter()
        .find(|d| d.name().is_some_and(|n| n.to_bytes().starts_with(b"accelsim")))
        .ok_or_else(|| Error::other("no accelsim device: run under accel-run"))?;
    let ctx = device.open()?;
    let (send_cq, recv_cq) = (ctx.create_cq(16, 0)?, ctx.create_cq(16, 1)?);
    let pd = ctx.alloc_pd()?;

    let prepared = || pd.create_qp(&send_cq, &recv_cq, IBV_QPT_RC).set_gid_index(0).build();
    let (a, b) = (prepared()?, prepared()?);
    let (a_end, b_end) = (a.endpoint(), b.endpoint());
    let mut a = a.handshake(b_end)?;
    let mut b = b.handshake(a_end)?;

    let mut outgoing = pd.allocate::<u8>(LEN)?;
    for (i, byte) in outgoing.iter_mut().enumerate() {
        *byte = (i * 7 + 3) as u8;
    }
    let mut incoming = pd.allocate::<u8>(LEN)?;
    // SAFETY: neither region is touched until both completions are polled below.
    unsafe {
        b.post_receive(&mut incoming, .., 20)?;
        a.post_send(&mut outgoing, .., 10)?;
    }
    let sent = poll_one(&send_cq)?;
    let received = poll_one(&recv_cq)?;
    expect(sent.is_valid() && sent.wr_id() == 10 && sent.opcode() == IBV_WC_SEND, "send completion", &sent)?;
    expect(received.is_valid() && received.wr_id() == 20 && received.opcode() == IBV_WC_RECV, "receive completion", &received)?;
    expect(received.len() == LEN && received.qp_num == b_end.num, "receive length and QP", &received)?;
    if incoming[..] != outgoing[..] {
        return Err(Error::other("the received bytes differ from the sent ones"));
    }
    println!("rust-ibverbs: {LEN} bytes sent from QP {} to QP {} and verified", a_end.num, b_end.num);
    Ok(())
}

/// The next completion of `cq`, or an error after ten seconds.
fn poll_one(cq: &CompletionQueue) -> Result<ibv_wc> {
    let mut slot = [ibv_wc::default()];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(wc) = cq.poll(&mut slot)?.first() {
            return Ok(*wc);
        }
        if Instant::now() > deadline {
            return Err(Error::other("no completion within ten seconds"));
        }
        std::thread::yield_now();
    }
}

fn expect(ok: bool, what: &str, wc: &ibv_wc) -> Result<()> {
    match ok {
        true => Ok(()),
        false => Err(Error::other(format!("unexpected {what}: {wc:?}"))),
    }
}
