//! XICS interrupt sources: the 64-bit source attribute of `KVM_DEV_XICS_GRP_SOURCES`, and the
//! ICS operations of the RTAS calls `ibm,set-xive`, `ibm,get-xive`, `ibm,int-off` and
//! `ibm,int-on` on it.
//!
//! The attribute (powerpc `asm/kvm.h`): bits 0-31 the server, 32-39 the priority, then
//! `LEVEL_SENSITIVE` (40), `MASKED` (41), `PENDING` (42), `PRESENTED` (43), `QUEUED` (44).
//! A source masked with `ibm,int-off` keeps its priority in the priority field with `MASKED`
//! set; `ibm,int-on` clears `MASKED` and the saved priority applies again. Priority 0xff is
//! "never presented" (also masked, as PAPR has it), 0 the most favoured.
//!
//! Every operation reads the attribute, changes server, priority or mask, and writes it back
//! with its other bits (level, pending, presented, queued) as read: the kernel delivers a
//! source written with `PENDING` set, so an interrupt that fired while masked is presented
//! once the guest unmasks it. This is how QEMU drives the in-kernel XICS, too. A device
//! raising its line between the read and the write is the one race: its edge then waits for
//! the next one, as on a source masked at that instant.

use super::super::hcall::{H_HARDWARE, H_PARAMETER};
use kvm_ppc::consts::{
    KVM_XICS_DESTINATION_MASK, KVM_XICS_LEVEL_SENSITIVE, KVM_XICS_MASKED, KVM_XICS_PENDING,
    KVM_XICS_PRESENTED, KVM_XICS_PRIORITY_MASK, KVM_XICS_PRIORITY_SHIFT, KVM_XICS_QUEUED,
};
use std::collections::BTreeSet;
use std::sync::Mutex;
use thiserror::Error;
use vmm_core::devices::Trigger;

/// The priority that is never presented (a masked source).
pub const PRIORITY_MASKED: u8 = 0xff;

/// One source's attribute, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SourceAttr {
    /// The interrupt server (vCPU) it is presented to.
    pub server: u32,
    /// Its priority (with `masked`: the priority it gets back on `ibm,int-on`).
    pub priority: u8,
    /// Masked by `ibm,int-off`.
    pub masked: bool,
    /// A level-sensitive source (LSI); else a message-signalled one (edge).
    pub level: bool,
    /// An interrupt is pending at the source.
    pub pending: bool,
    /// An interrupt was presented to a server and not yet EOIed.
    pub presented: bool,
    /// An interrupt is queued behind a presented one.
    pub queued: bool,
}

impl SourceAttr {
    /// Decodes the kernel's attribute.
    pub fn decode(v: u64) -> Self {
        SourceAttr {
            server: (v & KVM_XICS_DESTINATION_MASK) as u32,
            priority: ((v >> KVM_XICS_PRIORITY_SHIFT) & KVM_XICS_PRIORITY_MASK) as u8,
            masked: v & KVM_XICS_MASKED != 0,
            level: v & KVM_XICS_LEVEL_SENSITIVE != 0,
            pending: v & KVM_XICS_PENDING != 0,
            presented: v & KVM_XICS_PRESENTED != 0,
            queued: v & KVM_XICS_QUEUED != 0,
        }
    }

    /// Encodes it for the kernel.
    pub fn encode(&self) -> u64 {
        let flag = |on: bool, bit: u64| if on { bit } else { 0 };
        u64::from(self.server)
            | u64::from(self.priority) << KVM_XICS_PRIORITY_SHIFT
            | flag(self.masked, KVM_XICS_MASKED)
            | flag(self.level, KVM_XICS_LEVEL_SENSITIVE)
            | flag(self.pending, KVM_XICS_PENDING)
            | flag(self.presented, KVM_XICS_PRESENTED)
            | flag(self.queued, KVM_XICS_QUEUED)
    }

    /// The priority the source presents at now: 0xff while masked.
    pub fn effective_priority(&self) -> u8 {
        if self.masked {
            PRIORITY_MASKED
        } else {
            self.priority
        }
    }
}

