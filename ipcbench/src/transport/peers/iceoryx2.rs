//! `iceoryx2-poll`, `iceoryx2-wait`: iceoryx2 publish/subscribe of `[u8]`
//! slices, one service per direction (ping: parent -> child, pong: child ->
//! parent), each with exactly one publisher and one subscriber.
//!
//! - `iceoryx2-poll` busy-polls `Subscriber::receive` with the pause hint and
//!   looks at the stop flag every 1024 polls.
//! - `iceoryx2-wait` pairs each pub/sub service with an event service, the
//!   pattern iceoryx2's examples use for waiting on new samples: the sender
//!   publishes, then calls `Notifier::notify`; the receiver tries `receive`
//!   and, when nothing is there, sleeps in `Listener::blocking_wait` (a unix
//!   datagram socket underneath; `notify` only writes to it when the listener
//!   has consumed the previous wakeup). EINTR from the watchdog surfaces as
//!   `ListenerWaitError::InterruptSignal`, which becomes `XferError::Stopped`.
//!   (A `WaitSet` would multiplex the same listener; with one source it only
//!   adds a layer.)
//!
//! The services never overflow (`enable_safe_overflow(false)`): a publisher
//! facing a full subscriber queue retries (`RetryUntilDelivered`) through a
//! backpressure handler that gives up once the stop flag is set, so a
//! throughput stream loses nothing and a stuck cell still ends.
//!
//! Names: every cell gets its own iceoryx2 `Config` whose file prefix is
//! `ipcbench-<pid>-<hash>_` and whose root directory is
//! `$TMPDIR/ipcbench-<pid>-<hash>/` (pid: the parent's, hash: of the cell's
//! `name_prefix`; see [`cell_key`]), so all of iceoryx2's files (shared memory
//! in /dev/shm, node and service records, event sockets under the root) start
//! with `ipcbench-<pid>-`. The
//! parent's endpoint removes them in `Drop` (after giving the child a moment
//! to leave), and `ipcbench clean` already removes such names in /dev/shm and
//! the temp dir once their pid is dead. The service names themselves
//! (`<name_prefix>/ping`, ...) only live inside that private root; the child
//! gets them as `Handoff::args` and rebuilds the same config from the prefix.
//! Both nodes are created with `SignalHandlingMode::Disabled`: SIGINT/SIGTERM
//! stay with ipcbench's own handlers.

use crate::stop::should_stop;
use crate::transport::{CellParams, Endpoint, Handoff, Transport, XferError};
use anyhow::{anyhow, bail, Context};
use iceoryx2::config::Config;
use iceoryx2::port::listener::{Listener, ListenerWaitError};
use iceoryx2::port::notifier::Notifier;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::port::{BackpressureAction, BackpressureInfo};
use iceoryx2::prelude::{
    ipc, BackpressureStrategy, FileName, Node, NodeBuilder, PortFactory, SemanticString,
    ServiceName, SignalHandlingMode,
};
use iceoryx2::service::port_factory::{event, publish_subscribe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

type Svc = ipc::Service;
type PubSub = publish_subscribe::PortFactory<Svc, [u8], ()>;

/// Largest message: each service preallocates about
/// `SUBSCRIBER_BUFFER + 3` samples of this size in /dev/shm.
const MAX_SIZE: usize = 4 << 20;
/// Samples a subscriber queues before the publisher has to retry.
const SUBSCRIBER_BUFFER: usize = 8;
/// How long the parent's `Drop` waits for the child to remove its own files.
const CHILD_LEAVE: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    /// Busy-poll `receive`.
    Poll,
    /// Sleep in `Listener::blocking_wait`, woken by the sender's notifier.
    Block,
}

/// One iceoryx2 variant.
pub(crate) struct Iceoryx2 {
    name: &'static str,
    wait: Wait,
}

pub(crate) static POLL: Iceoryx2 = Iceoryx2 {
    name: "iceoryx2-poll",
    wait: Wait::Poll,
};

pub(crate) static WAIT: Iceoryx2 = Iceoryx2 {
    name: "iceoryx2-wait",
    wait: Wait::Block,
};

/// The service names of one cell, in `Handoff::args` order.
struct Names {
    ping: String,
    pong: String,
    ping_event: String,
    pong_event: String,
}

impl Names {
    fn new(prefix: &str) -> Names {
        Names {
            ping: format!("{prefix}/ping"),
            pong: format!("{prefix}/pong"),
            ping_event: format!("{prefix}/ping-event"),
            pong_event: format!("{prefix}/pong-event"),
        }
    }

