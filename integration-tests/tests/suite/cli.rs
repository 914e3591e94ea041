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
        // The kernel's path first, as GRUB and QEMU write a multiboot command line.
        let cmdline = format!("multiboot: cmdline={} from the cli", kernel.display());
        let want = [
            cmdline.as_str(),
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

    // The description --print-config prints starts the same VM through --config (issue 16).
    s.kvm("cli::a_printed_config_starts_the_same_vm", move || {
        let dir = Scratch::new("cli-config");
        let kernel = g.write_to(&dir.0);
        let initrd = dir.0.join("initrd.txt");
        std::fs::write(&initrd, "an initrd from the command line\n").unwrap();
        let flags: Vec<std::ffi::OsString> = vec![
            "--kernel".into(),
            kernel.into(),
            "--initrd".into(),
            initrd.into(),
            "--cpus".into(),
            "2".into(),
            "--mem".into(),
            "64".into(),
            "--cmdline".into(),
            "from the cli".into(),
        ];
        let tetra = |args: &[std::ffi::OsString]| {
            Command::new(tetra_bin()?)
                .arg("run")
                .args(args)
                .output()
                .map_err(|e| e.to_string())
        };
        let printed = tetra(&[flags.clone(), vec!["--print-config".into()]].concat())?;
        check(printed.status.success(), || {
            String::from_utf8_lossy(&printed.stderr).into_owned()
        })?;
        let file = dir.0.join("vm.json");
        std::fs::write(&file, &printed.stdout).map_err(|e| e.to_string())?;
        let by_flags = tetra(&flags)?;
        let by_file = tetra(&["--config".into(), file.clone().into()])?;
        let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();
        check(
            by_flags.status.code() == Some((0x42 << 1) | 1)
                && by_file.status.code() == by_flags.status.code()
                && text(&by_file) == text(&by_flags)
                && text(&by_file).contains(" from the cli\n")
                && text(&by_file).contains("smp: 2 of 2 vCPUs up"),
            || {
                format!(
                    "flags: {:?}\n{}\nconfig: {:?}\n{}{}",
                    by_flags.status,
                    text(&by_flags),
                    by_file.status,
                    text(&by_file),
                    String::from_utf8_lossy(&by_file.stderr)
                )
            },
        )?;
        // And prints itself back unchanged.
        let again = tetra(&["--config".into(), file.into(), "--print-config".into()])?;
        check(again.stdout == printed.stdout, || text(&again))
    });
}
