//! What each kind of tetra thread may call once its filter is on: syscalls by name, resolved to
//! numbers through the host arch's [`SyscallTable`](super::SyscallTable).
//!
//! The lists were built from what each thread calls (`strace -f` of the suite's runs of the
//! binary: boots, the control socket, snapshots, restores, migrations both ways, virtio devices)
//! and are checked by the suite running with the filters on, natively and in the arm64 and ppc64
//! lanes. Setup (opening `/dev/kvm`, files, sockets; creating the VM, its vCPUs and threads)
//! happens before any filter, so it is not here.
//!
//! Names marked legacy exist only on some arches (x86_64 and powerpc have `open`, `poll`,
//! `epoll_wait`, ... which the generic table arm64 uses lacks; only powerpc has `send`, `recv` and
//! `socketcall`): glibc calls them where the arch has them (on powerpc, std's socket reads are
//! `recv`: the ppc64 lane's control-socket tests died of it, `syscall=336` in the audit log).

use super::ThreadKind;

/// Argument rules a name can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Any arguments.
    Any,
    /// `ioctl`: KVM requests (type `0xAE`), vhost requests (type `0xAF`: the kernel's
    /// vhost-vsock started by its driver), and `TUNSETOFFLOAD` (a network card started by its
    /// driver sets its interface's offloads).
    KvmIoctl,
    /// `ioctl`: as [`Rule::KvmIoctl`], and `FIONBIO` / `FIONREAD` on sockets.
    KvmAndSocketIoctl,
    /// `ioctl`: `FIONBIO` / `FIONREAD` on sockets only.
    SocketIoctl,
    /// `mmap` / `mprotect`: never `PROT_EXEC`.
    NoExec,
    /// `tgkill`: only `SIGABRT` (a panic's abort).
    AbortOnly,
    /// `tgkill`: `SIGABRT`, or the vCPU kick signal.
    KickOrAbort,
    /// Not allowed, but not fatal either: the call fails with `EACCES`.
    Refused,
}

