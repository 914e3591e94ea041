//! A userspace XICS: the ICS's sources and one ICP per interrupt server, with the behaviour
//! PAPR gives them (and KVM's `book3s_xics.c` implements), in plain Rust.
//!
//! This is the model a userspace interrupt controller needs where the host has no in-kernel
//! XICS; it is host-tested here and not yet wired to KVM (that needs the ICP hypercalls served
//! by tetra and delivery through `KVM_INTERRUPT`, see `docs/ppc64.md`).
//!
//! - **ICP** ([`Presenter`]): CPPR (the vCPU takes interrupts numerically below it), MFRR (a
//!   pending IPI at that priority, 0xff none), XISR (the source presented, 2 the IPI, 0 none) and
//!   the presented priority. A server's output line ([`XicsModel::output`]) is up while
//!   something is presented.
//! - **ICS** ([`Source`]): server, priority (0xff masked) and the priority saved by
//!   `ibm,int-off`; an edge that fires while masked is kept (`masked_pending`) until unmasked;
//!   one that an ICP turns away (a more favoured one presented, or the CPPR too high) is
//!   `rejected` and offered again when that ICP's CPPR goes down or it EOIs; a level source is
//!   offered again at EOI while still asserted.
//! - `H_XIRR` accepts: it returns `CPPR << 24 | XISR` and raises the CPPR to the interrupt's
//!   priority; `H_EOI(xirr)` restores the CPPR from the top byte and ends the source. An IPI is
//!   presented again at EOI unless the handler cleared the MFRR first (`H_IPI(server, 0xff)`).

use super::icp::XICS_IPI;
use super::source::{XiveError, PRIORITY_MASKED};
use std::collections::BTreeMap;

/// One ICP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Presenter {
    /// Current processor priority.
    pub cppr: u8,
    /// The IPI's priority (0xff none).
    pub mfrr: u8,
    /// The source presented (0 none).
    pub xisr: u32,
    /// The presented interrupt's priority (0xff none).
    pub pending_priority: u8,
}

impl Default for Presenter {
    /// A new vCPU's ICP, as KVM makes it: CPPR 0 (everything held back), no IPI, nothing
    /// presented.
    fn default() -> Self {
        Presenter {
            cppr: 0,
            mfrr: PRIORITY_MASKED,
            xisr: 0,
            pending_priority: PRIORITY_MASKED,
        }
    }
}

/// One ICS source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Source {
    /// The server it is presented to.
    pub server: u32,
    /// Its priority now (0xff masked).
    pub priority: u8,
    /// The priority `ibm,int-on` gives back.
    pub saved_priority: u8,
    /// Level-sensitive (else an edge).
    pub level: bool,
    /// A level source's input is asserted.
    pub asserted: bool,
    /// An edge came while masked.
    pub masked_pending: bool,
    /// An ICP turned it away; it is offered again.
    pub rejected: bool,
    /// Presented (or accepted) and not yet EOIed.
    pub presented: bool,
}

/// The sources and the ICPs.
#[derive(Clone, Debug)]
pub struct XicsModel {
    icps: Vec<Presenter>,
    sources: BTreeMap<u32, Source>,
}

impl XicsModel {
    /// `servers` ICPs and no sources.
    pub fn new(servers: u32) -> Self {
        XicsModel {
            icps: vec![Presenter::default(); servers as usize],
            sources: BTreeMap::new(),
        }
    }

    /// Adds source `irq` (server 0, masked); `irq` 0 and the IPI's number are refused.
    pub fn add_source(&mut self, irq: u32, level: bool) -> Result<(), XiveError> {
        if irq == 0 || irq == XICS_IPI || irq > 0xff_ffff {
            return Err(XiveError::NoSource(irq));
        }
        self.sources.insert(
            irq,
            Source {
                server: 0,
                priority: PRIORITY_MASKED,
                saved_priority: PRIORITY_MASKED,
                level,
                asserted: false,
                masked_pending: false,
                rejected: false,
                presented: false,
            },
        );
        Ok(())
    }

