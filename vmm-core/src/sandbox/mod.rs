//! The sandbox: every tetra thread runs under a seccomp-BPF filter that allows only what that
//! kind of thread calls ([`ThreadKind`], lists in `lists.rs`), with `no_new_privs` set first.
//!
//! Filters are per thread and installed by each thread itself once its setup is done: a vCPU
//! thread as it starts (the boot vCPU's while the VM is built, before its vCPU is handed to it:
//! `vm/vcpu_threads.rs`), the device worker, the console-out thread and a restored VM's
//! memory check as they start, and the main thread ([`Sandbox::enter`], called by the binary)
//! after the VM is built and started. Everything opened at setup (`/dev/kvm`, the VM and vCPU
//! fds, kernel and disk images, a snapshot being restored, an incoming migration's socket) is
//! opened before any filter, so the lists stay small. Threads inherit their creator's filter,
//! and every thread is created before its creator's filter is on.
//!
//! What a syscall outside the list does is the [`SeccompMode`]: `on` kills the process
//! (`SECCOMP_RET_KILL_PROCESS`: SIGSYS, with a kernel audit record naming the syscall), `log`
//! lets it through and has the kernel log it, `off` installs nothing.
//!
//! The programs are built here, in plain Rust, for the arch whose [`SyscallTable`] they are
//! given (each arch crate publishes its own, checked against that arch's uapi headers by
//! `abi-check`), and tested on any host by interpreting them ([`bpf::run`]). Why not rust-vmm's
//! `seccompiler`: its `TargetArch` is x86_64, aarch64 or riscv64, and the program it compiles
//! starts with a check of that arch's `AUDIT_ARCH` value, so it cannot build a filter for a
//! powerpc64 host; one builder for all four arches keeps one code path, tested everywhere.

pub mod bpf;
mod lists;

use lists::Rule;
use std::fmt;

/// Errors building or installing a filter.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// An allow-list names a syscall the arch's table lacks.
    #[error("the {arch} syscall table has no {name} (needed by the {kind} thread's list)")]
    UnknownSyscall {
        /// The arch.
        arch: &'static str,
        /// The syscall.
        name: &'static str,
        /// The thread kind.
        kind: ThreadKind,
    },
    /// The program is longer than the kernel takes.
    #[error("the {0} thread's seccomp program is too long")]
    TooLong(ThreadKind),
    /// The kernel refused a step.
    #[error("{what} failed")]
    Kernel {
        /// What was being done.
        what: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What a syscall outside a thread's list does (`tetra run --seccomp`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SeccompMode {
    /// No filter.
    Off,
    /// Allowed, and logged by the kernel (`SECCOMP_RET_LOG`): to find what a list lacks.
    Log,
    /// The process is killed with SIGSYS (`SECCOMP_RET_KILL_PROCESS`).
    #[default]
    On,
}

impl std::fmt::Display for SeccompMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SeccompMode::Off => "off",
            SeccompMode::Log => "log",
            SeccompMode::On => "on",
        })
    }
}

impl std::str::FromStr for SeccompMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(SeccompMode::Off),
            "log" => Ok(SeccompMode::Log),
            "on" => Ok(SeccompMode::On),
            other => Err(format!("--seccomp {other:?}: expected on, log or off")),
        }
    }
}

/// The kinds of tetra threads, each with its own allow-list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ThreadKind {
    /// The main thread: event loop, control requests, snapshots, migrations, teardown.
    Main,
    /// A vCPU thread.
    Vcpu,
    /// The virtio device worker.
    Worker,
    /// The thread that writes guest console output to stdout.
    ConsoleOut,
    /// The lazy check of a restored VM's memory file.
    MemoryCheck,
}

impl ThreadKind {
    /// Every kind.
    pub const ALL: [ThreadKind; 5] = [
        ThreadKind::Main,
        ThreadKind::Vcpu,
        ThreadKind::Worker,
        ThreadKind::ConsoleOut,
        ThreadKind::MemoryCheck,
    ];

    /// Its name (`main`, `vcpu`, `virtio`, `console-out`, `memory-check`: the thread names).
    pub fn name(self) -> &'static str {
        match self {
            ThreadKind::Main => "main",
            ThreadKind::Vcpu => "vcpu",
            ThreadKind::Worker => "virtio",
            ThreadKind::ConsoleOut => "console-out",
            ThreadKind::MemoryCheck => "memory-check",
        }
    }
}

impl fmt::Display for ThreadKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ThreadKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ThreadKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| format!("no thread kind {s:?}"))
    }
}

