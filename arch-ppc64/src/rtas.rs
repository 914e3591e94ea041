//! RTAS (Run-Time Abstraction Services), entered through the `H_RTAS` hypercall.
//!
//! The device tree's `/rtas` node publishes one token per function ([`RTAS_CALLS`]; token =
//! `0x2000 + index`, as QEMU numbers them) and the entry code's location (`linux,rtas-base`,
//! `linux,rtas-entry`, `rtas-size`). The entry code ([`RTAS_BLOB`], five big-endian instructions:
//! RTAS runs big-endian) moves the argument block's address to r4 and calls `H_RTAS`; a guest
//! may also issue `H_RTAS` itself.
//!
//! The argument block is big-endian in guest memory:
//! `token, nargs, nret, args[nargs], rets[nret]` (32-bit cells, at most 16 arguments and
//! returns together, as Linux's `struct rtas_args`). Each function declares its argument and
//! return counts; a call with other counts gets status -3 (parameter error), an unknown token
//! status -3 and `H_PARAMETER`, an unreadable block `H_PARAMETER`.
//!
//! `check-exception` and `event-scan` serve the event sources ([`crate::events`]): the first
//! hands the guest the oldest queued log of the classes its event mask names (status 0, the
//! log written to its buffer, cut to the buffer's length) or answers 1 (no errors found);
//! `event-scan` always answers 1.
//!
//! The interrupt-source calls (`ibm,set-xive`, `ibm,get-xive`, `ibm,int-off`, `ibm,int-on`)
//! exist on a machine with an interrupt controller only ([`RtasDef::irqchip`]): the device tree
//! lists their tokens then, and without one they answer -1 (hardware error). An unknown source
//! or server, or a priority above 255, is -3.

use crate::hcall::HcallEnv;
use crate::irqchip::{Xics, XiveError};
use crate::machine::{CpuState, StartRequest};
use thiserror::Error;
use vm_memory::{Bytes, GuestAddress};
use vmm_core::clock::DateTime;
use vmm_core::GuestExit;

/// Token of the first function.
pub const RTAS_TOKEN_BASE: u32 = 0x2000;
/// Status: success.
pub const RTAS_OUT_SUCCESS: i32 = 0;
/// Status: hardware error (also: the vCPU is not in the state the call needs).
pub const RTAS_OUT_HW_ERROR: i32 = -1;
/// Status: no errors found (`check-exception`, `event-scan` with nothing to report).
pub const RTAS_OUT_NO_ERRORS_FOUND: i32 = 1;
/// Status: parameter error.
pub const RTAS_OUT_PARAM_ERROR: i32 = -3;
/// The most argument and return cells of one call.
pub const MAX_CELLS: u32 = 16;

/// The RTAS entry code: `mr r4,r3; lis r3,H_RTAS@h; ori r3,r3,H_RTAS@l; sc 1; blr` (QEMU's
/// spapr uses the same five instructions).
pub const RTAS_CODE: [u32; 5] = [
    0x7c64_1b78,
    0x3c60_0000,
    0x6063_f000,
    0x4400_0022,
    0x4e80_0020,
];

/// [`RTAS_CODE`] as bytes in guest memory: big-endian, the byte order RTAS runs in.
pub const RTAS_BLOB: [u8; 20] = {
    let mut b = [0u8; 20];
    let mut i = 0;
    while i < 5 {
        let w = RTAS_CODE[i].to_be_bytes();
        b[4 * i] = w[0];
        b[4 * i + 1] = w[1];
        b[4 * i + 2] = w[2];
        b[4 * i + 3] = w[3];
        i += 1;
    }
    b
};

/// What the calling vCPU does after the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtasAction {
    /// Return to the caller (the status is in `rets[0]`).
    Return,
    /// Park (`stop-self`): the call does not return.
    Park,
    /// The VM ends (`power-off`, `system-reboot`).
    Stop,
}

/// An RTAS call that cannot be served.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RtasError {
    /// The argument block is not in guest RAM.
    #[error("the RTAS argument block at {0:#x} is outside guest RAM")]
    Memory(u64),
    /// More than 16 argument and return cells.
    #[error("RTAS call with {nargs} arguments and {nret} returns (at most 16 together)")]
    TooManyCells {
        /// Arguments.
        nargs: u32,
        /// Returns.
        nret: u32,
    },
    /// No function has this token.
    #[error("unknown RTAS token {0:#x}")]
    UnknownToken(u32),
}