/// The store of source attributes: the in-kernel XICS device (`KVM_GET/SET_DEVICE_ATTR` of
/// `KVM_DEV_XICS_GRP_SOURCES`), or plain memory in tests.
pub trait SourceStore: Send + Sync {
    /// Source `irq`'s attribute.
    fn get(&self, irq: u32) -> Result<u64, SourceError>;
    /// Sets source `irq`'s attribute (the kernel creates the source on the first write).
    fn set(&self, irq: u32, attr: u64) -> Result<(), SourceError>;
}

/// The store failed.
#[derive(Debug, Error)]
#[error("XICS source {irq}: {op} failed")]
pub struct SourceError {
    /// The source.
    pub irq: u32,
    /// What failed.
    pub op: &'static str,
    /// Why.
    #[source]
    pub source: vmm_core::hypervisor::HvError,
}

/// Why an RTAS XIVE call was refused.
#[derive(Debug, Error)]
pub enum XiveError {
    /// No device has this source.
    #[error("no interrupt source {0}")]
    NoSource(u32),
    /// The server is not a vCPU of this VM.
    #[error("no interrupt server {0}")]
    NoServer(u32),
    /// The priority does not fit in 8 bits.
    #[error("priority {0} is above 255")]
    Priority(u32),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] SourceError),
}

impl XiveError {
    /// The RTAS status the guest gets: -3 (parameter error) for its own mistakes, -1 (hardware
    /// error) when the kernel failed.
    pub fn rtas_status(&self) -> i32 {
        match self {
            XiveError::Store(_) => crate::rtas::RTAS_OUT_HW_ERROR,
            _ => crate::rtas::RTAS_OUT_PARAM_ERROR,
        }
    }

    /// The same as a hypercall status.
    pub fn hcall_status(&self) -> i64 {
        match self {
            XiveError::Store(_) => H_HARDWARE,
            _ => H_PARAMETER,
        }
    }
}

/// The ICS half of the machine's XICS: the sources devices claimed and the RTAS calls on them.
pub struct Xics {
    store: Box<dyn SourceStore>,
    servers: u32,
    claimed: Mutex<BTreeSet<u32>>,
}

impl Xics {
    /// An ICS over `store` with `servers` interrupt servers (one per vCPU, numbered from 0).
    pub fn new(store: Box<dyn SourceStore>, servers: u32) -> Self {
        Xics {
            store,
            servers,
            claimed: Mutex::new(BTreeSet::new()),
        }
    }

    /// The number of interrupt servers.
    pub fn servers(&self) -> u32 {
        self.servers
    }

    /// Creates source `irq` for a device line: server 0, priority 0xff (the guest sets its
    /// own with `ibm,set-xive`), level-sensitive for a level line.
    pub fn claim(&self, irq: u32, trigger: Trigger) -> Result<(), SourceError> {
        let attr = SourceAttr {
            priority: PRIORITY_MASKED,
            level: trigger == Trigger::Level,
            ..SourceAttr::default()
        };
        self.store.set(irq, attr.encode())?;
        self.claimed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(irq);
        Ok(())
    }

    /// The sources claimed, in order.
    pub fn claimed(&self) -> Vec<u32> {
        let claimed = self.claimed.lock().unwrap_or_else(|e| e.into_inner());
        claimed.iter().copied().collect()
    }

    /// Every claimed source's attribute word, by increasing number (for a snapshot).
    pub fn attributes(&self) -> Result<Vec<(u32, u64)>, SourceError> {
        self.claimed()
            .into_iter()
            .map(|irq| Ok((irq, self.store.get(irq)?)))
            .collect()
    }

    /// Writes the attribute words of a snapshot back, as saved: the kernel presents a source
    /// written with `PENDING` (whether the sources are this ICS's is the snapshot's check).
    pub fn restore(&self, attrs: &[(u32, u64)]) -> Result<(), SourceError> {
        attrs
            .iter()
            .try_for_each(|(irq, a)| self.store.set(*irq, *a))
    }