/// An arch's syscall ABI, as its arch crate publishes it: numbers by name, and what the kernel
/// reports in `seccomp_data` for it.
#[derive(Debug)]
pub struct SyscallTable {
    /// The arch (for messages).
    pub arch: &'static str,
    /// `AUDIT_ARCH_*` of the native 64-bit ABI.
    pub audit_arch: u32,
    /// Whether `seccomp_data` is big-endian (BookE hosts).
    pub big_endian: bool,
    /// `FIONBIO` (non-blocking sockets: std's `set_nonblocking`).
    pub fionbio: u32,
    /// `FIONREAD` (the resolver's reads).
    pub fionread: u32,
    /// `TUNSETOFFLOAD` (a network card's offloads, set on its TAP interface when the guest's
    /// driver starts the card: on a vCPU thread, or the main thread for a restore).
    pub tunsetoffload: u32,
    /// Syscall numbers by name: every name the lists use that the arch has.
    pub numbers: &'static [(&'static str, u32)],
}

impl SyscallTable {
    /// The number of `name`, if the arch has it.
    pub fn number(&self, name: &str) -> Option<u32> {
        self.numbers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, nr)| *nr)
    }
}

/// The facts `abi-check` compiles against an arch's uapi headers for its table: `__NR_<name>` for
/// every number, `audit` (the name of its `AUDIT_ARCH_*` constant), `FIONBIO`, `FIONREAD` and
/// `TUNSETOFFLOAD`, the vhost ioctls' type byte, and every vhost request and struct ([`crate::devices::virtio::vhost_kern::abi_facts`]).
pub fn abi_facts(
    table: &SyscallTable,
    audit: &'static str,
    origin: &'static str,
) -> Vec<crate::regs::abi::AbiFact> {
    use crate::regs::abi::AbiFact;
    let mut facts: Vec<AbiFact> = table
        .numbers
        .iter()
        .map(|(name, nr)| AbiFact::new(format!("__NR_{name}"), u64::from(*nr), origin))
        .collect();
    facts.push(AbiFact::new(audit, u64::from(table.audit_arch), origin));
    facts.push(AbiFact::new("FIONBIO", u64::from(table.fionbio), origin));
    facts.push(AbiFact::new("FIONREAD", u64::from(table.fionread), origin));
    facts.push(AbiFact::new(
        "TUNSETOFFLOAD",
        u64::from(table.tunsetoffload),
        origin,
    ));
    let vhost_type = u64::from(VHOST_MASK.1 >> 8);
    facts.push(AbiFact::new("VHOST_VIRTIO", vhost_type, origin));
    // Every vhost request tetra makes, and the structs they carry.
    facts.extend(crate::devices::virtio::vhost_kern::abi_facts());
    facts
}

/// The ioctl type byte of KVM requests (`KVMIO`), bits 8-15 of the request on every arch.
const KVMIO_MASK: (u32, u32) = (0xff00, 0xae00);
/// The ioctl type byte of vhost requests (`VHOST_VIRTIO`): the kernel's vhost-vsock, set up
/// when a driver starts the device (a vCPU thread, or the main thread for a restore) and
/// stopped and started with the VM (the main thread).
const VHOST_MASK: (u32, u32) = (0xff00, 0xaf00);
/// `PROT_EXEC` (the same on every arch).
const PROT_EXEC: u32 = 4;
/// `SIGABRT` (the same on every arch tetra runs on).
const SIGABRT: u32 = 6;

/// The filters of one VM's threads: the mode, the host's syscall table, and the test hook.
#[derive(Clone, Copy, Debug)]
pub struct Sandbox {
    /// What a syscall outside a list does.
    pub mode: SeccompMode,
    /// The host arch's syscalls.
    pub table: &'static SyscallTable,
    /// A test hook (`TETRA_SECCOMP_PROBE` in the binary): right after its filter is on, a thread
    /// of this kind calls `acct`, which no thread's list allows, so a test can see that the
    /// filter of that thread kills the process (or, with `log`, lets it go on).
    pub probe: Option<ThreadKind>,
}

impl Sandbox {
    /// The allowed syscalls of `kind`, resolved, deduplicated, in list order.
    pub fn allowed(&self, kind: ThreadKind) -> Result<Vec<bpf::Allowed>, SandboxError> {
        let t = self.table;
        let mut out: Vec<bpf::Allowed> = Vec::new();
        for (name, optional, rule) in lists::entries(kind) {
            let nr = match t.number(name) {
                Some(nr) => nr,
                None if optional => continue,
                None => {
                    return Err(SandboxError::UnknownSyscall {
                        arch: t.arch,
                        name,
                        kind,
                    })
                }
            };
            if out.iter().any(|a| a.nr == nr) {
                continue;
            }
            let arg = |arg, mask, value| bpf::ArgTest { arg, mask, value };
            let mut action = bpf::RET_ALLOW;
            let any_of = match rule {
                Rule::Any => vec![],
                Rule::KvmIoctl => vec![
                    arg(1, KVMIO_MASK.0, KVMIO_MASK.1),
                    arg(1, VHOST_MASK.0, VHOST_MASK.1),
                    arg(1, u32::MAX, t.tunsetoffload),
                ],
                Rule::KvmAndSocketIoctl => vec![
                    arg(1, KVMIO_MASK.0, KVMIO_MASK.1),
                    arg(1, VHOST_MASK.0, VHOST_MASK.1),
                    arg(1, u32::MAX, t.tunsetoffload),
                    arg(1, u32::MAX, t.fionbio),
                    arg(1, u32::MAX, t.fionread),
                ],
                Rule::SocketIoctl => {
                    vec![arg(1, u32::MAX, t.fionbio), arg(1, u32::MAX, t.fionread)]
                }
                Rule::NoExec => vec![arg(2, PROT_EXEC, 0)],
                Rule::AbortOnly => vec![arg(2, u32::MAX, SIGABRT)],
                Rule::KickOrAbort => vec![
                    arg(2, u32::MAX, SIGABRT),
                    arg(2, u32::MAX, crate::vcpu::kick_signal() as u32),
                ],
                Rule::Refused => {
                    action = bpf::RET_ERRNO | libc::EACCES as u32;
                    vec![]
                }
            };
            out.push(bpf::Allowed { nr, any_of, action });
        }
        Ok(out)
    }

