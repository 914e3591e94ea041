//! A classic-BPF seccomp program, built from an allow-list, and an interpreter for it.
//!
//! The program a thread gets:
//!
//! ```text
//!  0  ld  [arch]                 seccomp_data.arch
//!  1  jeq AUDIT_ARCH, 1, 0       the arch the table was made for, else
//!  2  ret DENY                   (a syscall of another ABI: deny, whatever the mode)
//!  3  ld  [nr]
//!     jeq NR_a, 0, 1  ; ret ALLOW        a syscall without argument rules (or ret ERRNO: a
//!                                        refused one)
//!     jeq NR_b, 0, k  ; <argument tests, each: ld [arg] ; (and MASK) ; jeq VALUE -> ret ALLOW>
//!                       ; ld [nr]        (back to the number for the next test)
//!     ...
//!     ret DEFAULT                the mode's action: kill the process, or log and allow
//! ```
//!
//! Argument tests read the low 32 bits of an argument (`seccomp_data.args[i]`, stored in the
//! host's byte order: the low word is at `+0` on a little-endian host and at `+4` on a big-endian
//! one). That is enough for what tetra tests: `ioctl`'s request is an `unsigned int` in the
//! kernel, and `mmap`/`mprotect`'s protection bits are in the low word.
//!
//! [`run`] interprets a program on a `seccomp_data` of any byte order, so every arch's filter is
//! tested on every host.

/// One classic-BPF instruction (`struct sock_filter`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockFilter {
    /// Opcode.
    pub code: u16,
    /// Jump offset when true.
    pub jt: u8,
    /// Jump offset when false.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

/// `BPF_LD | BPF_W | BPF_ABS`.
pub const LD_W_ABS: u16 = 0x20;
/// `BPF_ALU | BPF_AND | BPF_K`.
pub const AND_K: u16 = 0x54;
/// `BPF_JMP | BPF_JEQ | BPF_K`.
pub const JEQ_K: u16 = 0x15;
/// `BPF_RET | BPF_K`.
pub const RET_K: u16 = 0x06;

/// `SECCOMP_RET_KILL_PROCESS`.
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
/// `SECCOMP_RET_LOG`.
pub const RET_LOG: u32 = 0x7ffc_0000;
/// `SECCOMP_RET_ALLOW`.
pub const RET_ALLOW: u32 = 0x7fff_0000;
/// `SECCOMP_RET_ERRNO`: the call fails with the errno in the low 16 bits.
pub const RET_ERRNO: u32 = 0x0005_0000;

/// The most instructions the kernel takes (`BPF_MAXINSNS`).
pub const MAX_INSNS: usize = 4096;

/// Offset of `seccomp_data.nr`.
const OFF_NR: u32 = 0;
/// Offset of `seccomp_data.arch`.
const OFF_ARCH: u32 = 4;
/// Offset of `seccomp_data.args[0]`.
const OFF_ARGS: u32 = 16;

/// A test on one argument's low 32 bits: `(arg & mask) == value`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArgTest {
    /// Which argument (0-5).
    pub arg: u8,
    /// Bits compared (`u32::MAX`: all).
    pub mask: u32,
    /// What they must be.
    pub value: u32,
}

/// One listed syscall: its number, if any, the argument tests of which one must hold, and what
/// the program returns when it matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowed {
    /// The syscall number.
    pub nr: u32,
    /// Empty: any arguments. Else: matched when any one test holds.
    pub any_of: Vec<ArgTest>,
    /// [`RET_ALLOW`], or [`RET_ERRNO`] with an errno: refused without killing.
    pub action: u32,
}

