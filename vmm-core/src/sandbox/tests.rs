//! The lists against a made-up table (the real tables, one per arch, are tested in `abi-check`).

use super::bpf::{run, SeccompData, RET_ALLOW, RET_KILL_PROCESS, RET_LOG};
use super::*;

/// Every name the lists use, numbered in list order; the legacy ones left out, as on arm64.
fn numbers() -> &'static [(&'static str, u32)] {
    static N: std::sync::OnceLock<Vec<(&'static str, u32)>> = std::sync::OnceLock::new();
    N.get_or_init(|| {
        let mut v: Vec<(&'static str, u32)> = Vec::new();
        for kind in ThreadKind::ALL {
            for (name, legacy, _) in lists::entries(kind) {
                if !legacy && !v.iter().any(|(n, _)| *n == name) {
                    v.push((name, 1000 + v.len() as u32));
                }
            }
        }
        v.push(("acct", 999));
        v
    })
}

fn table() -> &'static SyscallTable {
    static T: std::sync::OnceLock<SyscallTable> = std::sync::OnceLock::new();
    T.get_or_init(|| SyscallTable {
        arch: "test",
        audit_arch: 0x1234,
        big_endian: false,
        fionbio: 0x5421,
        fionread: 0x541b,
        tunsetoffload: 0x4004_54d0,
        numbers: numbers(),
    })
}

fn sandbox(mode: SeccompMode) -> Sandbox {
    Sandbox {
        mode,
        table: table(),
        probe: None,
    }
}

fn call(p: &[bpf::SockFilter], name: &str, args: [u64; 6]) -> u32 {
    let nr = table().number(name).unwrap();
    run(
        p,
        &SeccompData {
            nr,
            arch: 0x1234,
            args,
        },
        false,
    )
    .unwrap()
}

#[test]
fn each_kind_gets_its_own_list() {
    let sb = sandbox(SeccompMode::On);
    let p = |k| sb.program(k).unwrap().unwrap();
    let (vcpu, main, worker, out) = (
        p(ThreadKind::Vcpu),
        p(ThreadKind::Main),
        p(ThreadKind::Worker),
        p(ThreadKind::ConsoleOut),
    );
    let kvm_run = [5, 0xae80, 0, 0, 0, 0];
    assert_eq!(call(&vcpu, "ioctl", kvm_run), RET_ALLOW);
    assert_eq!(call(&vcpu, "write", [0; 6]), RET_ALLOW);
    // Only the main thread opens files; it and the device worker (the vsock device's Unix
    // sockets) make sockets; nobody runs the probe's acct.
    for (p, opens, sockets) in [
        (&vcpu, false, false),
        (&worker, false, true),
        (&out, false, false),
        (&main, true, true),
    ] {
        let want = |yes| if yes { RET_ALLOW } else { RET_KILL_PROCESS };
        // Another thread's open fails (EACCES) rather than killing: glibc opens on its own.
        let refused = bpf::RET_ERRNO | libc::EACCES as u32;
        assert_eq!(
            call(p, "openat", [0; 6]),
            if opens { RET_ALLOW } else { refused }
        );
        assert_eq!(call(p, "socket", [0; 6]), want(sockets));
        assert_eq!(call(p, "acct", [0; 6]), RET_KILL_PROCESS);
    }
    // Only the main thread takes and lets go of the disk images' locks (a migration's hand-off).
    assert_eq!(call(&main, "flock", [0; 6]), RET_ALLOW);
    assert_eq!(call(&worker, "flock", [0; 6]), RET_KILL_PROCESS);
    // Non-KVM ioctls: FIONBIO for the main thread's sockets, nothing for a vCPU.
    assert_eq!(call(&main, "ioctl", [5, 0x5421, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(
        call(&vcpu, "ioctl", [5, 0x5421, 0, 0, 0, 0]),
        RET_KILL_PROCESS
    );
    assert_eq!(call(&worker, "ioctl", kvm_run), RET_KILL_PROCESS);
    assert_eq!(call(&worker, "ioctl", [5, 0x5421, 0, 0, 0, 0]), RET_ALLOW);
    // TUNSETOFFLOAD: where a network card starts (a vCPU's MMIO write, the main thread's
    // restore), not in the worker.
    for p in [&main, &vcpu] {
        assert_eq!(call(p, "ioctl", [5, 0x4004_54d0, 0x7, 0, 0, 0]), RET_ALLOW);
    }
    assert_eq!(
        call(&worker, "ioctl", [5, 0x4004_54d0, 0x7, 0, 0, 0]),
        RET_KILL_PROCESS
    );
    // No thread maps executable memory.
    for p in [&vcpu, &main, &worker, &out] {
        assert_eq!(call(p, "mmap", [0, 4096, 3, 0x22, 0, 0]), RET_ALLOW);
        assert_eq!(call(p, "mmap", [0, 4096, 5, 0x22, 0, 0]), RET_KILL_PROCESS);
        assert_eq!(call(p, "mprotect", [0, 4096, 4, 0, 0, 0]), RET_KILL_PROCESS);
    }
    // tgkill: the main thread kicks vCPUs; every thread may abort.
    let kick = crate::vcpu::kick_signal() as u64;
    assert_eq!(call(&main, "tgkill", [1, 2, kick, 0, 0, 0]), RET_ALLOW);
    assert_eq!(
        call(&vcpu, "tgkill", [1, 2, kick, 0, 0, 0]),
        RET_KILL_PROCESS
    );
    assert_eq!(call(&vcpu, "tgkill", [1, 2, 6, 0, 0, 0]), RET_ALLOW);
    assert_eq!(call(&main, "tgkill", [1, 2, 9, 0, 0, 0]), RET_KILL_PROCESS);
}

#[test]
fn log_mode_lets_everything_through_and_off_builds_nothing() {
    let p = sandbox(SeccompMode::Log)
        .program(ThreadKind::Vcpu)
        .unwrap()
        .unwrap();
    assert_eq!(call(&p, "acct", [0; 6]), RET_LOG);
    assert_eq!(call(&p, "ioctl", [5, 0x5421, 0, 0, 0, 0]), RET_LOG);
    assert!(sandbox(SeccompMode::Off)
        .program(ThreadKind::Main)
        .unwrap()
        .is_none());
}

#[test]
fn a_table_without_a_listed_syscall_is_refused_by_name() {
    static SHORT: SyscallTable = SyscallTable {
        arch: "short",
        audit_arch: 1,
        big_endian: false,
        fionbio: 0,
        fionread: 0,
        tunsetoffload: 0,
        numbers: &[("futex", 1)],
    };
    let sb = Sandbox {
        mode: SeccompMode::On,
        table: &SHORT,
        probe: None,
    };
    let e = sb.program(ThreadKind::ConsoleOut).unwrap_err().to_string();
    assert!(e.contains("short") && e.contains("console-out"), "{e}");
}

#[test]
fn modes_and_kinds_parse() {
    assert_eq!("log".parse(), Ok(SeccompMode::Log));
    assert!("yes".parse::<SeccompMode>().is_err());
    for k in ThreadKind::ALL {
        assert_eq!(k.name().parse(), Ok(k));
    }
}