    fn read(&self, irq: u32) -> Result<SourceAttr, XiveError> {
        let known = self
            .claimed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&irq);
        if !known {
            return Err(XiveError::NoSource(irq));
        }
        Ok(SourceAttr::decode(self.store.get(irq)?))
    }

    fn write(&self, irq: u32, a: &SourceAttr) -> Result<(), XiveError> {
        Ok(self.store.set(irq, a.encode())?)
    }

    /// `ibm,set-xive(irq, server, priority)`: routes the source and sets its priority (which
    /// also unmasks it; priority 0xff masks it).
    pub fn set_xive(&self, irq: u32, server: u32, priority: u32) -> Result<(), XiveError> {
        let priority = u8::try_from(priority).map_err(|_| XiveError::Priority(priority))?;
        if server >= self.servers {
            return Err(XiveError::NoServer(server));
        }
        let mut a = self.read(irq)?;
        a.server = server;
        a.priority = priority;
        a.masked = false;
        self.write(irq, &a)
    }

    /// `ibm,get-xive(irq)` -> (server, priority); the priority is 0xff while the source is
    /// masked with `ibm,int-off`.
    pub fn get_xive(&self, irq: u32) -> Result<(u32, u8), XiveError> {
        let a = self.read(irq)?;
        Ok((a.server, a.effective_priority()))
    }

    /// `ibm,int-off(irq)`: masks the source, keeping its priority for `ibm,int-on`.
    pub fn int_off(&self, irq: u32) -> Result<(), XiveError> {
        let mut a = self.read(irq)?;
        a.masked = true;
        self.write(irq, &a)
    }

    /// `ibm,int-on(irq)`: unmasks the source at its saved priority.
    pub fn int_on(&self, irq: u32) -> Result<(), XiveError> {
        let mut a = self.read(irq)?;
        a.masked = false;
        self.write(irq, &a)
    }
}

/// A [`SourceStore`] in memory, for tests.
#[cfg(test)]
pub(crate) mod memory {
    use super::*;
    use std::collections::BTreeMap;

    /// Attributes by source; [`MemoryStore::fail`] makes every access fail.
    #[derive(Default)]
    pub struct MemoryStore {
        pub attrs: Mutex<BTreeMap<u32, u64>>,
        pub fail: std::sync::atomic::AtomicBool,
    }

