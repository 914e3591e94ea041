//! RTAS event sources: the EPOW (environmental and power warning) event that is the pseries
//! guest's power button, as QEMU's spapr has it.
//!
//! The device tree describes `/event-sources/epow-events` with one edge XICS source. A press
//! ([`EventSources::press_power_button`]) queues an RTAS error log of type EPOW and pulses that
//! source; Linux's pseries `ras.c` takes the interrupt, fetches the log with the RTAS call
//! `check-exception` (event mask [`EPOW_CLASS`]) and, for the action "system shutdown" with
//! the modifier "normal", calls `orderly_poweroff()`. `event-scan` (Linux's rtasd polls it)
//! never returns a log: events come through their interrupt only, as on QEMU.
//!
//! The log ([`epow_shutdown_log`]), big-endian, 8 + 92 bytes:
//!
//! ```text
//!  0  summary        version 6, severity event, disposition not recovered, extended log
//!                    present, type EPOW (0x40): 06 14 00 40
//!  4  extended length (92)
//!  8  v6 header      byte 0: valid, new log, big-endian (0x86); byte 2: PowerPC format,
//!                    platform event log (0x8e); company "IBM\0" at +12
//! 24  Main-A "PH"    48 bytes: creation date and time (BCD), creator 'H', 3 sections
//! 72  Main-B "UH"    24 bytes: subsystem 0xa0 (external environment), informational,
//!                    subtype 0xd0 (normal shutdown)
//! 96  EPOW "EP"      20 bytes, version 2: sensor value 3 (system shutdown), modifier 1
//!                    (normal), extended modifier 1 (partition specific)
//! ```
//!
//! The queue holds at most [`MAX_EVENTS`] logs (more presses before the guest fetched them are
//! dropped), and is in snapshots (section `RTEV`, optional: an older snapshot has no events).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use vmm_core::clock::DateTime;
use vmm_core::devices::InterruptLine;
use vmm_core::snapshot::{check_version, StateError, Stateful};
use vmm_core::wire::{Reader, Writer};

/// The `check-exception` event-mask bit of EPOW events (class 1: `1 << (31 - 1)`; Linux's
/// `RTAS_EPOW_WARNING`).
pub const EPOW_CLASS: u32 = 0x4000_0000;
/// The most logs the queue keeps.
pub const MAX_EVENTS: usize = 16;
/// The largest log tetra keeps (and accepts from a snapshot): Linux's `RTAS_ERROR_LOG_MAX`.
pub const MAX_LOG_LEN: usize = 2048;
/// The snapshot section of the queue.
pub const STATE_TAG: &[u8; 4] = b"RTEV";

/// The summary word: version 6 | severity event (0) | disposition not recovered (0x10 in byte
/// 1) | extended log present (0x04 in byte 1) | type EPOW (0x40).
const SUMMARY_EPOW: u32 = 0x0614_0040;
/// Section ids (two ASCII characters).
const MAIN_A: u16 = u16::from_be_bytes(*b"PH");
const MAIN_B: u16 = u16::from_be_bytes(*b"UH");
const EPOW: u16 = u16::from_be_bytes(*b"EP");
/// EPOW action code "system shutdown" and modifier "normal".
pub const EPOW_ACTION_SYSTEM_SHUTDOWN: u8 = 3;
/// The "normal" modifier of a system shutdown.
pub const EPOW_MODIFIER_NORMAL: u8 = 1;

fn bcd(v: u32) -> u32 {
    // Eight decimal digits at most; the callers pass fewer.
    let mut out = 0;
    for i in 0..8 {
        out |= ((v / 10u32.pow(i)) % 10) << (4 * i);
    }
    out
}

fn section_header(b: &mut Vec<u8>, id: u16, len: u16, version: u8) {
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&len.to_be_bytes());
    b.push(version);
    b.push(0); // subtype
    b.extend_from_slice(&0u16.to_be_bytes()); // creator component
}

