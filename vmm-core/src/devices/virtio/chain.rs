//! Serving a queue with every descriptor chain checked whole first.
//!
//! `virtio-queue` walks the rings and descriptor chains; on a malformed chain (a loop, an index
//! past the queue, an indirect table inside an indirect table, a chain longer than 4 GiB) its
//! iterator simply stops, and its `pop_descriptor_chain` swallows a broken available ring.
//! [`serve`] asks the crate's fallible iterator for each chain, walks a copy of the chain to its
//! end, and refuses it when the walk stopped early or a buffer lies outside guest RAM: the
//! device is then marked as needing reset ([`VirtioInterrupt::needs_reset`]) instead of serving
//! half a request. The device itself reads and writes the chain with the crate's `Reader` and
//! `Writer`, which check every buffer again and write through vm-memory (dirty-tracked). A chain
//! that is well formed but that the device cannot answer at all (a block request with nowhere to
//! put its status byte) is [`Unanswerable`]: it marks the device the same way.

use super::interrupt::VirtioInterrupt;
use crate::memory::GuestMemoryMmap;
use std::sync::Mutex;
use virtio_queue::{DescriptorChain, Queue, QueueOwnedT, QueueT};
use vm_memory::GuestMemoryLoadGuard;
use vm_memory::{
    Address, GuestAddressSpace, GuestMemoryAtomic, GuestMemoryBackend, GuestMemoryRegion,
};

/// A descriptor chain, holding the memory it was read from.
pub type Chain = DescriptorChain<GuestMemoryLoadGuard<GuestMemoryMmap>>;

/// Why a queue could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The available ring is broken (its index moved by more than the queue size).
    #[error("queue {queue}: the available ring is broken")]
    Ring {
        /// The queue.
        queue: u16,
        /// What virtio-queue found.
        #[source]
        source: virtio_queue::Error,
    },
    /// A chain ends early: a loop, an index past the queue, an indirect table inside an
    /// indirect table, more than 4 GiB, or no descriptor at all.
    #[error("queue {queue}: the descriptor chain at {head} is malformed (a loop, an index past the queue, a nested indirect table, over 4 GiB, or empty)")]
    Malformed {
        /// The queue.
        queue: u16,
        /// The chain's head index.
        head: u16,
    },
    /// A buffer lies outside guest RAM.
    #[error("queue {queue}: the descriptor chain at {head} has a buffer at {addr:#x}+{len:#x} outside guest RAM")]
    OutsideRam {
        /// The queue.
        queue: u16,
        /// The chain's head index.
        head: u16,
        /// The buffer's address.
        addr: u64,
        /// Its length.
        len: u32,
    },
    /// The device cannot answer the request the chain carries.
    #[error("queue {queue}: the request at {head} {why}")]
    Unanswerable {
        /// The queue.
        queue: u16,
        /// The chain's head index.
        head: u16,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The used ring could not be written.
    #[error("queue {queue}: the used ring could not be written")]
    Used {
        /// The queue.
        queue: u16,
        /// What virtio-queue found.
        #[source]
        source: virtio_queue::Error,
    },
}

/// A chain whose request the device cannot answer, not even with an error status (a block
/// request without a writable status byte at its end): the device then needs a reset. The text
/// completes "the request at N ...".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unanswerable(pub &'static str);

/// Walks a copy of `chain` to its end: `Ok` when every descriptor was reached and lies in RAM.
pub fn check(queue: u16, chain: &Chain, mem: &GuestMemoryMmap) -> Result<(), ChainError> {
    let head = chain.head_index();
    let mut last_has_next = true;
    let mut any = false;
    for d in chain.clone() {
        any = true;
        last_has_next = d.has_next();
        let len = d.len();
        let inside = len == 0
            || d.addr()
                .checked_add(u64::from(len) - 1)
                .is_some_and(|last| {
                    mem.address_in_range(d.addr())
                        && mem.address_in_range(last)
                        && mem.find_region(d.addr()).map(|r| r.start_addr())
                            == mem.find_region(last).map(|r| r.start_addr())
                });
        if !inside {
            return Err(ChainError::OutsideRam {
                queue,
                head,
                addr: d.addr().raw_value(),
                len,
            });
        }
    }
    // The crate's walk ends with a descriptor that has no next, unless it stopped early.
    if !any || last_has_next {
        return Err(ChainError::Malformed { queue, head });
    }
    Ok(())
}

/// What one [`serve`] call left behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// The available ring is empty (or the device needs a reset).
    All,
    /// It served as many chains as the queue has entries and more are available: the caller
    /// comes back for them later (its handler signals its own notification), so that one wake-up
    /// never runs without end.
    More,
}

