//! What `tetra --help`, `tetra CMD --help` and `tetra help CMD` print. Each command's text is
//! built from the same pieces as the overview, so the two never disagree.

/// The synopsis lines of `tetra run`.
macro_rules! run_synopsis {
    () => {
        "  tetra run [OPTIONS]     boot a guest (with no --kernel, the embedded default guest)\n"
    };
}

/// The synopsis lines of `tetra ctl`.
macro_rules! ctl_synopsis {
    () => {
        "  tetra ctl --api PATH pause|resume|status|config|vcpus|powerdown|snapshot FILE
                          send a request to a running VM's control socket (vcpus: each
                          vCPU's KVM_RUN returns and place; its registers when paused;
                          powerdown: press the guest's power button)\n"
    };
}

/// The synopsis lines of `tetra migrate`.
macro_rules! migrate_synopsis {
    () => {
        "  tetra migrate --api PATH --to unix:PATH|tcp:HOST:PORT
                          live-migrate a running VM to a destination started with --incoming\n"
    };
}

/// The synopsis lines of `tetra regs`.
macro_rules! regs_synopsis {
    () => {
        "  tetra regs [--arch ARCH] [--json]
                          list an arch's registers: name, set, number, size, attributes,
                          ONE_REG id (ARCH: x86_64, arm64, ppc64, booke; default: this host's)\n"
    };
}

/// The synopsis lines of `tetra inspect`.
macro_rules! inspect_synopsis {
    () => {
        "  tetra inspect snapshot FILE
                          print a snapshot's envelope and sections as JSON
  tetra inspect its FILE  print the ITS tables in an arm64 snapshot's memory (device, collection
                          and interrupt translation entries, as a restore reads them) as JSON,
                          with every entry a restore would refuse
  tetra inspect tlb FILE [--geometry G] [--little-endian] [--translate Q]...
                          print a BookE TLB from a snapshot section or a raw shared-array dump
                          (G like 512x4,64) and translate addresses through it
                          (Q like 0xc0001234,pid=3,as=1,access=w,user)
  tetra inspect htab FILE [--order N] [--big-endian] [--slb ESID,VSID]... [--vcpu N] [--translate EA]...
                          print the valid entries of a ppc64 hashed page table, from a
                          snapshot (its HTAB section; the SLB vCPU N saved, 0 by default,
                          unless --slb) or a raw KVM_PPC_GET_HTAB_FD stream, and
                          translate addresses through it\n"
    };
}

