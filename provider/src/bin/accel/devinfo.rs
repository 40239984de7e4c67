//! `accel devinfo`.

use accelverbs::uapi::caps::cap_flags;
use accelverbs::uapi::wqe::Opcode;
use accelverbs::{devices, Context, Error, Format};

use crate::status::out;

fn version(v: u64) -> String {
    format!("{}.{}.{}", v >> 32, (v >> 16) & 0xffff, v & 0xffff)
}

fn mib(bytes: u64) -> String {
    if bytes == u64::MAX {
        "unlimited".to_owned()
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}

/// `--stats`: live objects and locked memory, in total and per open file (each daemon client).
fn print_stats(ctx: &Context) -> Result<(), Error> {
    let total = ctx.device_resources()?;
    let files = ctx.device_files()?;
    out!("	clients:		{}", files.len());
    out!(
        "	objects:		contexts {} pds {} mrs {} cqs {} qps {} comp_channels {} comp_streams {} crypto_keys {}",
        total.contexts,
        total.pds,
        total.mrs,
        total.cqs,
        total.qps,
        total.comp_channels,
        total.comp_streams,
        total.crypto_keys
    );
    out!("	locked_memory:		{}", mib(total.pinned_bytes));
    out!("		pid	uid	pds	mrs	cqs	qps	channels	streams	keys	locked		limit		shared");
    for (i, f) in files.iter().enumerate() {
        let o = &f.objects;
        out!(
            "		{}	{}	{}	{}	{}	{}	{}		{}	{}	{}	{}	{}{}",
            f.pid,
            f.uid,
            o.pds,
            o.mrs,
            o.cqs,
            o.qps,
            o.comp_channels,
            o.comp_streams,
            o.crypto_keys,
            mib(o.pinned_bytes),
            mib(f.memlock_limit),
            mib(f.shared_bytes),
            if i == 0 { "	(this one)" } else { "" }
        );
    }
    Ok(())
}

pub fn run(stats: bool) -> Result<(), Error> {
    for dev in devices() {
        let ctx = dev.open()?;
        let caps = ctx.query_device()?;
        let port = ctx.query_port(1)?;
        let opcodes: Vec<&str> = Opcode::ALL.iter().filter(|&&op| caps.runs(op)).map(|op| op.name()).collect();
        let flags: Vec<&str> = [(cap_flags::COMP_CHANNEL, "COMP_CHANNEL"), (cap_flags::INLINE_EXECUTION, "INLINE_EXECUTION")]
            .iter()
            .filter(|(bit, _)| caps.cap_flags & bit != 0)
            .map(|(_, name)| *name)
            .collect();
        out!("hca_id:\t{}", dev.name());
        out!("\ttransport:\t\taccelerator (soft device)");
        out!("\tchannel:\t\t{}", ctx.channel_description());
        out!("\tdriver:\t\t\t{}", accelverbs_rxe_sim::DRIVER_NAME);
        out!("\tfw_ver:\t\t\t{}", version(caps.fw_ver));
        out!("\tdriver_abi_ver:\t\t{}", version(caps.driver_ver));
        out!("\tvendor_id:\t\t{:#06x}", caps.vendor_id);
        out!("\tvendor_part_id:\t\t{}", caps.vendor_part_id);
        out!("\thw_ver:\t\t\t{:#x}", caps.hw_ver);
        out!("\tengines:\t\t{}", caps.num_engines);
        out!("\tmax_pd:\t\t\t{}", caps.max_pd);
        out!("\tmax_mr:\t\t\t{}", caps.max_mr);
        out!("\tmax_mr_size:\t\t{:#x}", caps.max_mr_size);
        out!("\tmax_cq:\t\t\t{}", caps.max_cq);
        out!("\tmax_cqe:\t\t{}", caps.max_cqe);
        out!("\tmax_qp:\t\t\t{}", caps.max_qp);
        out!("\tmax_qp_wr:\t\t{}", caps.max_qp_wr);
        out!("\tmax_sge:\t\t{}", caps.max_sge);
        out!("\tpage_size_cap:\t\t{:#x}", caps.page_size_cap);
        out!("\topcodes:\t\t{}", opcodes.join(" "));
        let formats: Vec<String> =
            Format::ALL.iter().filter(|&&f| caps.compress_formats & (1 << f as u8) != 0).map(|f| format!("{f:?}")).collect();
        out!("\tcompress_formats:\t{}", formats.join(" "));
        out!("\tmax_comp_streams:\t{}", caps.max_comp_streams);
        out!("\tmax_crypto_keys:\t{}", caps.max_crypto_keys);
        out!("\tcapabilities:\t\t{}", flags.join(" "));
        out!("\t\tport:\t1");
        out!(
            "\t\t\tstate:\t\t{} ({})",
            if port.legacy_resp.state == 4 { "PORT_ACTIVE" } else { "PORT_DOWN" },
            port.legacy_resp.state
        );
        out!("\t\t\tlink_layer:\tunspecified (no wire)");
        if stats {
            print_stats(&ctx)?;
        }
    }
    Ok(())
}