/// The RTAS v6 extended error log of a power-button press: EPOW, system shutdown, normal.
pub fn epow_shutdown_log(t: &DateTime) -> Vec<u8> {
    let mut ext = Vec::with_capacity(92);
    // The v6 extended-log header.
    ext.extend_from_slice(&[0x86, 0, 0x8e]);
    ext.extend_from_slice(&[0; 9]);
    ext.extend_from_slice(b"IBM\0");
    // Main-A.
    section_header(&mut ext, MAIN_A, 48, 1);
    let year = t.year.clamp(0, 9999) as u32;
    let date = (bcd(year) << 16) | (bcd(t.month) << 8) | bcd(t.day);
    let time = (bcd(t.hour) << 24) | (bcd(t.minute) << 16) | (bcd(t.second) << 8);
    ext.extend_from_slice(&date.to_be_bytes());
    ext.extend_from_slice(&time.to_be_bytes());
    ext.extend_from_slice(&[0; 8]); // platform
    ext.push(b'H'); // creator: the hypervisor
    ext.extend_from_slice(&[0; 2]);
    ext.push(3); // sections: Main-A, Main-B, EPOW
    ext.extend_from_slice(&[0; 4 + 8 + 4 + 4]); // reserved, platform, PLID, platform
                                                // Main-B.
    section_header(&mut ext, MAIN_B, 24, 1);
    ext.extend_from_slice(&[0xa0, 0, 0x00, 0xd0]);
    ext.extend_from_slice(&[0; 4 + 2 + 2 + 4]);
    // EPOW.
    section_header(&mut ext, EPOW, 20, 2);
    ext.extend_from_slice(&[EPOW_ACTION_SYSTEM_SHUTDOWN, EPOW_MODIFIER_NORMAL, 1, 0]);
    ext.extend_from_slice(&[0; 8]); // reason code
    let mut log = Vec::with_capacity(8 + ext.len());
    log.extend_from_slice(&SUMMARY_EPOW.to_be_bytes());
    log.extend_from_slice(&(ext.len() as u32).to_be_bytes());
    log.extend_from_slice(&ext);
    log
}

/// The queued logs, each with its event-class mask.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventQueue {
    events: VecDeque<(u32, Vec<u8>)>,
}

impl EventQueue {
    /// Queues `log` of class `mask`; false (dropped) when the queue is full.
    pub fn push(&mut self, mask: u32, log: Vec<u8>) -> bool {
        if self.events.len() >= MAX_EVENTS {
            return false;
        }
        self.events.push_back((mask, log));
        true
    }

    /// The oldest log of a class in `mask`.
    pub fn peek(&self, mask: u32) -> Option<&[u8]> {
        self.events
            .iter()
            .find(|(m, _)| m & mask != 0)
            .map(|(_, l)| l.as_slice())
    }

    /// Removes the oldest log of a class in `mask`.
    pub fn pop(&mut self, mask: u32) -> Option<Vec<u8>> {
        let i = self.events.iter().position(|(m, _)| m & mask != 0)?;
        self.events.remove(i).map(|(_, l)| l)
    }

    /// How many logs wait.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether none waits.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

impl Stateful for EventQueue {
    fn save_state(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.u32(self.events.len() as u32);
        for (mask, log) in &self.events {
            w.u32(*mask);
            w.u32(log.len() as u32);
            w.bytes(log);
        }
        w.into_bytes()
    }

