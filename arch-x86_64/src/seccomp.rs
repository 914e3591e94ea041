//! The x86_64 syscall ABI, for the seccomp filters of tetra's threads (`vmm_core::sandbox`):
//! plain data, checked against the uapi headers by `abi-check` and used on any host by the
//! sandbox's tests.

use vmm_core::sandbox::SyscallTable;

/// Syscall numbers by name: every syscall tetra's seccomp allow-lists name that x86_64 has
/// (from `asm/unistd_64.h`; `abi-check` checks each against the uapi headers).
pub const NUMBERS: &[(&str, u32)] = &[
    ("accept", 43),
    ("accept4", 288),
    ("brk", 12),
    ("clock_gettime", 228),
    ("clock_nanosleep", 230),
    ("close", 3),
    ("connect", 42),
    ("dup", 32),
    ("dup3", 292),
    ("epoll_ctl", 233),
    ("epoll_pwait", 281),
    ("epoll_wait", 232),
    ("eventfd2", 290),
    ("exit", 60),
    ("exit_group", 231),
    ("fallocate", 285),
    ("fchmod", 91),
    ("fcntl", 72),
    ("fdatasync", 75),
    ("fstat", 5),
    ("fsync", 74),
    ("ftruncate", 77),
    ("futex", 202),
    ("getcwd", 79),
    ("getdents64", 217),
    ("getpeername", 52),
    ("getpid", 39),
    ("getrandom", 318),
    ("getsockname", 51),
    ("getsockopt", 55),
    ("gettid", 186),
    ("ioctl", 16),
    ("lseek", 8),
    ("lstat", 6),
    ("madvise", 28),
    ("mincore", 27),
    ("mmap", 9),
    ("mprotect", 10),
    ("mremap", 25),
    ("munmap", 11),
    ("nanosleep", 35),
    ("newfstatat", 262),
    ("open", 2),
    ("openat", 257),
    ("poll", 7),
    ("ppoll", 271),
    ("pread64", 17),
    ("preadv", 295),
    ("pwrite64", 18),
    ("pwritev", 296),
    ("read", 0),
    ("readlink", 89),
    ("readlinkat", 267),
    ("readv", 19),
    ("recvfrom", 45),
    ("recvmsg", 47),
    ("rename", 82),
    ("renameat", 264),
    ("renameat2", 316),
    ("restart_syscall", 219),
    ("rt_sigprocmask", 14),
    ("rt_sigreturn", 15),
    ("sched_yield", 24),
    ("sendmmsg", 307),
    ("sendmsg", 46),
    ("sendto", 44),
    ("setsockopt", 54),
    ("shutdown", 48),
    ("sigaltstack", 131),
    ("socket", 41),
    ("stat", 4),
    ("statx", 332),
    ("tgkill", 234),
    ("uname", 63),
    ("unlink", 87),
    ("unlinkat", 263),
    ("write", 1),
    ("writev", 20),
];

/// The x86_64 table: `AUDIT_ARCH_X86_64`, little-endian.
pub static SYSCALLS: SyscallTable = SyscallTable {
    arch: "x86_64",
    audit_arch: 0xc000_003e,
    big_endian: false,
    fionbio: 0x5421,
    fionread: 0x541b,
    numbers: NUMBERS,
};

/// The ABI facts of this table for `abi-check`: every number, the `AUDIT_ARCH` value and the
/// socket ioctls, against the uapi headers.
pub fn abi_facts() -> Vec<vmm_core::regs::abi::AbiFact> {
    vmm_core::sandbox::abi_facts(&SYSCALLS, "AUDIT_ARCH_X86_64", "arch_x86_64::seccomp")
}