    /// Server `server`'s ICP.
    pub fn icp(&self, server: u32) -> Option<&Presenter> {
        self.icps.get(server as usize)
    }

    /// Source `irq`.
    pub fn source(&self, irq: u32) -> Option<&Source> {
        self.sources.get(&irq)
    }

    /// Whether server `server`'s external interrupt is up (something presented).
    pub fn output(&self, server: u32) -> bool {
        self.icp(server).is_some_and(|i| i.xisr != 0)
    }

    fn icp_mut(&mut self, server: u32) -> Result<&mut Presenter, XiveError> {
        self.icps
            .get_mut(server as usize)
            .ok_or(XiveError::NoServer(server))
    }

    fn source_mut(&mut self, irq: u32) -> Result<&mut Source, XiveError> {
        self.sources.get_mut(&irq).ok_or(XiveError::NoSource(irq))
    }

    /// A device raises `irq`: an edge, or a level asserted.
    pub fn raise(&mut self, irq: u32) -> Result<(), XiveError> {
        let s = self.source_mut(irq)?;
        if s.level {
            if s.asserted {
                return Ok(());
            }
            s.asserted = true;
        }
        self.deliver(irq);
        Ok(())
    }

    /// A device lowers a level `irq` (an edge source ignores it).
    pub fn lower(&mut self, irq: u32) -> Result<(), XiveError> {
        let s = self.source_mut(irq)?;
        s.asserted = false;
        s.masked_pending = false;
        Ok(())
    }

    /// Offers `irq` to its server.
    fn deliver(&mut self, irq: u32) {
        let Some(s) = self.sources.get_mut(&irq) else {
            return;
        };
        if s.priority == PRIORITY_MASKED {
            s.masked_pending = true;
            return;
        }
        s.masked_pending = false;
        let (server, priority) = (s.server, s.priority);
        let took = self.present(server, irq, priority);
        if let Some(s) = self.sources.get_mut(&irq) {
            s.presented = took;
            s.rejected = !took;
        }
    }

    /// Presents `irq` at `priority` on `server` if the ICP takes it (more favoured than its
    /// CPPR and than what it presents); what it presented before is rejected.
    fn present(&mut self, server: u32, irq: u32, priority: u8) -> bool {
        let Some(icp) = self.icps.get_mut(server as usize) else {
            return false;
        };
        if priority >= icp.cppr || priority >= icp.pending_priority {
            return false;
        }
        let old = icp.xisr;
        icp.xisr = irq;
        icp.pending_priority = priority;
        if old != 0 && old != irq {
            self.reject(old);
        }
        true
    }

    /// An ICP gave `irq` back (the IPI stays in the MFRR).
    fn reject(&mut self, irq: u32) {
        if let Some(s) = self.sources.get_mut(&irq) {
            s.presented = false;
            s.rejected = true;
        }
    }

    /// Offers `server` its IPI and the sources it turned away.
    fn resend(&mut self, server: u32) {
        if let Some(icp) = self.icps.get(server as usize) {
            let mfrr = icp.mfrr;
            if mfrr != PRIORITY_MASKED {
                self.present(server, XICS_IPI, mfrr);
            }
        }
        let again: Vec<u32> = self
            .sources
            .iter()
            .filter(|(_, s)| s.server == server && (s.rejected || s.masked_pending))
            .map(|(&irq, _)| irq)
            .collect();
        for irq in again {
            self.deliver(irq);
        }
    }

    /// `H_CPPR(cppr)` on `server`.
    pub fn set_cppr(&mut self, server: u32, cppr: u8) -> Result<(), XiveError> {
        let icp = self.icp_mut(server)?;
        let old = icp.cppr;
        icp.cppr = cppr;
        if cppr < old {
            // More favoured: what is presented at or below it goes back.
            if icp.xisr != 0 && icp.pending_priority >= cppr {
                let x = icp.xisr;
                icp.xisr = 0;
                icp.pending_priority = PRIORITY_MASKED;
                self.reject(x);
            }
        } else if cppr > old {
            self.resend(server);
        }
        Ok(())
    }