    fn restore_state(&mut self, version: u16, data: &[u8]) -> Result<(), StateError> {
        check_version(version, 1)?;
        let mut r = Reader::new(data);
        let n = r.u32("the RTAS event count")? as usize;
        if n > MAX_EVENTS {
            return Err(StateError::Invalid(format!(
                "{n} queued RTAS events (at most {MAX_EVENTS})"
            )));
        }
        let mut events = VecDeque::with_capacity(n);
        for _ in 0..n {
            let mask = r.u32("an RTAS event's class")?;
            let len = r.u32("an RTAS event's length")? as usize;
            if len > MAX_LOG_LEN {
                return Err(StateError::Invalid(format!(
                    "an RTAS event log of {len} bytes (at most {MAX_LOG_LEN})"
                )));
            }
            events.push_back((mask, r.take("an RTAS event log", len)?.to_vec()));
        }
        if !r.is_empty() {
            return Err(StateError::Trailing(r.remaining()));
        }
        self.events = events;
        Ok(())
    }
}

/// The XICS sources a snapshot's saved ones are checked against: the VM's `claimed` ones,
/// without the EPOW source when the snapshot has none (one taken before tetra had the power
/// button: its guest's device tree names no EPOW source, which stays masked).
pub fn sources_to_check(saved: &[u32], claimed: Vec<u32>) -> Vec<u32> {
    if saved.contains(&crate::layout::EPOW_IRQ) {
        claimed
    } else {
        claimed
            .into_iter()
            .filter(|&i| i != crate::layout::EPOW_IRQ)
            .collect()
    }
}

/// The machine's event sources: the queue and the EPOW interrupt (none without an interrupt
/// controller: a press then only queues its log).
pub struct EventSources {
    queue: Arc<Mutex<EventQueue>>,
    epow: Option<Arc<dyn InterruptLine>>,
}

impl EventSources {
    /// Sources with an empty queue, the EPOW interrupt on `epow`.
    pub fn new(epow: Option<Arc<dyn InterruptLine>>) -> Self {
        EventSources {
            queue: Arc::new(Mutex::new(EventQueue::default())),
            epow,
        }
    }

    /// The queue (shared with the snapshot registry).
    pub fn queue(&self) -> &Arc<Mutex<EventQueue>> {
        &self.queue
    }

    fn lock(&self) -> MutexGuard<'_, EventQueue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn pulse(&self) {
        if let Some(l) = &self.epow {
            // An irqfd write fails only when its counter is full: an edge is pending then.
            let _ = l.trigger();
        }
    }

    /// The power button: queues the EPOW system-shutdown log, pulses the EPOW interrupt.
    pub fn press_power_button(&self) {
        let log = epow_shutdown_log(&DateTime::now());
        if self.lock().push(EPOW_CLASS, log) {
            self.pulse();
        }
    }

