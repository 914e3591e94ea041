//! The seccomp filters of tetra's threads, for each of the four arches, on any host: every thread
//! kind's list resolves in the arch's table (whose numbers `uapi.rs` checks against the headers),
//! and the program, interpreted with a `seccomp_data` in the arch's byte order, allows what the
//! thread needs and kills for the rest.

use vmm_core::sandbox::bpf::{run, SeccompData, RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS, RET_LOG};
use vmm_core::sandbox::{Sandbox, SeccompMode, SyscallTable, ThreadKind};

const TABLES: [&SyscallTable; 4] = [
    &arch_x86_64::seccomp::SYSCALLS,
    &arch_arm64::seccomp::SYSCALLS,
    &arch_ppc64::seccomp::SYSCALLS,
    &arch_booke::seccomp::SYSCALLS,
];

/// Numbers of syscalls no list may have, per arch (from each arch's uapi `unistd` header).
fn forbidden(arch: &str) -> Vec<(&'static str, u32)> {
    match arch {
        "x86_64" => vec![
            ("execve", 59),
            ("ptrace", 101),
            ("clone", 56),
            ("fork", 57),
            ("acct", 163),
            ("mount", 165),
        ],
        "arm64" => vec![
            ("execve", 221),
            ("ptrace", 117),
            ("clone", 220),
            ("acct", 89),
            ("mount", 40),
        ],
        _ => vec![
            ("execve", 11),
            ("ptrace", 26),
            ("clone", 120),
            ("fork", 2),
            ("acct", 51),
            ("mount", 21),
        ],
    }
}

fn verdict(
    t: &SyscallTable,
    p: &[vmm_core::sandbox::bpf::SockFilter],
    nr: u32,
    args: [u64; 6],
) -> u32 {
    let data = SeccompData {
        nr,
        arch: t.audit_arch,
        args,
    };
    run(p, &data, t.big_endian).expect("a well-formed program")
}

fn nr(t: &SyscallTable, name: &str) -> u32 {
    t.number(name)
        .unwrap_or_else(|| panic!("{}: no {name}", t.arch))
}

#[test]
fn every_list_builds_for_every_arch_and_allows_what_its_thread_needs() {
    for t in TABLES {
        let sb = Sandbox {
            mode: SeccompMode::On,
            table: t,
            probe: None,
        };
        for kind in ThreadKind::ALL {
            let p = sb.program(kind).unwrap().unwrap();
            eprintln!(
                "{}: {kind}: {} syscalls, {} instructions",
                t.arch,
                sb.allowed(kind).unwrap().len(),
                p.len()
            );
            for name in ["futex", "write", "munmap", "exit", "rt_sigreturn"] {
                assert_eq!(
                    verdict(t, &p, nr(t, name), [0; 6]),
                    RET_ALLOW,
                    "{}: {kind}: {name}",
                    t.arch
                );
            }
            for (name, n) in forbidden(t.arch) {
                assert_eq!(
                    verdict(t, &p, n, [0; 6]),
                    RET_KILL_PROCESS,
                    "{}: {kind} may call {name}",
                    t.arch
                );
            }
            // Another ABI on the same host (x86's i386 entry, ppc's 32-bit one): denied.
            let other = SeccompData {
                nr: nr(t, "write"),
                arch: t.audit_arch ^ 0x8000_0000,
                args: [0; 6],
            };
            assert_eq!(run(&p, &other, t.big_endian), Some(RET_KILL_PROCESS));
        }
        let vcpu = sb.program(ThreadKind::Vcpu).unwrap().unwrap();
        let ioctl = nr(t, "ioctl");
        // KVM_RUN (_IO(0xAE, 0x80)) in every encoding; a tty ioctl (TCGETS-like, type 'T') not.
        assert_eq!(
            verdict(t, &vcpu, ioctl, [9, 0xae80, 0, 0, 0, 0]),
            RET_ALLOW,
            "{}",
            t.arch
        );
        assert_eq!(
            verdict(t, &vcpu, ioctl, [9, 0x5401, 0, 0, 0, 0]),
            RET_KILL_PROCESS,
            "{}",
            t.arch
        );
        // A vCPU thread's open fails with EACCES (glibc may open on its own), never succeeds.
        assert_eq!(
            verdict(t, &vcpu, nr(t, "openat"), [0; 6]),
            RET_ERRNO | 13,
            "{}",
            t.arch
        );
        let main = sb.program(ThreadKind::Main).unwrap().unwrap();
        assert_eq!(
            verdict(t, &main, ioctl, [9, u64::from(t.fionbio), 0, 0, 0, 0]),
            RET_ALLOW,
            "{}",
            t.arch
        );
        assert_eq!(verdict(t, &main, nr(t, "openat"), [0; 6]), RET_ALLOW);
        // mmap with PROT_EXEC: denied everywhere.
        let mmap = nr(t, "mmap");
        assert_eq!(
            verdict(t, &main, mmap, [0, 4096, 7, 0x22, 0, 0]),
            RET_KILL_PROCESS
        );
        let log = Sandbox {
            mode: SeccompMode::Log,
            ..sb
        };
        let p = log.program(ThreadKind::Vcpu).unwrap().unwrap();
        assert_eq!(verdict(t, &p, nr(t, "socket"), [0; 6]), RET_LOG);
        assert_eq!(verdict(t, &p, nr(t, "openat"), [0; 6]), RET_ERRNO | 13);
    }
}

#[test]
fn booke_reads_arguments_big_endian() {
    // The same arguments, read in the wrong byte order, would be another ioctl request.
    let t = &arch_booke::seccomp::SYSCALLS;
    assert!(t.big_endian);
    let sb = Sandbox {
        mode: SeccompMode::On,
        table: t,
        probe: None,
    };
    let p = sb.program(ThreadKind::Vcpu).unwrap().unwrap();
    let data = SeccompData {
        nr: nr(t, "ioctl"),
        arch: t.audit_arch,
        args: [9, 0xae80, 0, 0, 0, 0],
    };
    assert_eq!(run(&p, &data, true), Some(RET_ALLOW));
    assert_eq!(run(&p, &data, false), Some(RET_KILL_PROCESS));
}