    fn into_args(self) -> Vec<String> {
        vec![self.ping, self.pong, self.ping_event, self.pong_event]
    }

    fn from_args(args: Vec<String>) -> anyhow::Result<Names> {
        let n = args.len();
        let [ping, pong, ping_event, pong_event]: [String; 4] = args
            .try_into()
            .map_err(|_| anyhow!("iceoryx2: expected 4 service names in the handoff, got {n}"))?;
        Ok(Names {
            ping,
            pong,
            ping_event,
            pong_event,
        })
    }
}

/// A short name for the cell's iceoryx2 files: `ipcbench-<pid>-<hash>`, the
/// pid being the parent's (from `name_prefix`) and the hash that of the whole
/// `name_prefix`. Short because iceoryx2 puts its event sockets under the root
/// directory, named with the prefix, and a unix socket path has 108 bytes.
fn cell_key(prefix: &str) -> String {
    use std::hash::{Hash, Hasher};
    // DefaultHasher::new() has fixed keys: both processes get the same hash.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    prefix.hash(&mut h);
    // A prefix without a pid (in-process tests: one process plays both
    // sides) takes ours, so that `ipcbench clean` still recognises the names.
    let pid = crate::clean::owner_pid(prefix).unwrap_or_else(|| std::process::id() as i32);
    format!("ipcbench-{pid}-{:08x}", h.finish() as u32)
}

/// The private iceoryx2 root directory of a cell.
fn root_dir(prefix: &str) -> PathBuf {
    std::env::temp_dir().join(cell_key(prefix))
}

/// The prefix of every file iceoryx2 creates for this cell.
fn file_prefix(prefix: &str) -> String {
    format!("{}_", cell_key(prefix))
}

/// A config that keeps all of this cell's files under its own names.
fn config(prefix: &str) -> anyhow::Result<Config> {
    let mut config = Config::default();
    config.global.prefix = FileName::new(file_prefix(prefix).as_bytes())
        .map_err(|e| anyhow!("iceoryx2: file prefix from {prefix:?}: {e:?}"))?;
    let root = format!("{}/", root_dir(prefix).display());
    let root = iceoryx2::prelude::Path::new(root.as_bytes())
        .map_err(|e| anyhow!("iceoryx2: root path {root:?}: {e:?}"))?;
    config.global.set_root_path(&root);
    Ok(config)
}

fn node(config: &Config) -> anyhow::Result<Node<Svc>> {
    NodeBuilder::new()
        .config(config)
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<Svc>()
        .map_err(|e| anyhow!("iceoryx2: create node: {e:?}"))
}

fn service_name(name: &str) -> anyhow::Result<ServiceName> {
    ServiceName::new(name).map_err(|e| anyhow!("iceoryx2: service name {name:?}: {e:?}"))
}

fn create_pubsub(node: &Node<Svc>, name: &str) -> anyhow::Result<PubSub> {
    node.service_builder(&service_name(name)?)
        .publish_subscribe::<[u8]>()
        .enable_safe_overflow(false)
        .history_size(0)
        .subscriber_max_buffer_size(SUBSCRIBER_BUFFER)
        .subscriber_max_borrowed_samples(1)
        .max_publishers(1)
        .max_subscribers(1)
        .max_nodes(2)
        .create()
        .map_err(|e| anyhow!("iceoryx2: create service {name:?}: {e:?}"))
}

fn open_pubsub(node: &Node<Svc>, name: &str) -> anyhow::Result<PubSub> {
    node.service_builder(&service_name(name)?)
        .publish_subscribe::<[u8]>()
        .enable_safe_overflow(false)
        .open()
        .map_err(|e| anyhow!("iceoryx2: open service {name:?}: {e:?}"))
}

fn create_event(node: &Node<Svc>, name: &str) -> anyhow::Result<event::PortFactory<Svc>> {
    node.service_builder(&service_name(name)?)
        .event()
        .max_notifiers(1)
        .max_listeners(1)
        .max_nodes(2)
        .create()
        .map_err(|e| anyhow!("iceoryx2: create event service {name:?}: {e:?}"))
}

fn open_event(node: &Node<Svc>, name: &str) -> anyhow::Result<event::PortFactory<Svc>> {
    node.service_builder(&service_name(name)?)
        .event()
        .open()
        .map_err(|e| anyhow!("iceoryx2: open event service {name:?}: {e:?}"))
}

/// Retry a full subscriber queue until delivered, unless the cell is over.
fn backpressure(_: &BackpressureInfo) -> BackpressureAction {
    if should_stop() {
        BackpressureAction::DiscardDataAndFail
    } else {
        BackpressureAction::Retry
    }
}

