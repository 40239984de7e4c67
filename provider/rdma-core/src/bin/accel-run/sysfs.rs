//! The sysfs tree libibverbs reads when the kernel has no RDMA netlink (relocated with
//! `SYSFS_PATH`): the verbs class with one `uverbs0` for the device, and the device's own
//! attributes, taken from the device itself so that `ibv_devices` (sysfs) and `ibv_devinfo`
//! (the provider's queries) agree.

use std::fs;
use std::io;
use std::path::Path;

use accelverbs::DeviceCaps;

/// The uverbs ABI libibverbs 44 accepts (`IB_USER_VERBS_ABI_VERSION`).
const UVERBS_ABI_VERSION: u32 = 6;
/// The driver ABI the plugin matches (`match_min/max_abi_version`).
const DRIVER_ABI_VERSION: u32 = 1;

/// A GUID as the kernel prints it: four groups of four hex digits.
fn guid_text(guid: u64) -> String {
    let b = guid.to_be_bytes();
    format!("{:02x}{:02x}:{:02x}{:02x}:{:02x}{:02x}:{:02x}{:02x}", b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7])
}

/// Writes the tree under `root` for device `name` with capabilities `caps`; `dev` is the
/// `major:minor` of the node standing for `/dev/infiniband/uverbs0`.
pub fn write_tree(root: &Path, name: &str, caps: &DeviceCaps, dev: &str) -> io::Result<()> {
    let put = |path: &str, value: String| -> io::Result<()> {
        let file = root.join(path);
        fs::create_dir_all(file.parent().expect("a file in a directory"))?;
        fs::write(&file, value + "\n").map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", file.display())))
    };
    put("class/infiniband_verbs/abi_version", UVERBS_ABI_VERSION.to_string())?;
    put("class/infiniband_verbs/uverbs0/ibdev", name.into())?;
    put("class/infiniband_verbs/uverbs0/dev", dev.into())?;
    put("class/infiniband_verbs/uverbs0/abi_version", DRIVER_ABI_VERSION.to_string())?;
    let ib = format!("class/infiniband/{name}");
    let guid = guid_text(caps.node_guid);
    let fw = caps.fw_ver;
    put(&format!("{ib}/node_type"), "1: CA".into())?;
    put(&format!("{ib}/node_guid"), guid.clone())?;
    put(&format!("{ib}/sys_image_guid"), guid.clone())?;
    put(&format!("{ib}/fw_ver"), format!("{}.{}.{}", fw >> 32, (fw >> 16) & 0xffff, fw & 0xffff))?;
    put(&format!("{ib}/hca_type"), "accelsim".into())?;
    put(&format!("{ib}/hw_rev"), format!("{:#x}", caps.hw_ver))?;
    put(&format!("{ib}/node_desc"), format!("accelverbs soft device {name}"))?;
    let port = format!("{ib}/ports/1");
    for (file, value) in [
        ("state", "4: ACTIVE".to_string()),
        ("phys_state", "5: LinkUp".into()),
        ("lid", "0x0".into()),
        ("lid_mask_count", "0".into()),
        ("sm_lid", "0x0".into()),
        ("sm_sl", "0".into()),
        ("cap_mask", "0x00000000".into()),
        ("rate", "2.5 Gb/sec (1X SDR)".into()),
        ("link_layer", "InfiniBand".into()),
        // The one GID the port reports: link-local prefix, then the node GUID.
        ("gids/0", format!("fe80:0000:0000:0000:{guid}")),
        ("gid_attrs/types/0", "IB/RoCE v1".into()),
        ("pkeys/0", "0xffff".into()),
    ] {
        put(&format!("{port}/{file}"), value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn guids_print_as_the_kernel_prints_them() {
        assert_eq!(super::guid_text(0x02ac_ce1e_0000_0001), "02ac:ce1e:0000:0001");
    }
}