fn stmt(code: u16, k: u32) -> SockFilter {
    SockFilter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jeq(k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter {
        code: JEQ_K,
        jt,
        jf,
        k,
    }
}

/// The program: allows `allowed` for `audit_arch`, everything else gets `default`; a syscall of
/// another ABI (`seccomp_data.arch` is not `audit_arch`) gets `deny`. `big_endian`: the byte order
/// of the host the program runs on. `None` when a syscall has more argument tests than a jump
/// can skip, or the program is longer than the kernel takes.
pub fn program(
    audit_arch: u32,
    big_endian: bool,
    allowed: &[Allowed],
    default: u32,
    deny: u32,
) -> Option<Vec<SockFilter>> {
    let low = if big_endian { 4 } else { 0 };
    let mut p = vec![
        stmt(LD_W_ABS, OFF_ARCH),
        jeq(audit_arch, 1, 0),
        stmt(RET_K, deny),
        stmt(LD_W_ABS, OFF_NR),
    ];
    for a in allowed {
        if a.any_of.is_empty() {
            p.push(jeq(a.nr, 0, 1));
            p.push(stmt(RET_K, a.action));
            continue;
        }
        // Each test: ld, [and], jeq -> ret ALLOW; then ld [nr] to fall through to the next rule.
        let mut body = Vec::new();
        for t in &a.any_of {
            body.push(stmt(LD_W_ABS, OFF_ARGS + 8 * u32::from(t.arg) + low));
            if t.mask != u32::MAX {
                body.push(stmt(AND_K, t.mask));
            }
            // Which ALLOW: the one right after the last test's block; placed per test below.
            body.push(jeq(t.value, 0, 1));
            body.push(stmt(RET_K, a.action));
        }
        body.push(stmt(LD_W_ABS, OFF_NR));
        p.push(jeq(a.nr, 0, u8::try_from(body.len()).ok()?));
        p.extend(body);
    }
    p.push(stmt(RET_K, default));
    (p.len() <= MAX_INSNS).then_some(p)
}

/// The fields of a `struct seccomp_data` a program reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeccompData {
    /// Syscall number.
    pub nr: u32,
    /// `AUDIT_ARCH_*` of the calling ABI.
    pub arch: u32,
    /// The six arguments.
    pub args: [u64; 6],
}

impl SeccompData {
    /// The 64 bytes of `struct seccomp_data` in the given byte order.
    pub fn bytes(&self, big_endian: bool) -> [u8; 64] {
        let mut b = [0u8; 64];
        let (nr, arch) = if big_endian {
            (self.nr.to_be_bytes(), self.arch.to_be_bytes())
        } else {
            (self.nr.to_le_bytes(), self.arch.to_le_bytes())
        };
        b[0..4].copy_from_slice(&nr);
        b[4..8].copy_from_slice(&arch);
        for (i, a) in self.args.iter().enumerate() {
            let v = if big_endian {
                a.to_be_bytes()
            } else {
                a.to_le_bytes()
            };
            b[16 + 8 * i..24 + 8 * i].copy_from_slice(&v);
        }
        b
    }
}

