//! The `tetra` binary on real guests: the multiboot acceptance run from the command line.

use integration_tests::guests;
use integration_tests::harness::{check, Suite};
use integration_tests::run::{tetra_bin, Scratch};
use std::process::Command;

pub fn register(s: &mut Suite) {
    let Some(g) = guests::get("multiboot") else {
        return;
    };
    s.kvm("cli::multiboot_kernel_initrd_two_cpus", move || {
        let dir = Scratch::new("cli-multiboot");
        let kernel = g.write_to(&dir.0);
        let initrd = dir.0.join("initrd.txt");
        std::fs::write(&initrd, "an initrd from the command line\n").unwrap();
        let out = Command::new(tetra_bin()?)
            .args(["run", "--kernel"])
            .arg(&kernel)
            .arg("--initrd")
            .arg(&initrd)
            .args(["--cpus", "2", "--cmdline", "from the cli"])
            .output()
            .map_err(|e| e.to_string())?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let want = [
            "multiboot: cmdline=from the cli",
            "multiboot: module 0: 32 bytes: an initrd from the command line",
            "fw_cfg: QEMU signature, NB_CPUS=2",
            "AP 1 up",
            "smp: 2 of 2 vCPUs up, 1 IPIs",
        ];
        for l in want {
            check(stdout.lines().any(|x| x == l), || {
                format!("missing {l:?} in:\n{stdout}")
            })?;
        }
        // The guest ends with status 0x42: tetra exits (0x42 << 1) | 1.
        check(out.status.code() == Some((0x42 << 1) | 1), || {
            format!(
                "exit {:?}, stderr {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })
    });
}