/// One entry: a syscall name, whether it may be missing from an arch's table (legacy), its rule.
pub type Entry = (&'static str, bool, Rule);

const fn any(name: &'static str) -> Entry {
    (name, false, Rule::Any)
}

const fn legacy(name: &'static str) -> Entry {
    (name, true, Rule::Any)
}

/// Every thread: locks and condition variables, memory, signals, its own end, stderr, time.
const BASE: &[Entry] = &[
    any("futex"),
    ("mmap", false, Rule::NoExec),
    ("mprotect", false, Rule::NoExec),
    any("munmap"),
    any("madvise"),
    any("mremap"),
    any("brk"),
    any("write"),
    // Guest output written to stdout by the thread that has it, when that cannot block
    // (`RWF_NOWAIT`: console.rs).
    any("pwritev2"),
    any("close"),
    any("rt_sigreturn"),
    any("restart_syscall"),
    any("rt_sigprocmask"),
    any("sigaltstack"),
    any("sched_yield"),
    any("nanosleep"),
    any("clock_nanosleep"),
    any("clock_gettime"),
    any("gettid"),
    any("getpid"),
    any("getrandom"),
    any("exit"),
    any("exit_group"),
    // No thread but the main one opens files (its own `openat` comes first and wins), but glibc
    // does on its own in any thread: the first time a thread's malloc arena gives memory back it
    // reads /proc/sys/vm/overcommit_memory (arm64 lane: a vCPU thread freeing register buffers).
    // It copes with a failed open, so the call is refused rather than fatal.
    ("openat", false, Rule::Refused),
    ("open", true, Rule::Refused),
];

/// A vCPU thread: `KVM_RUN` and register ioctls, device models (eventfds, the console queue,
/// handing queues to the device worker).
const VCPU: &[Entry] = &[
    ("ioctl", false, Rule::KvmIoctl),
    any("read"),
    any("fcntl"),
    any("eventfd2"),
    ("tgkill", false, Rule::AbortOnly),
];

/// The virtio device worker: its epoll loop, disk I/O, entropy, TAP frames, and the vsock
/// device's Unix sockets (accepting host connections, connecting to `PATH_<port>`, made
/// non-blocking with `FIONBIO`; its socket file checked and removed when the device goes away).
const WORKER: &[Entry] = &[
    any("epoll_pwait"),
    legacy("epoll_wait"),
    any("epoll_ctl"),
    ("ioctl", false, Rule::SocketIoctl),
    any("read"),
    any("readv"),
    any("writev"),
    any("socket"),
    any("connect"),
    any("accept4"),
    legacy("accept"),
    any("shutdown"),
    any("sendto"),
    legacy("send"),
    any("sendmsg"),
    any("recvfrom"),
    legacy("recv"),
    any("recvmsg"),
    any("getsockopt"),
    legacy("socketcall"),
    any("fstat"),
    any("newfstatat"),
    any("statx"),
    legacy("stat"),
    legacy("lstat"),
    any("unlinkat"),
    legacy("unlink"),
    any("pread64"),
    any("pwrite64"),
    any("preadv"),
    any("pwritev"),
    any("lseek"),
    legacy("_llseek"),
    any("fsync"),
    any("fdatasync"),
    any("fallocate"),
    any("fcntl"),
    ("tgkill", false, Rule::AbortOnly),
];

/// The console-out thread: writes guest output to stdout (in [`BASE`]).
const CONSOLE_OUT: &[Entry] = &[("tgkill", false, Rule::AbortOnly)];

/// The lazy memory-file check of a restored VM: reads the file, ends the VM on a mismatch.
const MEMORY_CHECK: &[Entry] = &[
    any("read"),
    any("fcntl"),
    any("pread64"),
    any("lseek"),
    legacy("_llseek"),
    ("tgkill", false, Rule::AbortOnly),
];

/// The main thread once the VM runs: the event loop (control socket, stdin, the VM's end),
/// pause/resume (kicks), snapshots (new files, fsync, rename), migrations (sockets; the disk
/// images' locks handed over with `flock`), the VM's teardown and `--stats`.
const MAIN: &[Entry] = &[
    any("flock"),
    ("ioctl", false, Rule::KvmAndSocketIoctl),
    ("tgkill", false, Rule::KickOrAbort),
    any("epoll_pwait"),
    legacy("epoll_wait"),
    any("epoll_ctl"),
    any("ppoll"),
    legacy("poll"),
    any("read"),
    any("readv"),
    any("writev"),
    any("pread64"),
    any("pwrite64"),
    any("lseek"),
    legacy("_llseek"),
    any("openat"),
    legacy("open"),
    any("fstat"),
    any("newfstatat"),
    any("statx"),
    legacy("stat"),
    legacy("lstat"),
    any("fsync"),
    any("fdatasync"),
    any("ftruncate"),
    any("fallocate"),
    any("fchmod"),
    any("renameat"),
    any("renameat2"),
    legacy("rename"),
    any("unlinkat"),
    legacy("unlink"),
    any("getdents64"),
    any("getcwd"),
    any("readlinkat"),
    legacy("readlink"),
    any("fcntl"),
    any("dup"),
    any("dup3"),
    any("eventfd2"),
    // The control socket's deadline timer (armed at each of its events; created before the
    // filter).
    any("timerfd_settime"),
    any("mincore"),
    any("socket"),
    any("connect"),
    any("accept4"),
    legacy("accept"),
    any("shutdown"),
    any("sendto"),
    legacy("send"),
    any("sendmsg"),
    any("sendmmsg"),
    any("recvfrom"),
    legacy("recv"),
    any("recvmsg"),
    any("getsockopt"),
    any("setsockopt"),
    any("getsockname"),
    any("getpeername"),
    legacy("socketcall"),
    any("uname"),
];

/// The list of a thread kind: [`BASE`] and its own.
pub fn entries(kind: ThreadKind) -> impl Iterator<Item = Entry> {
    let own = match kind {
        ThreadKind::Main => MAIN,
        ThreadKind::Vcpu => VCPU,
        ThreadKind::Worker => WORKER,
        ThreadKind::ConsoleOut => CONSOLE_OUT,
        ThreadKind::MemoryCheck => MEMORY_CHECK,
    };
    // The rule-carrying and hot syscalls first: a vCPU's KVM_RUN is its first test.
    own.iter().chain(BASE.iter()).copied()
}