/// The options of `tetra run`.
macro_rules! run_options {
    () => {
        "  --config FILE           first: read the VM's description (JSON, as --print-config prints
                          it); the options after it apply on top (--disk, --net add devices)
  --print-config          print the effective description as JSON and exit, running nothing
  --kernel FILE           kernel image: multiboot or PVH ELF, vmlinux, bzImage (x86_64);
                          a Linux Image, uncompressed (arm64)
  --initrd FILE           initial ramdisk (module 0 for multiboot kernels)
  --cmdline STR           kernel command line
  --cpus N                number of vCPUs (default 1)
  --mem MIB               guest RAM in MiB (default 128)
  --raw ADDR[:MODE]       load --kernel as a raw image at ADDR and start there
                          (x86 MODE: real (default), protected, long)
  --irqchip NAME          interrupt controller, where an arch offers several
                          (arm64: gicv3, the default, or gicv3-its; the default is
                          gicv3-its with virtio-pci devices, whose MSI-X it delivers)
  --on-triple-fault crash|reset
                          x86: what a guest's triple fault does: crash (default) ends
                          tetra with status 6; reset resets the machine (vCPUs, devices
                          and payload back to their boot state, the CMOS RAM kept) and
                          the guest runs again; more than 8 resets within 10 s: status 6
  --cpu-template SPEC     x86: CPUID features withheld from every vCPU. SPEC is
                          [BASE][,-FEATURE...]: BASE none (default: the host's KVM-
                          supported set), baseline (no AVX-512, AMX, LA57 and other newer
                          features; see README) or a JSON FILE (a path with a '/' or
                          ending in .json); -FEATURE withholds one more, e.g.
                          baseline,-kvm-pv-ipi or -kvm-pv-unhalt. Names: QEMU's (avx512f,
                          avx2, pcid, x2apic, hypervisor, ...; the KVM leaf's kvmclock,
                          kvmclock2, kvm-asyncpf, kvm-asyncpf-int, kvm-steal-time,
                          kvm-pv-eoi, kvm-pv-unhalt, kvm-pv-tlb-flush, kvm-pv-ipi,
                          kvm-poll-control, kvm-pv-sched-yield, kvm-msi-ext-dest-id).
                          A snapshot records it; a restore keeps the snapshot's and is
                          refused, naming them, where this host lacks its features.
                          ppc64: the processor the guest sees: host (default), ppc970,
                          ppc970fx, ppc970mp, power7, power8 or power9; another family
                          than the host's needs KVM-PR (KVM-HV refuses it by name)
  --pit auto|on|off       x86: whether the machine has a PIT (i8254 timer); auto (default):
                          none for a PVH kernel (Linux with kvmclock) or the embedded guest,
                          a PIT for every other payload; a PIT costs ~14 ms at exit
  --rng                   a virtio entropy device (the guest's /dev/hwrng)
  --transport mmio|pci    how virtio devices reach the guest: each on its own virtio-mmio
                          window, or each a virtio-pci function with MSI-X behind a PCI host
                          bridge (x86_64, arm64). Default: pci on x86_64 and arm64, mmio
                          elsewhere
  --console serial|virtio where stdin goes: the serial port (default) or a virtio-console
                          device (the guest's hvc0); guest output from both goes to stdout
  --disk PATH[,ro][,id=ID]
                          a virtio block device on a raw image (a regular file or a block
                          device, whole 512-byte sectors; PATH without commas), locked so that
                          no other VM writes it; ro: read-only (shared lock); ID: the serial
                          the guest reads (at most 20 bytes). Repeat for more disks (at most 16)
  --net tap=NAME[,mac=MAC]
                          a virtio network card on the host TAP interface NAME (made beforehand
                          with `ip tuntap add NAME mode tap [user U]`, or by tetra when run as
                          root); MAC default 52:54:00:12:34:56 plus the card's index.
                          Repeat for more cards (at most 8)
  --vsock cid=N[,uds=PATH]
                          a virtio vsock device, the guest's CID N (3 to 4294967294). With
                          uds=PATH its host side is Unix sockets: a host process connects to
                          PATH and writes the line CONNECT <port> to reach the guest's port (it
                          reads OK <hostport>); the guest's connections to CID 2 port P go to
                          PATH_P. Without it, the kernel's vhost-vsock (/dev/vhost-vsock, module
                          vhost_vsock): host processes use AF_VSOCK sockets to CID N. At most one
  --restore FILE          run from a snapshot instead of booting
  --verify MODE           with --restore: when to check guest memory against the snapshot's
                          digests: lazy (while the guest runs; a mismatch stops it, exit 2),
                          eager (before it runs; a mismatch refuses the snapshot) or off.
                          Default: lazy, but eager for a VM with a read-write disk
  --incoming URI          wait at unix:PATH or tcp:HOST:PORT for a migrating VM and run it
  --api PATH              serve a control socket (pause, resume, status, snapshot, migrate):
                          HTTP/1.1 with JSON (docs/api.yaml; what tetra ctl speaks), or
                          the older one-line text protocol
  --qmp unix:PATH         serve a QMP subset (QEMU's machine protocol) at PATH: query-status,
                          stop, cont, system_reset, quit, migrate, query-migrate,
                          migrate-set-capabilities, query-cpus-fast; events STOP, RESUME,
                          SHUTDOWN, MIGRATION. With it, a VM migrated away (by any socket)
                          stays, postmigrate, until QMP's quit
  --stats                 when the guest ends, print peak RSS, resident guest RAM and KVM_RUN
                          returns per vCPU to stderr
  --seccomp on|log|off    every thread runs under a seccomp filter of what it needs (README,
                          Sandbox): on (default) kills tetra with SIGSYS on any other syscall,
                          log lets it through and has the kernel log it, off installs none
  --log-level LEVEL       log events (vCPU threads, control requests, migration progress,
                          devices needing a reset, the guest's end), one line each with the
                          vCPU as a field: error, warn, info, debug or trace. Off by default
  --log-file PATH         log to PATH (appended to; default level info) instead of stderr
  -h, --help              print this help\n"
    };
}

/// The exit statuses of `tetra run` and the request commands.
macro_rules! exit_status {
    () => {
        "Exit status:
  0    the guest powered off or reset, or migrated away; a ctl/migrate request succeeded
  N    odd: the guest wrote V to the debug-exit device, N = (V << 1) | 1
  1    a ctl or migrate request failed (the VM keeps running)
  2    usage error or bad input (options, kernel, initrd, disk or snapshot files, sizes,
       a disk locked by another process, a snapshot whose memory fails its check)
  4    host error (no /dev/kvm, no permission, a KVM call failed, a migration link failed)
  6    the guest crashed (triple fault without --on-triple-fault reset, a reset storm,
       KVM internal error)\n"
    };
}