/// One RTAS call read from guest memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtasCall {
    /// The token.
    pub token: u32,
    /// The arguments.
    pub args: Vec<u32>,
    /// How many returns the caller asked for.
    pub nret: u32,
}

/// An RTAS function handler: writes its returns into `rets` (`rets[0]` is the status).
pub type RtasHandler = fn(&HcallEnv<'_>, &[u32], &mut [u32]) -> RtasAction;

/// One RTAS function.
pub struct RtasDef {
    /// Its name: the `/rtas` property that holds its token.
    pub name: &'static str,
    /// Arguments it takes.
    pub nargs: u32,
    /// Returns it gives (the status included).
    pub nret: u32,
    /// The handler.
    pub handler: RtasHandler,
    /// Only on a machine with an interrupt controller (the XICS calls).
    pub irqchip: bool,
}

/// The RTAS functions; the token of `RTAS_CALLS[i]` is `RTAS_TOKEN_BASE + i` (new functions go
/// at the end: a guest restored from a snapshot keeps using the tokens it booted with).
pub static RTAS_CALLS: &[RtasDef] = &[
    RtasDef {
        name: "display-character",
        nargs: 1,
        nret: 1,
        handler: display_character,
        irqchip: false,
    },
    RtasDef {
        name: "get-time-of-day",
        nargs: 0,
        nret: 8,
        handler: get_time_of_day,
        irqchip: false,
    },
    RtasDef {
        name: "power-off",
        nargs: 2,
        nret: 1,
        handler: power_off,
        irqchip: false,
    },
    RtasDef {
        name: "system-reboot",
        nargs: 0,
        nret: 1,
        handler: system_reboot,
        irqchip: false,
    },
    RtasDef {
        name: "query-cpu-stopped-state",
        nargs: 1,
        nret: 2,
        handler: query_cpu_stopped_state,
        irqchip: false,
    },
    RtasDef {
        name: "start-cpu",
        nargs: 3,
        nret: 1,
        handler: start_cpu,
        irqchip: false,
    },
    RtasDef {
        name: "stop-self",
        nargs: 0,
        nret: 1,
        handler: stop_self,
        irqchip: false,
    },
    RtasDef {
        name: "ibm,set-xive",
        nargs: 3,
        nret: 1,
        handler: set_xive,
        irqchip: true,
    },
    RtasDef {
        name: "ibm,get-xive",
        nargs: 1,
        nret: 3,
        handler: get_xive,
        irqchip: true,
    },
    RtasDef {
        name: "ibm,int-off",
        nargs: 1,
        nret: 1,
        handler: int_off,
        irqchip: true,
    },
    RtasDef {
        name: "ibm,int-on",
        nargs: 1,
        nret: 1,
        handler: int_on,
        irqchip: true,
    },
    // Appended: a token is its index, and a restored guest keeps the tokens it booted with.
    RtasDef {
        name: "check-exception",
        nargs: 6,
        nret: 1,
        handler: check_exception,
        irqchip: false,
    },
    RtasDef {
        name: "event-scan",
        nargs: 4,
        nret: 1,
        handler: event_scan,
        irqchip: false,
    },
];

/// Every function's (name, token).
pub fn tokens() -> impl Iterator<Item = (&'static str, u32)> {
    RTAS_CALLS
        .iter()
        .enumerate()
        .map(|(i, d)| (d.name, RTAS_TOKEN_BASE + i as u32))
}

/// The (name, token) of the functions a machine has, with or without an interrupt controller:
/// what the device tree's `/rtas` lists.
pub fn machine_tokens(irqchip: bool) -> impl Iterator<Item = (&'static str, u32)> {
    tokens().filter(move |(name, _)| {
        irqchip || RTAS_CALLS.iter().any(|d| d.name == *name && !d.irqchip)
    })
}

/// The token of function `name`.
pub fn token(name: &str) -> Option<u32> {
    tokens().find(|(n, _)| *n == name).map(|(_, t)| t)
}

fn read_cell(env: &HcallEnv<'_>, addr: u64) -> Result<u32, RtasError> {
    let mut b = [0u8; 4];
    env.mem
        .read_slice(&mut b, GuestAddress(addr))
        .map_err(|_| RtasError::Memory(addr))?;
    Ok(u32::from_be_bytes(b))
}

/// Reads the call at guest-physical `addr`.
pub fn read_call(env: &HcallEnv<'_>, addr: u64) -> Result<RtasCall, RtasError> {
    let cell = |i: u64| {
        addr.checked_add(4 * i)
            .ok_or(RtasError::Memory(addr))
            .and_then(|a| read_cell(env, a))
    };
    let (token, nargs, nret) = (cell(0)?, cell(1)?, cell(2)?);
    if nargs.checked_add(nret).is_none_or(|n| n > MAX_CELLS) {
        return Err(RtasError::TooManyCells { nargs, nret });
    }
    let args = (0..nargs)
        .map(|i| cell(3 + u64::from(i)))
        .collect::<Result<_, _>>()?;
    Ok(RtasCall { token, args, nret })
}

/// Serves the RTAS call whose argument block is at guest-physical `addr`.
pub fn call(env: &HcallEnv<'_>, addr: u64) -> Result<RtasAction, RtasError> {
    let c = read_call(env, addr)?;
    let rets_at = addr + 12 + 4 * c.args.len() as u64;
    let mut rets = vec![0u32; c.nret as usize];
    let def = c
        .token
        .checked_sub(RTAS_TOKEN_BASE)
        .and_then(|i| RTAS_CALLS.get(i as usize));
    let result = match def {
        Some(d) if d.nargs == c.args.len() as u32 && d.nret == c.nret => {
            Ok((d.handler)(env, &c.args, &mut rets))
        }
        Some(_) => {
            if let Some(r) = rets.first_mut() {
                *r = RTAS_OUT_PARAM_ERROR as u32;
            }
            Ok(RtasAction::Return)
        }
        None => {
            if let Some(r) = rets.first_mut() {
                *r = RTAS_OUT_PARAM_ERROR as u32;
            }
            Err(RtasError::UnknownToken(c.token))
        }
    };
    if result == Ok(RtasAction::Park) {
        // stop-self does not return: its status is never seen.
        return result;
    }
    let mut bytes = Vec::with_capacity(rets.len() * 4);
    for r in &rets {
        bytes.extend_from_slice(&r.to_be_bytes());
    }
    env.mem
        .write_slice(&bytes, GuestAddress(rets_at))
        .map_err(|_| RtasError::Memory(rets_at))?;
    result
}

fn status(rets: &mut [u32], s: i32) -> RtasAction {
    rets[0] = s as u32;
    RtasAction::Return
}

fn display_character(env: &HcallEnv<'_>, args: &[u32], rets: &mut [u32]) -> RtasAction {
    env.machine.vty().put(&[args[0] as u8]);
    status(rets, RTAS_OUT_SUCCESS)
}

fn get_time_of_day(_env: &HcallEnv<'_>, _args: &[u32], rets: &mut [u32]) -> RtasAction {
    let t = DateTime::now();
    // RTAS has no room for years before 1 or after u32::MAX: a host clock there is nonsense.
    let year = t.year.clamp(0, i64::from(u32::MAX)) as u32;
    rets[1..].copy_from_slice(&[year, t.month, t.day, t.hour, t.minute, t.second, t.nanos]);
    status(rets, RTAS_OUT_SUCCESS)
}

fn power_off(env: &HcallEnv<'_>, _args: &[u32], rets: &mut [u32]) -> RtasAction {
    rets[0] = RTAS_OUT_SUCCESS as u32;
    env.exit.end(GuestExit::PowerOff);
    RtasAction::Stop
}

fn system_reboot(env: &HcallEnv<'_>, _args: &[u32], rets: &mut [u32]) -> RtasAction {
    rets[0] = RTAS_OUT_SUCCESS as u32;
    env.exit.end(GuestExit::Reset);
    RtasAction::Stop
}

fn query_cpu_stopped_state(env: &HcallEnv<'_>, args: &[u32], rets: &mut [u32]) -> RtasAction {
    match env.machine.cpu_state(args[0], env.cpus) {
        Some(s) => {
            rets[1] = s as u32;
            status(rets, RTAS_OUT_SUCCESS)
        }
        None => status(rets, RTAS_OUT_PARAM_ERROR),
    }
}

/// `start-cpu(cpu, start, r3)`: the stopped vCPU `cpu` starts at `start` in real mode,
/// big-endian, 64-bit, with r3 as given.
fn start_cpu(env: &HcallEnv<'_>, args: &[u32], rets: &mut [u32]) -> RtasAction {
    let (id, nip, r3) = (args[0], u64::from(args[1]), u64::from(args[2]));
    if nip % 4 != 0 || nip + 4 > env.machine.ram_size() {
        return status(rets, RTAS_OUT_PARAM_ERROR);
    }
    match env.machine.cpu_state(id, env.cpus) {
        None => return status(rets, RTAS_OUT_PARAM_ERROR),
        Some(CpuState::Stopped) => {}
        Some(_) => return status(rets, RTAS_OUT_HW_ERROR),
    }
    if env
        .machine
        .request_start(id, StartRequest { nip, r3 })
        .is_err()
    {
        return status(rets, RTAS_OUT_HW_ERROR);
    }
    env.cpus.wake(id);
    status(rets, RTAS_OUT_SUCCESS)
}

fn stop_self(env: &HcallEnv<'_>, _args: &[u32], _rets: &mut [u32]) -> RtasAction {
    env.machine.set_stopping(env.cpu);
    RtasAction::Park
}

/// `check-exception(vector, info, mask, critical, buffer, length)`: the oldest queued event log
/// of a class in `mask`, written at `buffer` and cut to `length` bytes.
fn check_exception(env: &HcallEnv<'_>, args: &[u32], rets: &mut [u32]) -> RtasAction {
    let (mask, buf, len) = (args[2], u64::from(args[4]), args[5] as usize);
    let written = env.machine.events().take(mask, |log| {
        let n = log.len().min(len);
        env.mem.write_slice(&log[..n], GuestAddress(buf))
    });
    match written {
        None => status(rets, RTAS_OUT_NO_ERRORS_FOUND),
        Some(Ok(())) => status(rets, RTAS_OUT_SUCCESS),
        Some(Err(_)) => status(rets, RTAS_OUT_PARAM_ERROR),
    }
}

/// `event-scan(mask, critical, buffer, length)`: events come through their interrupts and
/// `check-exception` only (as on QEMU), so never one here.
fn event_scan(_env: &HcallEnv<'_>, _args: &[u32], rets: &mut [u32]) -> RtasAction {
    status(rets, RTAS_OUT_NO_ERRORS_FOUND)
}

/// Runs `op` on the machine's interrupt sources: -1 without any, the error's status on failure.
fn with_xics(
    env: &HcallEnv<'_>,
    rets: &mut [u32],
    op: impl FnOnce(&Xics, &mut [u32]) -> Result<(), XiveError>,
) -> RtasAction {
    let Some(xics) = env.machine.xics() else {
        return status(rets, RTAS_OUT_HW_ERROR);
    };
    match op(xics, rets) {
        Ok(()) => status(rets, RTAS_OUT_SUCCESS),
        Err(e) => status(rets, e.rtas_status()),
    }
}

/// `ibm,set-xive(irq, server, priority)`.
fn set_xive(env: &HcallEnv<'_>, args: &[u32], rets: &mut [u32]) -> RtasAction {
    with_xics(env, rets, |x, _| x.set_xive(args[0], args[1], args[2]))
}

/// `ibm,get-xive(irq)` -> (status, server, priority).
fn get_xive(env: &HcallEnv<'_>, args: &[u32], rets: &mut [u32]) -> RtasAction {
    with_xics(env, rets, |x, rets| {
        let (server, priority) = x.get_xive(args[0])?;
        rets[1] = server;
        rets[2] = u32::from(priority);
        Ok(())
    })
}

/// `ibm,int-off(irq)`.
fn int_off(env: &HcallEnv<'_>, args: &[u32], rets: &mut [u32]) -> RtasAction {
    with_xics(env, rets, |x, _| x.int_off(args[0]))
}

/// `ibm,int-on(irq)`.
fn int_on(env: &HcallEnv<'_>, args: &[u32], rets: &mut [u32]) -> RtasAction {
    with_xics(env, rets, |x, _| x.int_on(args[0]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hcall::tests::Rig;
    use crate::hcall::{HcallOutcome, H_PARAMETER, H_RTAS, H_SUCCESS};

    const ARGS: u64 = 0x8000;

    /// Writes a call block, runs H_RTAS, returns the outcome and the returns.
    fn rtas(rig: &Rig, cpu: u32, token: u32, args: &[u32], nret: u32) -> (HcallOutcome, Vec<i32>) {
        let mut block = vec![token, args.len() as u32, nret];
        block.extend_from_slice(args);
        block.extend(std::iter::repeat_n(0xdead_beef, nret as usize));
        let bytes: Vec<u8> = block.iter().flat_map(|c| c.to_be_bytes()).collect();
        rig.mem.write_slice(&bytes, GuestAddress(ARGS)).unwrap();
        let (out, _) = rig.call(cpu, H_RTAS, &[ARGS]);
        let mut rets = Vec::new();
        for i in 0..nret as u64 {
            let mut b = [0u8; 4];
            let at = ARGS + 12 + 4 * (args.len() as u64 + i);
            rig.mem.read_slice(&mut b, GuestAddress(at)).unwrap();
            rets.push(i32::from_be_bytes(b));
        }
        (out, rets)
    }

    fn tok(name: &str) -> u32 {
        token(name).unwrap()
    }

    #[test]
    fn tokens_and_blob() {
        let names: Vec<&str> = tokens().map(|(n, _)| n).collect();
        for n in [
            "power-off",
            "start-cpu",
            "query-cpu-stopped-state",
            "stop-self",
            "get-time-of-day",
        ] {
            assert!(names.contains(&n), "{n}");
        }
        assert_eq!(tok("display-character"), 0x2000);
        assert_eq!(tok("ibm,set-xive"), 0x2007);
        let plain: Vec<&str> = machine_tokens(false).map(|(n, _)| n).collect();
        assert!(!plain.iter().any(|n| n.starts_with("ibm,")), "{plain:?}");
        assert_eq!(plain.len(), 9);
        // Appended after the XICS calls: the older tokens stay.
        assert_eq!(tok("check-exception"), 0x200b);
        assert_eq!(tok("event-scan"), 0x200c);
        assert_eq!(machine_tokens(true).count(), RTAS_CALLS.len());
        assert_eq!(&RTAS_BLOB[..4], &[0x7c, 0x64, 0x1b, 0x78]);
        // The immediates of lis/ori rebuild KVMPPC_H_RTAS, and the call is `sc 1`.
        let hi = (RTAS_CODE[1] & 0xffff) << 16;
        let lo = RTAS_CODE[2] & 0xffff;
        assert_eq!(u64::from(hi | lo), H_RTAS);
        assert_eq!(RTAS_CODE[3], 0x4400_0002 | (1 << 5));
    }

    #[test]
    fn check_exception_hands_out_the_epow_log_once() {
        use crate::events::{epow_shutdown_log, EPOW_CLASS};
        let rig = Rig::new(1);
        let buf = 0x9000u32;
        let ce = |mask: u32, len: u32| {
            rtas(
                &rig,
                0,
                tok("check-exception"),
                &[0x500, 0, mask, 0, buf, len],
                1,
            )
            .1
        };
        assert_eq!(ce(EPOW_CLASS, 2048), vec![1], "nothing queued");
        assert_eq!(
            rtas(&rig, 0, tok("event-scan"), &[0, 0, buf, 2048], 1).1,
            vec![1]
        );
        rig.machine.events().press_power_button();
        assert_eq!(ce(0x8000_0000, 2048), vec![1], "another class");
        assert_eq!(ce(EPOW_CLASS, 2048), vec![0]);
        let want = epow_shutdown_log(&vmm_core::clock::DateTime::now());
        let mut got = vec![0u8; want.len()];
        rig.mem
            .read_slice(&mut got, GuestAddress(u64::from(buf)))
            .unwrap();
        // The same log but for Main-A's time stamp (bytes 32..40).
        assert_eq!(got[..32], want[..32]);
        assert_eq!(got[40..], want[40..]);
        assert_eq!(ce(EPOW_CLASS, 2048), vec![1], "taken once");
        // A short buffer gets the log's head; a buffer outside RAM keeps the log queued.
        rig.machine.events().press_power_button();
        let outside = rtas(
            &rig,
            0,
            tok("check-exception"),
            &[0x500, 0, EPOW_CLASS, 0, u32::MAX - 16, 2048],
            1,
        );
        assert_eq!(outside.1, vec![-3]);
        rig.mem
            .write_slice(&[0xee; 16], GuestAddress(u64::from(buf)))
            .unwrap();
        assert_eq!(ce(EPOW_CLASS, 8), vec![0]);
        let mut head = [0u8; 16];
        rig.mem
            .read_slice(&mut head, GuestAddress(u64::from(buf)))
            .unwrap();
        assert_eq!(head[..8], want[..8]);
        assert_eq!(head[8..], [0xee; 8]);
    }

    #[test]
    fn power_off_ends_the_vm() {
        let rig = Rig::new(1);
        // Wrong counts: a parameter error, the VM goes on.
        let (out, rets) = rtas(&rig, 0, tok("power-off"), &[0], 1);
        assert_eq!((out, rets), (HcallOutcome::Return(H_SUCCESS), vec![-3]));
        assert_eq!(rig.exit.reason(), None);
        let (out, rets) = rtas(&rig, 0, tok("power-off"), &[0, 0], 1);
        assert_eq!((out, rets), (HcallOutcome::Stop, vec![0]));
        assert_eq!(rig.exit.reason(), Some(GuestExit::PowerOff));
        assert_eq!(rig.exit.reason().unwrap().exit_code(), 0);
    }

    #[test]
    fn reboot_and_display_character() {
        let rig = Rig::new(1);
        for c in b"ok\n" {
            let r = rtas(&rig, 0, tok("display-character"), &[u32::from(*c)], 1);
            assert_eq!(r.1, vec![0]);
        }
        assert_eq!(rig.output(), "ok\n");
        assert_eq!(
            rtas(&rig, 0, tok("system-reboot"), &[], 1).0,
            HcallOutcome::Stop
        );
        assert_eq!(rig.exit.reason(), Some(GuestExit::Reset));
    }

    #[test]
    fn bad_blocks() {
        let rig = Rig::new(1);
        // Unknown token: status -3 and H_PARAMETER, as QEMU.
        let (out, rets) = rtas(&rig, 0, 0x1234, &[1], 1);
        assert_eq!((out, rets), (HcallOutcome::Return(H_PARAMETER), vec![-3]));
        // Too many cells.
        let mut block = vec![tok("power-off"), 10, 7];
        block.resize(20, 0);
        let bytes: Vec<u8> = block.iter().flat_map(|c| c.to_be_bytes()).collect();
        rig.mem.write_slice(&bytes, GuestAddress(ARGS)).unwrap();
        assert_eq!(
            read_call(&rig.env(0), ARGS),
            Err(RtasError::TooManyCells { nargs: 10, nret: 7 })
        );
        assert_eq!(
            rig.call(0, H_RTAS, &[ARGS]).0,
            HcallOutcome::Return(H_PARAMETER)
        );
        // Outside RAM (1 MiB here), at the very end, and wrapping around.
        for addr in [1 << 20, (1 << 20) - 8, u64::MAX - 4] {
            assert_eq!(
                rig.call(0, H_RTAS, &[addr]).0,
                HcallOutcome::Return(H_PARAMETER),
                "{addr:#x}"
            );
        }
        assert_eq!(rig.exit.reason(), None);
    }

    #[test]
    fn start_query_and_stop_cpus() {
        let rig = Rig::new(3);
        let q = |cpu| rtas(&rig, 0, tok("query-cpu-stopped-state"), &[cpu], 2).1;
        assert_eq!(q(0), vec![0, 2]);
        assert_eq!(q(1), vec![0, 0]);
        assert_eq!(q(3), vec![-3, 0]);

        let start = tok("start-cpu");
        // No such vCPU; misaligned or outside-RAM entry; a running vCPU.
        assert_eq!(rtas(&rig, 0, start, &[7, 0x1000, 0], 1).1, vec![-3]);
        assert_eq!(rtas(&rig, 0, start, &[1, 0x1002, 0], 1).1, vec![-3]);
        assert_eq!(rtas(&rig, 0, start, &[1, 64 << 20, 0], 1).1, vec![-3]);
        assert_eq!(rtas(&rig, 0, start, &[0, 0x1000, 0], 1).1, vec![-1]);
        assert!(rig.cpus.woken.lock().unwrap().is_empty());

        assert_eq!(rtas(&rig, 0, start, &[2, 0x1000, 0x42], 1).1, vec![0]);
        assert_eq!(*rig.cpus.woken.lock().unwrap(), vec![2]);
        assert_eq!(
            q(2),
            vec![0, 2],
            "started, not yet running: reported running"
        );
        // A second start before the first was taken.
        assert_eq!(rtas(&rig, 0, start, &[2, 0x1000, 0x42], 1).1, vec![-1]);
        assert_eq!(
            rig.machine.take_start(2),
            Some(StartRequest {
                nip: 0x1000,
                r3: 0x42
            })
        );
        rig.cpus.parked.lock().unwrap()[2] = false;

        // stop-self from vCPU 2 parks it and writes no status.
        let (out, rets) = rtas(&rig, 2, tok("stop-self"), &[], 1);
        assert_eq!(out, HcallOutcome::Park);
        assert_eq!(rets, vec![0xdead_beefu32 as i32]);
        assert_eq!(q(2), vec![0, 1], "stop in progress until parked");
        rig.cpus.parked.lock().unwrap()[2] = true;
        assert_eq!(q(2), vec![0, 0]);
        // And it can be started again.
        assert_eq!(rtas(&rig, 0, start, &[2, 0x2000, 0], 1).1, vec![0]);
    }

    #[test]
    fn time_of_day() {
        let rig = Rig::new(1);
        let before = DateTime::now();
        let (_, r) = rtas(&rig, 0, tok("get-time-of-day"), &[], 8);
        assert_eq!(r[0], 0);
        assert!(
            i64::from(r[1] as u32) >= before.year
                && (1..=12).contains(&r[2])
                && (1..=31).contains(&r[3])
        );
        assert!(r[4] < 24 && r[5] < 60 && r[6] < 60 && (r[7] as u32) < 1_000_000_000);
    }

    #[test]
    fn xive_calls() {
        use crate::irqchip::source::memory::MemoryStore;
        use std::sync::Arc;
        use vmm_core::devices::Trigger;
        // Without an interrupt controller: hardware error.
        let rig = Rig::new(2);
        assert_eq!(rtas(&rig, 0, tok("ibm,int-on"), &[0x1000], 1).1, vec![-1]);
        assert_eq!(
            rtas(&rig, 0, tok("ibm,get-xive"), &[0x1000], 3).1,
            vec![-1, 0, 0]
        );

        let store = Arc::new(MemoryStore::default());
        let xics = Arc::new(Xics::new(Box::new(store.clone()), 2));
        xics.claim(0x1000, Trigger::Edge).unwrap();
        let rig = Rig::new_with(2, |m| m.with_xics(xics.clone()));
        let (set, get) = (tok("ibm,set-xive"), tok("ibm,get-xive"));
        assert_eq!(rtas(&rig, 0, get, &[0x1000], 3).1, vec![0, 0, 0xff]);
        assert_eq!(rtas(&rig, 0, set, &[0x1000, 1, 5], 1).1, vec![0]);
        assert_eq!(rtas(&rig, 0, get, &[0x1000], 3).1, vec![0, 1, 5]);
        assert_eq!(rtas(&rig, 1, tok("ibm,int-off"), &[0x1000], 1).1, vec![0]);
        assert_eq!(rtas(&rig, 0, get, &[0x1000], 3).1, vec![0, 1, 0xff]);
        assert_eq!(rtas(&rig, 0, tok("ibm,int-on"), &[0x1000], 1).1, vec![0]);
        assert_eq!(rtas(&rig, 0, get, &[0x1000], 3).1, vec![0, 1, 5]);
        // The guest's mistakes: unknown source, server, priority; wrong counts.
        for (args, want) in [
            (vec![0x1001, 0, 5], -3),
            (vec![0x1000, 2, 5], -3),
            (vec![0x1000, 0, 0x100], -3),
            (vec![u32::MAX, u32::MAX, u32::MAX], -3),
        ] {
            assert_eq!(rtas(&rig, 0, set, &args, 1).1, vec![want], "{args:x?}");
        }
        assert_eq!(rtas(&rig, 0, get, &[0x1000, 0], 3).1[0], -3);
        assert_eq!(rtas(&rig, 0, get, &[7], 3).1[0], -3);
        assert_eq!(rtas(&rig, 0, get, &[0x1000], 3).1, vec![0, 1, 5]);
        // The kernel failing: hardware error.
        store.fail.store(true, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(rtas(&rig, 0, set, &[0x1000, 0, 5], 1).1, vec![-1]);
    }
}