/// Runs `program` on `data` as the kernel would (the subset of classic BPF that [`program`]
/// emits; anything else, a read out of bounds or a jump past the end is `None`).
pub fn run(program: &[SockFilter], data: &SeccompData, big_endian: bool) -> Option<u32> {
    let bytes = data.bytes(big_endian);
    let mut acc: u32 = 0;
    let mut pc = 0usize;
    loop {
        let i = program.get(pc)?;
        pc += 1;
        match i.code {
            LD_W_ABS => {
                let at = i.k as usize;
                let w: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
                acc = if big_endian {
                    u32::from_be_bytes(w)
                } else {
                    u32::from_le_bytes(w)
                };
            }
            AND_K => acc &= i.k,
            JEQ_K => pc += usize::from(if acc == i.k { i.jt } else { i.jf }),
            RET_K => return Some(i.k),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARCH: u32 = 0xc000_003e;

    fn data(nr: u32, args: [u64; 6]) -> SeccompData {
        SeccompData {
            nr,
            arch: ARCH,
            args,
        }
    }

    fn sample() -> Vec<Allowed> {
        vec![
            Allowed {
                nr: 1,
                any_of: vec![],
                action: RET_ALLOW,
            },
            Allowed {
                nr: 16,
                any_of: vec![
                    ArgTest {
                        arg: 1,
                        mask: 0xff00,
                        value: 0xae00,
                    },
                    ArgTest {
                        arg: 1,
                        mask: u32::MAX,
                        value: 0x5421,
                    },
                ],
                action: RET_ALLOW,
            },
            Allowed {
                nr: 9,
                any_of: vec![ArgTest {
                    arg: 2,
                    mask: 4,
                    value: 0,
                }],
                action: RET_ALLOW,
            },
            Allowed {
                nr: 60,
                any_of: vec![],
                action: RET_ALLOW,
            },
            // open(2): refused with EACCES.
            Allowed {
                nr: 2,
                any_of: vec![],
                action: RET_ERRNO | 13,
            },
        ]
    }

    #[test]
    fn allows_the_list_and_nothing_else_in_both_byte_orders() {
        for be in [false, true] {
            let p = program(ARCH, be, &sample(), RET_KILL_PROCESS, RET_KILL_PROCESS).unwrap();
            let r = |nr, args| run(&p, &data(nr, args), be).unwrap();
            assert_eq!(r(1, [0; 6]), RET_ALLOW);
            assert_eq!(r(60, [0; 6]), RET_ALLOW);
            assert_eq!(r(2, [0; 6]), RET_ERRNO | 13);
            assert_eq!(r(59, [0; 6]), RET_KILL_PROCESS);
            // ioctl: any KVM request (type 0xAE), FIONBIO, nothing else.
            assert_eq!(r(16, [3, 0xae80, 0, 0, 0, 0]), RET_ALLOW);
            assert_eq!(r(16, [3, 0xc008_ae67, 0, 0, 0, 0]), RET_ALLOW);
            assert_eq!(r(16, [3, 0x5421, 0, 0, 0, 0]), RET_ALLOW);
            assert_eq!(r(16, [3, 0x5401, 0, 0, 0, 0]), RET_KILL_PROCESS);
            // Only the low word counts (the kernel's `unsigned int cmd`).
            assert_eq!(r(16, [3, 0xdead_0000_0000_ae80, 0, 0, 0, 0]), RET_ALLOW);
            // mmap without PROT_EXEC only.
            assert_eq!(r(9, [0, 4096, 3, 0x22, 0, 0]), RET_ALLOW);
            assert_eq!(r(9, [0, 4096, 7, 0x22, 0, 0]), RET_KILL_PROCESS);
            // A syscall of another ABI is denied even when its number is allowed.
            let other = SeccompData {
                nr: 1,
                arch: 0x4000_0003,
                args: [0; 6],
            };
            assert_eq!(run(&p, &other, be), Some(RET_KILL_PROCESS));
        }
    }

    #[test]
    fn the_default_is_the_modes_and_a_wrong_arch_is_denied_anyway() {
        let p = program(ARCH, false, &sample(), RET_LOG, RET_KILL_PROCESS).unwrap();
        assert_eq!(run(&p, &data(59, [0; 6]), false), Some(RET_LOG));
        // A refused syscall is refused in log mode too.
        assert_eq!(run(&p, &data(2, [0; 6]), false), Some(RET_ERRNO | 13));
        let other = SeccompData {
            nr: 2,
            arch: 1,
            args: [0; 6],
        };
        assert_eq!(run(&p, &other, false), Some(RET_KILL_PROCESS));
    }

    #[test]
    fn argument_tests_read_the_low_word_of_the_hosts_byte_order() {
        // A program made for little-endian, run where seccomp_data is big-endian, reads the
        // high word of each argument: the KVM ioctl no longer matches.
        let p = program(ARCH, false, &sample(), RET_KILL_PROCESS, RET_KILL_PROCESS).unwrap();
        let kvm = data(16, [3, 0xae80, 0, 0, 0, 0]);
        assert_eq!(run(&p, &kvm, false), Some(RET_ALLOW));
        assert_eq!(run(&p, &kvm, true), Some(RET_KILL_PROCESS));
        // Syscall numbers are 32-bit fields: the same in either order.
        assert_eq!(run(&p, &data(1, [0; 6]), true), Some(RET_ALLOW));
    }

    #[test]
    fn too_long_is_none() {
        let many: Vec<Allowed> = (0..3000)
            .map(|nr| Allowed {
                nr,
                any_of: vec![],
                action: RET_ALLOW,
            })
            .collect();
        assert!(program(ARCH, false, &many, RET_LOG, RET_KILL_PROCESS).is_none());
    }
}