    /// The program of `kind` under this sandbox's mode (`None` for [`SeccompMode::Off`]).
    ///
    /// Compiled once per process for each mode, table and kind, by the first thread of that kind
    /// to [`Sandbox::enter`] (the boot vCPU's while the VM is built, beside the main thread):
    /// later ones (the other vCPUs' threads, on the way to their first `KVM_RUN`) get the program
    /// without resolving their list again.
    pub fn program(&self, kind: ThreadKind) -> Result<Option<Vec<bpf::SockFilter>>, SandboxError> {
        /// Compiled programs: (mode, table's address, kind) and the program.
        type Compiled = Vec<((SeccompMode, usize, ThreadKind), Vec<bpf::SockFilter>)>;
        static COMPILED: std::sync::Mutex<Compiled> = std::sync::Mutex::new(Vec::new());
        let default = match self.mode {
            SeccompMode::Off => return Ok(None),
            SeccompMode::Log => bpf::RET_LOG,
            SeccompMode::On => bpf::RET_KILL_PROCESS,
        };
        let key = (self.mode, std::ptr::from_ref(self.table) as usize, kind);
        let cached = |c: &Compiled| c.iter().find(|(k, _)| *k == key).map(|(_, p)| p.clone());
        if let Some(p) = cached(&COMPILED.lock().unwrap_or_else(|e| e.into_inner())) {
            return Ok(Some(p));
        }
        let allowed = self.allowed(kind)?;
        let prog = bpf::program(
            self.table.audit_arch,
            self.table.big_endian,
            &allowed,
            default,
            bpf::RET_KILL_PROCESS,
        )
        .ok_or(SandboxError::TooLong(kind))?;
        let mut c = COMPILED.lock().unwrap_or_else(|e| e.into_inner());
        if cached(&c).is_none() {
            c.push((key, prog.clone()));
        }
        Ok(Some(prog))
    }

    /// Puts the calling thread under the filter of `kind`: `no_new_privs`, then the filter
    /// (nothing with [`SeccompMode::Off`]). It holds for the thread's life and for every thread
    /// it creates afterwards.
    pub fn enter(&self, kind: ThreadKind) -> Result<(), SandboxError> {
        let Some(prog) = self.program(kind)? else {
            return Ok(());
        };
        install(&prog)?;
        if self.probe == Some(kind) {
            probe();
        }
        Ok(())
    }

    /// [`Sandbox::enter`] for a thread whose caller cannot return an error (a thread body): on
    /// failure it says so on stderr and ends the process, never running unfiltered.
    pub fn enter_or_exit(&self, kind: ThreadKind) {
        if let Err(e) = self.enter(kind) {
            eprintln!(
                "tetra: the {kind} thread's sandbox: {}",
                crate::error_chain::chain(&e)
            );
            std::process::exit(4);
        }
    }
}

/// `no_new_privs`, then `prog` as this thread's seccomp filter.
fn install(prog: &[bpf::SockFilter]) -> Result<(), SandboxError> {
    let kernel = |what| SandboxError::Kernel {
        what,
        source: std::io::Error::last_os_error(),
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integer arguments only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(kernel("setting no_new_privs"));
    }
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        // The kernel only reads the program; `SockFilter` is `struct sock_filter`'s layout.
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `fprog` points to `prog`, `len` instructions of `struct sock_filter` layout, alive
    // for the call; the kernel copies the program.
    let r = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &fprog as *const libc::sock_fprog,
            0,
            0,
        )
    };
    if r != 0 {
        return Err(kernel("installing the seccomp filter"));
    }
    Ok(())
}

/// The test hook's forbidden syscall: `acct`, which no thread's list has, on any arch.
fn probe() {
    // SAFETY: acct(NULL) takes no memory; outside the filter it fails with EPERM (or turns
    // process accounting off for root, which is off already).
    let r = unsafe { libc::acct(std::ptr::null()) };
    eprintln!(
        "tetra: seccomp probe: acct() returned {r} ({})",
        std::io::Error::last_os_error()
    );
}

#[cfg(test)]
mod tests;
