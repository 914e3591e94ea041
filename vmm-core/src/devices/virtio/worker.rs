//! The device worker: one thread per VM that runs every active virtio device's [`Handler`] on an
//! event-manager loop, separate from the vCPUs (whose exits stay short) and from the VMM's own
//! thread (whose control requests, such as a migration, must not stall device I/O).
//!
//! Handlers are added and removed from vCPU threads (a driver's `DRIVER_OK` or reset) through
//! the loop's remote endpoint. [`Worker::pause`] parks the thread inside the loop until
//! [`Worker::resume`]: with the vCPUs paused first, nothing then touches the queues, so a snapshot
//! or a migration's stop-and-copy reads them still.

use super::device::{Handler, VirtioError};
use event_manager::{EventManager, RemoteEndpoint, SubscriberId, SubscriberOps};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

type Sub = Box<dyn Handler>;

#[derive(Default)]
struct Gate {
    /// Asked to park.
    paused: bool,
    /// Parked.
    parked: bool,
}

/// The worker thread.
pub struct Worker {
    endpoint: RemoteEndpoint<Sub>,
    stop: Arc<AtomicBool>,
    gate: Arc<(Mutex<Gate>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

fn worker_err(e: event_manager::Error) -> VirtioError {
    VirtioError::Worker(format!("{e:?}"))
}

impl Worker {
    /// Starts the thread (named `virtio`), under `sandbox`'s worker filter if any.
    pub fn spawn(sandbox: Option<crate::sandbox::Sandbox>) -> Result<Self, VirtioError> {
        let mut em = EventManager::<Sub>::new().map_err(worker_err)?;
        let endpoint = em.remote_endpoint();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("virtio".into())
            .spawn(move || {
                if let Some(sb) = sandbox {
                    sb.enter_or_exit(crate::sandbox::ThreadKind::Worker);
                }
                while !s.load(Ordering::SeqCst) {
                    // An epoll error here is the host's; the loop tries again.
                    let _ = em.run_with_timeout(-1);
                }
            })
            .map_err(|source| VirtioError::EventFd {
                what: "spawning the virtio worker thread",
                source,
            })?;
        Ok(Worker {
            endpoint,
            stop,
            gate: Arc::new((Mutex::new(Gate::default()), Condvar::new())),
            thread: Some(thread),
        })
    }

    /// Runs `h` on the worker; returns its id for [`Worker::remove`].
    pub fn add(&self, h: Sub) -> Result<SubscriberId, VirtioError> {
        self.endpoint
            .call_blocking(move |ops: &mut dyn SubscriberOps<Subscriber = Sub>| {
                Ok::<_, event_manager::Error>(ops.add_subscriber(h))
            })
            .map_err(worker_err)
    }

    /// Stops running handler `id`.
    pub fn remove(&self, id: SubscriberId) -> Result<(), VirtioError> {
        self.endpoint
            .call_blocking(move |ops: &mut dyn SubscriberOps<Subscriber = Sub>| {
                ops.remove_subscriber(id).map(drop)
            })
            .map_err(worker_err)
    }

    /// Parks the thread between events and waits (up to `limit`) until it is parked.
    pub fn pause(&self, limit: Duration) -> Result<(), VirtioError> {
        let (lock, cv) = &*self.gate;
        {
            let mut g = lock.lock().unwrap_or_else(|e| e.into_inner());
            if g.paused {
                return Ok(());
            }
            g.paused = true;
        }
        let gate = self.gate.clone();
        self.endpoint
            .fire(move |_| {
                let (lock, cv) = &*gate;
                let mut g = lock.lock().unwrap_or_else(|e| e.into_inner());
                g.parked = true;
                cv.notify_all();
                while g.paused {
                    g = cv.wait(g).unwrap_or_else(|e| e.into_inner());
                }
                g.parked = false;
                cv.notify_all();
            })
            .map_err(worker_err)?;
        let g = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (g, timeout) = cv
            .wait_timeout_while(g, limit, |g| !g.parked)
            .unwrap_or_else(|e| e.into_inner());
        if timeout.timed_out() && !g.parked {
            drop(g);
            self.resume();
            return Err(VirtioError::Worker(format!(
                "the virtio worker did not pause within {limit:?}"
            )));
        }
        Ok(())
    }

    /// Lets a parked thread go on.
    pub fn resume(&self) {
        let (lock, cv) = &*self.gate;
        let mut g = lock.lock().unwrap_or_else(|e| e.into_inner());
        g.paused = false;
        cv.notify_all();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.resume();
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.endpoint.kick();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use event_manager::{EventOps, EventSet, Events, MutEventSubscriber};
    use std::os::fd::AsRawFd;
    use std::sync::atomic::AtomicU32;
    use vmm_sys_util::eventfd::{EventFd, EFD_NONBLOCK};

    struct Count(EventFd, Arc<AtomicU32>);
    impl MutEventSubscriber for Count {
        fn init(&mut self, ops: &mut EventOps) {
            ops.add(Events::new(&self.0, EventSet::IN)).unwrap();
        }
        fn process(&mut self, e: Events, _: &mut EventOps) {
            assert_eq!(e.fd(), self.0.as_raw_fd());
            let _ = self.0.read();
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn wait_for(n: &AtomicU32, want: u32) -> bool {
        for _ in 0..500 {
            if n.load(Ordering::SeqCst) == want {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }

    #[test]
    fn handlers_run_and_pause_holds_them() {
        let w = Worker::spawn(None).unwrap();
        let fd = EventFd::new(EFD_NONBLOCK).unwrap();
        let n = Arc::new(AtomicU32::new(0));
        let id = w
            .add(Box::new(Count(fd.try_clone().unwrap(), n.clone())))
            .unwrap();
        fd.write(1).unwrap();
        assert!(wait_for(&n, 1));
        w.pause(Duration::from_secs(5)).unwrap();
        fd.write(1).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(n.load(Ordering::SeqCst), 1, "served while paused");
        w.resume();
        assert!(wait_for(&n, 2));
        w.remove(id).unwrap();
        fd.write(1).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(n.load(Ordering::SeqCst), 2, "served after removal");
    }
}