fn publisher(service: &PubSub, len: usize) -> anyhow::Result<Publisher<Svc, [u8], ()>> {
    service
        .publisher_builder()
        .initial_max_slice_len(len)
        .max_loaned_samples(1)
        .backpressure_strategy(BackpressureStrategy::RetryUntilDelivered)
        .set_backpressure_handler(backpressure)
        .create()
        .map_err(|e| anyhow!("iceoryx2: create publisher: {e:?}"))
}

fn subscriber(service: &PubSub) -> anyhow::Result<Subscriber<Svc, [u8], ()>> {
    service
        .subscriber_builder()
        .buffer_size(SUBSCRIBER_BUFFER)
        .create()
        .map_err(|e| anyhow!("iceoryx2: create subscriber: {e:?}"))
}

/// `iceoryx2-wait` only: wake the peer after publishing, sleep until woken.
struct Wakeup {
    notifier: Notifier<Svc>,
    listener: Listener<Svc>,
    /// The event service `notifier` belongs to.
    notify_service: event::PortFactory<Svc>,
    _listen_service: event::PortFactory<Svc>,
}

/// Removes the cell's iceoryx2 files: the parent's last act.
struct Leftovers {
    prefix: String,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        let shm_prefix = file_prefix(&self.prefix);
        let ours = || -> Vec<PathBuf> {
            std::fs::read_dir("/dev/shm")
                .map(|rd| {
                    rd.filter_map(Result::ok)
                        .filter(|e| e.file_name().to_string_lossy().starts_with(&shm_prefix))
                        .map(|e| e.path())
                        .collect()
                })
                .unwrap_or_default()
        };
        // A child that finished is dropping its node right now and removes
        // its own files; only a killed or stuck one leaves them to us.
        let deadline = Instant::now() + CHILD_LEAVE;
        while !ours().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        for path in ours() {
            let _ = std::fs::remove_file(path);
        }
        let _ = std::fs::remove_dir_all(root_dir(&self.prefix));
    }
}

/// One side. Field order is drop order: ports, then services, then the
/// node, then (parent only) the leftover sweep.
struct Ends {
    tx: Publisher<Svc, [u8], ()>,
    rx: Subscriber<Svc, [u8], ()>,
    wakeup: Option<Wakeup>,
    /// The service `tx` publishes on.
    tx_service: PubSub,
    /// The service `rx` subscribes to.
    rx_service: PubSub,
    _node: Node<Svc>,
    _leftovers: Option<Leftovers>,
    /// Whether both directions are connected. A publisher only delivers to
    /// subscribers that exist when it sends (no history here), and a
    /// subscriber that first looks after the peer's publisher is gone cannot
    /// connect to it and loses what it sent (a sink's FINAL, sent just before
    /// it exits). So the first send waits for the peer's subscriber (and
    /// listener) and publisher, and connects our subscriber at once.
    peer_ready: bool,
}

