//! The arm64 syscall ABI (the generic table: only the `*at` and `p*` forms), for the seccomp
//! filters of tetra's threads (`vmm_core::sandbox`): plain data, checked against the uapi headers
//! by `abi-check` and used on any host by the sandbox's tests.

use vmm_core::sandbox::SyscallTable;

/// Syscall numbers by name: every syscall tetra's seccomp allow-lists name that arm64 has
/// (from `asm-generic/unistd.h`; `abi-check` checks each against the uapi headers).
pub const NUMBERS: &[(&str, u32)] = &[
    ("accept", 202),
    ("accept4", 242),
    ("brk", 214),
    ("clock_gettime", 113),
    ("clock_nanosleep", 115),
    ("close", 57),
    ("connect", 203),
    ("dup", 23),
    ("dup3", 24),
    ("epoll_ctl", 21),
    ("epoll_pwait", 22),
    ("eventfd2", 19),
    ("exit", 93),
    ("exit_group", 94),
    ("fallocate", 47),
    ("fchmod", 52),
    ("fcntl", 25),
    ("fdatasync", 83),
    ("flock", 32),
    ("fstat", 80),
    ("fsync", 82),
    ("ftruncate", 46),
    ("futex", 98),
    ("getcwd", 17),
    ("getdents64", 61),
    ("getpeername", 205),
    ("getpid", 172),
    ("getrandom", 278),
    ("getsockname", 204),
    ("getsockopt", 209),
    ("gettid", 178),
    ("ioctl", 29),
    ("lseek", 62),
    ("madvise", 233),
    ("mincore", 232),
    ("mmap", 222),
    ("mprotect", 226),
    ("mremap", 216),
    ("munmap", 215),
    ("nanosleep", 101),
    ("newfstatat", 79),
    ("openat", 56),
    ("ppoll", 73),
    ("pread64", 67),
    ("preadv", 69),
    ("pwrite64", 68),
    ("pwritev", 70),
    ("pwritev2", 287),
    ("read", 63),
    ("readlinkat", 78),
    ("readv", 65),
    ("recvfrom", 207),
    ("recvmsg", 212),
    ("renameat", 38),
    ("renameat2", 276),
    ("restart_syscall", 128),
    ("rt_sigprocmask", 135),
    ("rt_sigreturn", 139),
    ("sched_yield", 124),
    ("sendmmsg", 269),
    ("sendmsg", 211),
    ("sendto", 206),
    ("setsockopt", 208),
    ("shutdown", 210),
    ("sigaltstack", 132),
    ("socket", 198),
    ("statx", 291),
    ("tgkill", 131),
    ("timerfd_settime", 86),
    ("uname", 160),
    ("unlinkat", 35),
    ("write", 64),
    ("writev", 66),
];

/// The arm64 table: `AUDIT_ARCH_AARCH64`, little-endian.
pub static SYSCALLS: SyscallTable = SyscallTable {
    arch: "arm64",
    audit_arch: 0xc000_00b7,
    big_endian: false,
    fionbio: 0x5421,
    fionread: 0x541b,
    tunsetoffload: 0x4004_54d0,
    numbers: NUMBERS,
};

/// The ABI facts of this table for `abi-check`: every number, the `AUDIT_ARCH` value and the
/// socket ioctls, against the uapi headers.
pub fn abi_facts() -> Vec<vmm_core::regs::abi::AbiFact> {
    vmm_core::sandbox::abi_facts(&SYSCALLS, "AUDIT_ARCH_AARCH64", "arch_arm64::seccomp")
}