    /// `H_XIRR` on `server`: accepts what is presented; returns `CPPR << 24 | XISR`.
    pub fn accept(&mut self, server: u32) -> Result<u32, XiveError> {
        let icp = self.icp_mut(server)?;
        let xirr = u32::from(icp.cppr) << 24 | icp.xisr;
        if icp.xisr != 0 {
            icp.cppr = icp.pending_priority;
            icp.xisr = 0;
            icp.pending_priority = PRIORITY_MASKED;
        }
        Ok(xirr)
    }

    /// `H_IPOLL` on `server`: (XIRR, MFRR) without accepting.
    pub fn poll(&self, server: u32) -> Result<(u32, u8), XiveError> {
        let icp = self.icp(server).ok_or(XiveError::NoServer(server))?;
        Ok((u32::from(icp.cppr) << 24 | icp.xisr, icp.mfrr))
    }

    /// `H_IPI(server, mfrr)`.
    pub fn set_mfrr(&mut self, server: u32, mfrr: u8) -> Result<(), XiveError> {
        let icp = self.icp_mut(server)?;
        icp.mfrr = mfrr;
        if icp.xisr == XICS_IPI && mfrr >= icp.pending_priority {
            // Made less favoured: the presented IPI is withdrawn, the rest offered again.
            icp.xisr = 0;
            icp.pending_priority = PRIORITY_MASKED;
            self.resend(server);
        } else if mfrr != PRIORITY_MASKED {
            self.present(server, XICS_IPI, mfrr);
        }
        Ok(())
    }

    /// `H_EOI(xirr)` on `server`: the CPPR from the top byte; the source ends (a level one
    /// still asserted is offered again); the IPI and turned-away sources are offered again.
    pub fn eoi(&mut self, server: u32, xirr: u32) -> Result<(), XiveError> {
        let irq = xirr & 0xff_ffff;
        let icp = self.icp_mut(server)?;
        icp.cppr = (xirr >> 24) as u8;
        if icp.xisr != 0 && icp.pending_priority >= icp.cppr {
            let x = icp.xisr;
            icp.xisr = 0;
            icp.pending_priority = PRIORITY_MASKED;
            self.reject(x);
        }
        self.resend(server);
        if irq == XICS_IPI {
            return Ok(());
        }
        let s = self.source_mut(irq)?;
        s.presented = false;
        if s.level && s.asserted {
            self.deliver(irq);
        }
        Ok(())
    }

    /// `ibm,set-xive(irq, server, priority)`.
    pub fn set_xive(&mut self, irq: u32, server: u32, priority: u32) -> Result<(), XiveError> {
        let priority = u8::try_from(priority).map_err(|_| XiveError::Priority(priority))?;
        if server as usize >= self.icps.len() {
            return Err(XiveError::NoServer(server));
        }
        let s = self.source_mut(irq)?;
        s.server = server;
        s.priority = priority;
        s.saved_priority = priority;
        self.offer_if_waiting(irq);
        Ok(())
    }

    /// `ibm,get-xive(irq)` -> (server, priority now).
    pub fn get_xive(&self, irq: u32) -> Result<(u32, u8), XiveError> {
        let s = self.source(irq).ok_or(XiveError::NoSource(irq))?;
        Ok((s.server, s.priority))
    }

    /// `ibm,int-off(irq)`.
    pub fn int_off(&mut self, irq: u32) -> Result<(), XiveError> {
        self.source_mut(irq)?.priority = PRIORITY_MASKED;
        Ok(())
    }

    /// `ibm,int-on(irq)`.
    pub fn int_on(&mut self, irq: u32) -> Result<(), XiveError> {
        let s = self.source_mut(irq)?;
        s.priority = s.saved_priority;
        self.offer_if_waiting(irq);
        Ok(())
    }

    fn offer_if_waiting(&mut self, irq: u32) {
        let Some(s) = self.sources.get(&irq) else {
            return;
        };
        let waiting = s.masked_pending || s.rejected || (s.level && s.asserted && !s.presented);
        if waiting && s.priority != PRIORITY_MASKED {
            self.deliver(irq);
        }
    }
}

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