    /// `check-exception`'s work: hands the oldest log of a class in `mask` to `write` (which
    /// puts it in guest memory); it leaves the queue only if `write` succeeded. Pulses the
    /// interrupt again while logs wait (PAPR keeps it asserted; tetra's source is an edge).
    /// `None`: no log of those classes.
    pub fn take<E>(
        &self,
        mask: u32,
        write: impl FnOnce(&[u8]) -> Result<(), E>,
    ) -> Option<Result<(), E>> {
        let mut q = self.lock();
        let log = q.peek(mask)?;
        if let Err(e) = write(log) {
            return Some(Err(e));
        }
        q.pop(mask);
        let more = q.peek(EPOW_CLASS).is_some();
        drop(q);
        if more {
            self.pulse();
        }
        Some(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vmm_core::devices::irq::EventLine;

    fn when() -> DateTime {
        DateTime {
            year: 2026,
            month: 12,
            day: 4,
            hour: 12,
            minute: 34,
            second: 56,
            weekday: 6,
            nanos: 0,
        }
    }

    fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }

    /// Walks the log as Linux's `get_pseries_errorlog` does and returns the EPOW section.
    fn linux_epow_section(log: &[u8]) -> Option<&[u8]> {
        let ext_len = be32(log, 4) as usize;
        let ext = &log[8..8 + ext_len];
        // log format (byte 2, low nibble) 14, company "IBM\0"
        if ext_len < 16 || ext[2] & 0xf != 14 || be32(ext, 12) != 0x4942_4d00 {
            return None;
        }
        let mut p = 16;
        while p + 4 <= ext.len() {
            let id = u16::from_be_bytes([ext[p], ext[p + 1]]);
            let len = u16::from_be_bytes([ext[p + 2], ext[p + 3]]) as usize;
            if id == EPOW {
                return Some(&ext[p..p + len]);
            }
            if len == 0 {
                return None;
            }
            p += len;
        }
        None
    }

    #[test]
    fn the_epow_log_is_what_linux_ras_parses_as_a_normal_shutdown() {
        let log = epow_shutdown_log(&when());
        assert_eq!(log.len(), 8 + 16 + 48 + 24 + 20);
        // Version 6, extended, type EPOW.
        assert_eq!(log[0], 6);
        assert_eq!(log[1] & 0x04, 0x04);
        assert_eq!(log[3], 0x40);
        assert_eq!(be32(&log, 4) as usize, log.len() - 8);
        let ep = linux_epow_section(&log).expect("an EPOW section");
        assert_eq!(ep.len(), 20);
        assert_eq!(ep[4], 2, "section version 2: with the extended modifier");
        // Linux: action = sensor_value & 0xf, modifier = event_modifier & 0xf.
        assert_eq!(ep[8] & 0xf, EPOW_ACTION_SYSTEM_SHUTDOWN);
        assert_eq!(ep[9] & 0xf, EPOW_MODIFIER_NORMAL);
        // Main-A's BCD date and time, 3 sections.
        assert_eq!(&log[24..26], b"PH");
        assert_eq!(be32(&log, 32), 0x2026_1204);
        assert_eq!(be32(&log, 36), 0x1234_5600);
        assert_eq!(log[24 + 24], b'H');
        assert_eq!(log[24 + 27], 3);
        assert_eq!(&log[72..74], b"UH");
    }

    #[test]
    fn a_press_queues_and_pulses_and_check_exception_takes_it_once() {
        let line = Arc::new(EventLine::new().unwrap());
        let ev = EventSources::new(Some(line.clone()));
        ev.press_power_button();
        assert_eq!(line.0.read().unwrap(), 1);
        // Another class's mask finds nothing.
        assert!(ev.take(0x8000_0000, |_| Ok::<(), ()>(())).is_none());
        // A failed write keeps the log.
        assert_eq!(ev.take(EPOW_CLASS, |_| Err("no")), Some(Err("no")));
        let mut got = Vec::new();
        let r = ev.take(EPOW_CLASS, |l| {
            got = l.to_vec();
            Ok::<(), ()>(())
        });
        assert_eq!(r, Some(Ok(())));
        assert!(linux_epow_section(&got).is_some());
        assert!(ev.take(EPOW_CLASS, |_| Ok::<(), ()>(())).is_none());
        // Two presses: the second log pulses again when the first is taken.
        ev.press_power_button();
        ev.press_power_button();
        assert_eq!(line.0.read().unwrap(), 2);
        ev.take(EPOW_CLASS, |_| Ok::<(), ()>(())).unwrap().unwrap();
        assert_eq!(line.0.read().unwrap(), 1);
    }

    #[test]
    fn an_older_snapshot_without_the_epow_source_is_checked_without_it() {
        use crate::layout::{EPOW_IRQ, IRQ_BASE};
        let vm = vec![IRQ_BASE, EPOW_IRQ, IRQ_BASE + 1];
        assert_eq!(
            sources_to_check(&[IRQ_BASE, IRQ_BASE + 1], vm.clone()),
            [IRQ_BASE, IRQ_BASE + 1]
        );
        assert_eq!(sources_to_check(&vm, vm.clone()), vm);
    }

    #[test]
    fn the_queue_is_bounded_and_survives_a_snapshot() {
        let ev = EventSources::new(None);
        for _ in 0..MAX_EVENTS + 3 {
            ev.press_power_button();
        }
        let q = ev.queue().lock().unwrap().clone();
        assert_eq!(q.len(), MAX_EVENTS);
        let saved = q.save_state();
        let mut r = EventQueue::default();
        r.restore_state(1, &saved).unwrap();
        assert_eq!(r, q);
        assert!(r.restore_state(2, &saved).is_err());
        assert!(r.restore_state(1, &saved[..saved.len() - 1]).is_err());
        let mut long = saved.clone();
        long.push(0);
        assert!(matches!(
            r.restore_state(1, &long),
            Err(StateError::Trailing(1))
        ));
        // Counts and lengths beyond the limits are refused, not allocated.
        assert!(r.restore_state(1, &u32::MAX.to_be_bytes()).is_err());
        let mut huge = Writer::new();
        huge.u32(1);
        huge.u32(EPOW_CLASS);
        huge.u32(u32::MAX);
        assert!(r.restore_state(1, &huge.into_bytes()).is_err());
        assert!(EventQueue::default().is_empty());
    }
}