/// `tetra --help`: every command's synopsis, run's options and the exit statuses.
pub const HELP: &str = concat!(
    "tetra: a KVM virtual-machine monitor for x86_64, arm64, ppc64 and PowerPC BookE\n\nUsage:\n",
    run_synopsis!(),
    ctl_synopsis!(),
    migrate_synopsis!(),
    regs_synopsis!(),
    inspect_synopsis!(),
    "  tetra help [COMMAND]    this help, or a command's (as tetra COMMAND --help)
  tetra --help | --version\n\nOptions for run:\n",
    run_options!(),
    "\n",
    exit_status!(),
);

/// `tetra run --help`.
const RUN: &str = concat!(
    "Usage:\n",
    run_synopsis!(),
    "\nOptions:\n",
    run_options!(),
    "\n",
    exit_status!(),
);

/// `tetra ctl --help`.
const CTL: &str = concat!(
    "Usage:\n",
    ctl_synopsis!(),
    "
Requests (PATH is the socket of a VM started with tetra run --api PATH):
  pause                   stop every vCPU (the VM keeps its state)
  resume                  run the vCPUs again
  status                  the VM's state: created, running, paused, suspended (asleep in
                          ACPI S3) or stopped
  config                  the VM's description as tetra run --print-config prints it (a
                          restored or migrated VM's too): tetra run --config takes it
  vcpus                   each vCPU's KVM_RUN returns and where its thread is; with the VM
                          paused, its registers too
  powerdown               press the guest's power button (x86: the ACPI fixed-feature
                          button; a guest suspended to RAM wakes). The guest decides: Linux
                          reports KEY_POWER and its userspace (systemd-logind, acpid) powers
                          off; the VM ends when the guest does. Fails on arm64, ppc64, BookE
  snapshot FILE           write a snapshot to FILE and its memory file beside it (a running
                          VM is paused meanwhile and resumed after); tetra run --restore FILE
                          runs it again. On a terminal, a progress bar on stderr

Options:
  --api PATH              the control socket
  -h, --help              print this help

Exit status:
  0    the request succeeded (the reply follows ok: on stdout)
  1    the request failed (the VM keeps running)
  2    usage error\n",
);

/// `tetra migrate --help`.
const MIGRATE: &str = concat!(
    "Usage:\n",
    migrate_synopsis!(),
    "
Options:
  --api PATH              the source VM's control socket (tetra run --api PATH)
  --to URI                the destination: unix:PATH or tcp:HOST:PORT, where a tetra started
                          with --incoming URI waits
  -h, --help              print this help

Progress goes to stderr, the summary to stdout. On a terminal, progress is one status line
redrawn in place, with a bar for the round being sent; elsewhere, one line per round.

Exit status:
  0    the VM migrated; the source ends
  1    the migration failed (the source keeps running, or stays paused if it cannot know
       whether the destination took over, and says so)
  2    usage error\n",
);

/// `tetra regs --help`.
const REGS: &str = concat!(
    "Usage:\n",
    regs_synopsis!(),
    "
Options:
  --arch ARCH             x86_64, arm64, ppc64 or booke (default: this host's)
  --json                  one JSON document instead of a table
  -h, --help              print this help\n",
);

/// `tetra inspect --help` (and `tetra inspect snapshot|its|tlb|htab --help`).
const INSPECT: &str = concat!(
    "Usage:\n",
    inspect_synopsis!(),
    "
Options for tlb:
  --geometry G            the TLB's geometry when FILE is a raw dump: TLB0 entries x ways,
                          TLB1 entries (e.g. 512x4,64)
  --little-endian         a raw dump written by a little-endian host
  --translate Q           translate an effective address (repeatable):
                          EA[,pid=N][,as=0|1][,cm=0|1][,access=r|w|x][,user]

Options for htab:
  --order N               log2 of the table's size in bytes (default: the size the records fill)
  --big-endian            record headers written by a big-endian host
  --slb ESID,VSID         an SLB entry as slbmte takes it (repeatable; needed to translate)
  --translate EA          translate an effective address (repeatable)
  -h, --help              print this help

Exit status:
  0    printed
  2    usage error, or a FILE that cannot be read or decoded\n",
);

/// Each command a user types after `tetra`, with its help.
pub const COMMANDS: &[(&str, &str)] = &[
    ("run", RUN),
    ("ctl", CTL),
    ("migrate", MIGRATE),
    ("regs", REGS),
    ("inspect", INSPECT),
];

/// The help of command `name`, if there is such a command.
pub fn of(name: &str) -> Option<&'static str> {
    COMMANDS.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_has_help_naming_it_and_the_overview_lists_it() {
        for (name, text) in COMMANDS {
            assert!(text.starts_with("Usage:\n"), "{name}");
            assert!(text.contains(&format!("  tetra {name} ")), "{name}");
            assert!(HELP.contains(&format!("  tetra {name} ")), "{name}");
            assert!(text.contains("-h, --help"), "{name}");
        }
        assert_eq!(of("inspect"), Some(INSPECT));
        assert_eq!(of("fly"), None);
    }
}