    impl MemoryStore {
        fn check(&self, irq: u32, op: &'static str) -> Result<(), SourceError> {
            if self.fail.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(SourceError {
                    irq,
                    op,
                    source: vmm_core::hypervisor::HvError::Unsupported("a failing test store"),
                });
            }
            Ok(())
        }
    }

    impl SourceStore for std::sync::Arc<MemoryStore> {
        fn get(&self, irq: u32) -> Result<u64, SourceError> {
            self.check(irq, "get")?;
            Ok(*self.attrs.lock().unwrap().get(&irq).unwrap_or(&0))
        }
        fn set(&self, irq: u32, attr: u64) -> Result<(), SourceError> {
            self.check(irq, "set")?;
            self.attrs.lock().unwrap().insert(irq, attr);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::memory::MemoryStore;
    use super::*;
    use std::sync::Arc;

    #[test]
    fn attribute_codec() {
        let a = SourceAttr {
            server: 3,
            priority: 5,
            masked: true,
            level: true,
            pending: true,
            presented: false,
            queued: true,
        };
        let v = a.encode();
        assert_eq!(v, 3 | 5 << 32 | 1 << 40 | 1 << 41 | 1 << 42 | 1 << 44);
        assert_eq!(SourceAttr::decode(v), a);
        assert_eq!(a.effective_priority(), 0xff);
        // Bits the kernel does not define are dropped.
        assert_eq!(SourceAttr::decode(u64::MAX).encode(), (1 << 45) - 1);
    }

    fn xics(servers: u32) -> (Arc<MemoryStore>, Xics) {
        let store = Arc::new(MemoryStore::default());
        (store.clone(), Xics::new(Box::new(store), servers))
    }

    #[test]
    fn claim_set_get_off_on() {
        let (store, x) = xics(2);
        x.claim(0x1000, Trigger::Edge).unwrap();
        x.claim(0x1001, Trigger::Level).unwrap();
        assert_eq!(x.claimed(), vec![0x1000, 0x1001]);
        assert_eq!(x.get_xive(0x1000).unwrap(), (0, 0xff));
        let lsi = SourceAttr::decode(store.attrs.lock().unwrap()[&0x1001]);
        assert!(lsi.level && !lsi.masked && lsi.priority == 0xff);

        x.set_xive(0x1000, 1, 5).unwrap();
        assert_eq!(x.get_xive(0x1000).unwrap(), (1, 5));
        // A masked source that fired keeps its pending bit through int-off/int-on: the kernel
        // presents it when it is written back unmasked.
        *store.attrs.lock().unwrap().get_mut(&0x1000).unwrap() |= KVM_XICS_PENDING;
        x.int_off(0x1000).unwrap();
        assert_eq!(x.get_xive(0x1000).unwrap(), (1, 0xff));
        let off = SourceAttr::decode(store.attrs.lock().unwrap()[&0x1000]);
        assert!(off.masked && off.pending && off.priority == 5);
        x.int_on(0x1000).unwrap();
        assert_eq!(x.get_xive(0x1000).unwrap(), (1, 5));
        let on = SourceAttr::decode(store.attrs.lock().unwrap()[&0x1000]);
        assert!(!on.masked && on.pending);
        // set-xive unmasks too.
        x.int_off(0x1000).unwrap();
        x.set_xive(0x1000, 0, 7).unwrap();
        assert_eq!(x.get_xive(0x1000).unwrap(), (0, 7));
        // The level bit survives every call.
        x.set_xive(0x1001, 1, 4).unwrap();
        x.int_off(0x1001).unwrap();
        x.int_on(0x1001).unwrap();
        assert!(SourceAttr::decode(store.attrs.lock().unwrap()[&0x1001]).level);
    }

    #[test]
    fn attributes_save_and_restore() {
        let (store, x) = xics(2);
        x.claim(0x1001, Trigger::Level).unwrap();
        x.claim(0x1000, Trigger::Edge).unwrap();
        x.set_xive(0x1000, 1, 5).unwrap();
        *store.attrs.lock().unwrap().get_mut(&0x1000).unwrap() |= KVM_XICS_PENDING;
        let saved = x.attributes().unwrap();
        assert_eq!(saved.len(), 2);
        assert_eq!(saved[0], (0x1000, 1 | 5 << 32 | KVM_XICS_PENDING));
        let (store2, y) = xics(2);
        y.claim(0x1000, Trigger::Edge).unwrap();
        y.claim(0x1001, Trigger::Level).unwrap();
        y.restore(&saved).unwrap();
        assert_eq!(y.attributes().unwrap(), saved);
        assert_eq!(y.get_xive(0x1000).unwrap(), (1, 5));
        store2
            .fail
            .store(true, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(y.restore(&saved).unwrap_err().irq, 0x1000);
        assert!(y.attributes().is_err());
    }

    #[test]
    fn guest_mistakes_and_store_failures() {
        let (store, x) = xics(2);
        x.claim(0x1000, Trigger::Edge).unwrap();
        let param = crate::rtas::RTAS_OUT_PARAM_ERROR;
        for e in [
            x.set_xive(0x1002, 0, 5).unwrap_err(),
            x.set_xive(0x1000, 2, 5).unwrap_err(),
            x.set_xive(0x1000, u32::MAX, 5).unwrap_err(),
            x.set_xive(0x1000, 0, 256).unwrap_err(),
            x.get_xive(0).unwrap_err(),
            x.int_off(u32::MAX).unwrap_err(),
            x.int_on(0xfff).unwrap_err(),
        ] {
            assert_eq!(e.rtas_status(), param, "{e}");
            assert_eq!(e.hcall_status(), H_PARAMETER);
        }
        // Nothing was created for the unknown sources.
        assert_eq!(store.attrs.lock().unwrap().len(), 1);
        store.fail.store(true, std::sync::atomic::Ordering::Relaxed);
        let e = x.get_xive(0x1000).unwrap_err();
        assert_eq!(e.rtas_status(), crate::rtas::RTAS_OUT_HW_ERROR);
        assert!(std::error::Error::source(&e).is_some() || e.to_string().contains("get failed"));
        assert!(x.claim(0x1003, Trigger::Edge).is_err());
        assert_eq!(x.claimed(), vec![0x1000], "a failed claim is not recorded");
    }
}