impl Ends {
    #[cold]
    fn wait_for_peer(&mut self) -> Result<(), XferError> {
        loop {
            let subscribed = self.tx_service.dynamic_config().number_of_subscribers() > 0;
            let publishing = self.rx_service.dynamic_config().number_of_publishers() > 0;
            let listening = self
                .wakeup
                .as_ref()
                .is_none_or(|w| w.notify_service.dynamic_config().number_of_listeners() > 0);
            if subscribed && publishing && listening {
                self.rx
                    .update_connections()
                    .map_err(|e| xfer_err("connect", e))?;
                self.peer_ready = true;
                return Ok(());
            }
            if should_stop() {
                return Err(XferError::Stopped);
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}

/// An iceoryx2 error: `Stopped` if the cell is over (the backpressure
/// handler fails sends then), else a protocol error with its text.
fn xfer_err(what: &str, e: impl std::fmt::Debug) -> XferError {
    if should_stop() {
        XferError::Stopped
    } else {
        XferError::Protocol(format!("iceoryx2: {what}: {e:?}"))
    }
}

impl Endpoint for Ends {
    fn send(&mut self, msg: &[u8]) -> Result<(), XferError> {
        if !self.peer_ready {
            self.wait_for_peer()?;
        }
        let sample = self
            .tx
            .loan_slice_uninit(msg.len())
            .map_err(|e| xfer_err("loan", e))?;
        sample
            .write_from_slice(msg)
            .send()
            .map_err(|e| xfer_err("send", e))?;
        if let Some(w) = &self.wakeup {
            w.notifier.notify().map_err(|e| xfer_err("notify", e))?;
        }
        Ok(())
    }

    fn recv_with(&mut self, len: usize, consume: &mut dyn FnMut(&[u8])) -> Result<(), XferError> {
        let mut polls: u32 = 0;
        loop {
            if let Some(sample) = self.rx.receive().map_err(|e| xfer_err("receive", e))? {
                let payload = sample.payload();
                if payload.len() != len {
                    return Err(XferError::Protocol(format!(
                        "message of {} bytes, expected {len}",
                        payload.len()
                    )));
                }
                consume(payload);
                return Ok(());
            }
            match &self.wakeup {
                None => {
                    std::hint::spin_loop();
                    polls = polls.wrapping_add(1);
                    if polls.is_multiple_of(1024) && should_stop() {
                        return Err(XferError::Stopped);
                    }
                }
                Some(w) => match w.listener.blocking_wait(|_| {}) {
                    Ok(_) | Err(ListenerWaitError::InterruptSignal) if should_stop() => {
                        return Err(XferError::Stopped)
                    }
                    Ok(_) | Err(ListenerWaitError::InterruptSignal) => {}
                    Err(e) => return Err(xfer_err("wait", e)),
                },
            }
        }
    }
}

impl Transport for Iceoryx2 {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        match self.wait {
            Wait::Poll => {
                "iceoryx2 0.10 pub/sub of [u8] per direction, receiver busy-polls receive()"
            }
            Wait::Block => {
                "iceoryx2 0.10 pub/sub of [u8] per direction, notifier/listener event wakeup"
            }
        }
    }

    fn max_size(&self) -> usize {
        MAX_SIZE
    }

    fn spins(&self) -> bool {
        self.wait == Wait::Poll
    }

    fn create(&self, p: &CellParams) -> anyhow::Result<(Box<dyn Endpoint>, Handoff)> {
        // Armed first: whatever fails below, the files made so far go.
        let leftovers = Leftovers {
            prefix: p.name_prefix.clone(),
        };
        let config = config(&p.name_prefix)?;
        let node = node(&config)?;
        let names = Names::new(&p.name_prefix);
        let ping = create_pubsub(&node, &names.ping)?;
        let pong = create_pubsub(&node, &names.pong)?;
        let wakeup = match self.wait {
            Wait::Poll => None,
            Wait::Block => {
                let ping_event = create_event(&node, &names.ping_event)?;
                let pong_event = create_event(&node, &names.pong_event)?;
                Some(Wakeup {
                    notifier: ping_event
                        .notifier_builder()
                        .create()
                        .map_err(|e| anyhow!("iceoryx2: create notifier: {e:?}"))?,
                    listener: pong_event
                        .listener_builder()
                        .create()
                        .map_err(|e| anyhow!("iceoryx2: create listener: {e:?}"))?,
                    notify_service: ping_event,
                    _listen_service: pong_event,
                })
            }
        };
        let ends = Ends {
            tx: publisher(&ping, p.buffer_len())?,
            rx: subscriber(&pong)?,
            wakeup,
            tx_service: ping,
            rx_service: pong,
            _node: node,
            _leftovers: Some(leftovers),
            peer_ready: false,
        };
        let handoff = Handoff {
            fds: vec![],
            args: names.into_args(),
        };
        Ok((Box::new(ends), handoff))
    }

    fn attach(&self, p: &CellParams, h: Handoff) -> anyhow::Result<Box<dyn Endpoint>> {
        if !h.fds.is_empty() {
            bail!("iceoryx2: {} unexpected inherited fds", h.fds.len());
        }
        let names = Names::from_args(h.args)?;
        let config = config(&p.name_prefix)?;
        let node = node(&config).context("child")?;
        let ping = open_pubsub(&node, &names.ping)?;
        let pong = open_pubsub(&node, &names.pong)?;
        let wakeup = match self.wait {
            Wait::Poll => None,
            Wait::Block => {
                let ping_event = open_event(&node, &names.ping_event)?;
                let pong_event = open_event(&node, &names.pong_event)?;
                Some(Wakeup {
                    notifier: pong_event
                        .notifier_builder()
                        .create()
                        .map_err(|e| anyhow!("iceoryx2: create notifier: {e:?}"))?,
                    listener: ping_event
                        .listener_builder()
                        .create()
                        .map_err(|e| anyhow!("iceoryx2: create listener: {e:?}"))?,
                    notify_service: pong_event,
                    _listen_service: ping_event,
                })
            }
        };
        Ok(Box::new(Ends {
            tx: publisher(&pong, p.buffer_len())?,
            rx: subscriber(&ping)?,
            wakeup,
            tx_service: pong,
            rx_service: ping,
            _node: node,
            _leftovers: None,
            peer_ready: false,
        }))
    }
}