/// Serves queue `index`: each available chain, checked, goes to `f`, which returns the bytes it
/// wrote into the chain; the chain is then put in the used ring. Interrupts the driver if it
/// asked to be. A broken ring or chain, or one `f` finds [`Unanswerable`], marks the device as
/// needing reset and stops.
///
/// At most as many chains as the queue has entries are served in one call ([`Served::More`]
/// when chains remain): a driver can keep the available ring full for ever, by adding chains as
/// fast as they are used or by placing the used ring's index on the available ring's (each
/// chain used then makes another available), and the worker thread must still come back to its
/// loop, where a pause or a device reset reaches it.
pub fn serve(
    index: u16,
    queue: &Mutex<Queue>,
    mem: &GuestMemoryAtomic<GuestMemoryMmap>,
    irq: &VirtioInterrupt,
    mut f: impl FnMut(Chain, &GuestMemoryMmap) -> Result<u32, Unanswerable>,
) -> Result<Served, ChainError> {
    serve_while(index, queue, mem, irq, |c, m| f(c, m).map(Some))
}

/// [`serve`], but `f` may answer `None`: it has nothing for the chain now (a receive queue
/// without data). The chain stays available for later and serving stops.
pub fn serve_while(
    index: u16,
    queue: &Mutex<Queue>,
    mem: &GuestMemoryAtomic<GuestMemoryMmap>,
    irq: &VirtioInterrupt,
    mut f: impl FnMut(Chain, &GuestMemoryMmap) -> Result<Option<u32>, Unanswerable>,
) -> Result<Served, ChainError> {
    if irq.is_broken() {
        return Ok(Served::All);
    }
    let m = mem.memory();
    let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
    let mut used = false;
    let mut budget = q.size();
    let r = (|| loop {
        if budget == 0 {
            return Ok(Served::More);
        }
        budget -= 1;
        let chain = match q.iter(m.clone()) {
            Ok(mut it) => it.next(),
            Err(source) => {
                return Err(ChainError::Ring {
                    queue: index,
                    source,
                })
            }
        };
        let Some(chain) = chain else {
            return Ok(Served::All);
        };
        let head = chain.head_index();
        check(index, &chain, &m)?;
        let answer = f(chain, &m).map_err(|Unanswerable(why)| ChainError::Unanswerable {
            queue: index,
            head,
            why,
        })?;
        let Some(len) = answer else {
            q.go_to_previous_position();
            return Ok(Served::All);
        };
        q.add_used(&*m, head, len)
            .map_err(|source| ChainError::Used {
                queue: index,
                source,
            })?;
        used = true;
    })();
    if used && q.needs_notification(&*m).unwrap_or(true) {
        irq.used(index);
    }
    if let Err(e) = &r {
        irq.needs_reset(e);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::irq::EventLine;
    use std::sync::{mpsc, Arc};
    use std::time::Duration;
    use virtio_queue::QueueT;
    use vm_memory::GuestAddress;

    /// Found by fuzzing (`fuzz/`, target `virtio`): with the used ring placed on the available
    /// ring, each chain used writes the used index over the available index, which makes one
    /// more chain available: `serve` used to go on for ever, and the device worker with it (no
    /// pause or reset could reach it). It now stops after a queue's worth of chains.
    #[test]
    fn a_used_ring_on_the_available_ring_does_not_keep_serve_going() {
        let m = GuestMemoryMmap::from_ranges(&[(GuestAddress(0), 1 << 16)]).unwrap();
        let mem = GuestMemoryAtomic::new(m);
        let mut q = Queue::new(16).unwrap();
        // Descriptor 0 at 0x1000 is all zeros: one empty buffer, a well-formed chain.
        q.set_desc_table_address(Some(0x1000), Some(0));
        q.set_avail_ring_address(Some(0x2000), Some(0));
        q.set_used_ring_address(Some(0x2000), Some(0));
        // The available index reads 0: 8 chains are available.
        q.set_next_avail(0xfff8);
        q.set_ready(true);
        let queue = Arc::new(Mutex::new(q));
        let irq = Arc::new(VirtioInterrupt::new(
            "test",
            Arc::new(EventLine::new().unwrap()),
        ));
        let (tx, rx) = mpsc::channel();
        let (q2, irq2) = (queue.clone(), irq.clone());
        std::thread::spawn(move || {
            let mut served = 0;
            let r = serve(0, &q2, &mem, &irq2, |_, _| {
                served += 1;
                Ok(0)
            });
            let _ = tx.send((r.map_err(|e| e.to_string()), served));
        });
        let (r, served) = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("serve returns");
        assert_eq!(r, Ok(Served::More));
        assert_eq!(served, 16, "a queue's worth of chains");
        assert!(!irq.is_broken());
    }
}
