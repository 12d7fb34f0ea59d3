//! Moving the listener along: accepting new clients within the limits,
//! stepping the handshakes whose sockets are ready, dropping the ones past
//! their deadline, and pausing when descriptors run out.

use super::handshake::{Client, LocalPeer, PeerKey, Pending};
use super::{resources, Listener, State, FIRST_CLIENT, KEY_TCP, KEY_TIMER, KEY_UNIX};
use crate::conn::error::AcceptError;
use crate::conn::io::write_all;
use crate::conn::wire::{ServerHello, Status};
use crate::error::OsError;
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::io::Errno;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// The first pause after running out of descriptors with none in reserve;
/// it doubles up to [`LONGEST_PAUSE`] while that lasts.
pub(super) const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// Events taken per step.
const EVENTS: usize = 64;

/// Which listening socket. Each has its own [`max_handshakes`] in flight,
/// so that clients of one (a TCP flood from many addresses) never hold back
/// the other's (local clients).
///
/// [`max_handshakes`]: crate::ConnConfig::max_handshakes
#[derive(Clone, Copy, PartialEq, Eq)]
enum Door {
    Unix,
    Tcp,
}

impl Door {
    const BOTH: [Door; 2] = [Door::Unix, Door::Tcp];

    fn of(pending: &Pending) -> Door {
        match pending.client {
            Client::Local(..) => Door::Unix,
            _ => Door::Tcp,
        }
    }
}

impl Listener {
    /// Moves everything that can move now, without waiting.
    pub(super) fn drive(&self, state: &mut State) {
        let mut events: Vec<epoll::Event> = Vec::with_capacity(EVENTS);
        let zero = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        if epoll::wait(
            &self.epoll,
            rustix::buffer::spare_capacity(&mut events),
            Some(&zero),
        )
        .is_err()
        {
            events.clear();
        }
        for event in &events {
            match event.data.u64() {
                KEY_UNIX => self.accept_new(state, Door::Unix),
                KEY_TCP => self.accept_new(state, Door::Tcp),
                KEY_TIMER => {
                    let mut ticks = [0u8; 8];
                    let _ = rustix::io::read(&self.timer, &mut ticks);
                }
                key if key >= FIRST_CLIENT => self.advance(state, key),
                _ => {} // the ready flag: nothing to do
            }
        }
        self.drop_expired(state);
        if state.paused_until.is_some_and(|at| Instant::now() >= at) {
            state.paused_until = None;
            if state.spare.is_none() {
                state.spare = resources::spare();
            }
        }
        for (door, listening) in Door::BOTH.into_iter().zip(0..) {
            let listen = self.has_room(state, door);
            if listen != state.listening[listening] {
                self.listen(door, listen);
                state.listening[listening] = listen;
            }
        }
        self.arm_timer(state);
    }

    /// Whether `door` may take a new client: not paused, below its handshake
    /// limit, and with fewer finished clients waiting to be taken than that
    /// (clients turned away at once, a flood of them, would otherwise pile up
    /// without bound between two accepts).
    fn has_room(&self, state: &State, door: Door) -> bool {
        let max = self.policy.config.max_handshakes;
        let in_flight = state.pending.values().filter(|p| Door::of(p) == door);
        state.paused_until.is_none() && state.done.len() < max && in_flight.count() < max
    }

    /// Adds or removes a listening socket from the epoll set's interest
    /// (while at its handshake limit or paused, waiting clients stay in the
    /// backlog, and a readable listening socket must not keep waking us).
    fn listen(&self, door: Door, on: bool) {
        let flags = if on {
            EventFlags::IN
        } else {
            EventFlags::empty()
        };
        let _ = match (door, &self.tcp) {
            (Door::Unix, _) => epoll::modify(
                &self.epoll,
                &self.bound.socket,
                EventData::new_u64(KEY_UNIX),
                flags,
            ),
            (Door::Tcp, Some(tcp)) => {
                epoll::modify(&self.epoll, tcp, EventData::new_u64(KEY_TCP), flags)
            }
            (Door::Tcp, None) => Ok(()),
        };
    }

    /// Arms the timer for the earliest deadline or the end of a pause.
    fn arm_timer(&self, state: &State) {
        let earliest = state
            .pending
            .values()
            .map(|p| p.deadline)
            .chain(state.paused_until)
            .min();
        let zero = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let value = match earliest {
            // One nanosecond: a zero value would disarm instead of firing.
            Some(at) => {
                let left = at
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_nanos(1));
                rustix::time::Timespec {
                    tv_sec: left.as_secs() as i64,
                    tv_nsec: i64::from(left.subsec_nanos()),
                }
            }
            None => zero,
        };
        let _ = rustix::time::timerfd_settime(
            &self.timer,
            rustix::time::TimerfdTimerFlags::empty(),
            &rustix::time::Itimerspec {
                it_interval: zero,
                it_value: value,
            },
        );
    }

    /// Accepts waiting clients while below the door's handshake limit.
    fn accept_new(&self, state: &mut State, door: Door) {
        while self.has_room(state, door) {
            let accepted = match door {
                Door::Unix => self.bound.socket.accept().map(|(s, _)| self.local(s)),
                Door::Tcp => match &self.tcp {
                    Some(tcp) => tcp.accept().map(|(s, addr)| self.tcp_client(s, addr)),
                    None => return,
                },
            };
            match accepted {
                Ok(Ok(client)) => {
                    state.pause = FIRST_PAUSE;
                    self.admit(state, client);
                }
                Ok(Err(refused)) => state.done.push_back(Err(refused)),
                Err(e) => match Errno::from_io_error(&e) {
                    Some(Errno::AGAIN) => return,
                    Some(Errno::INTR | Errno::CONNABORTED) => {}
                    Some(Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM) => {
                        return self.out_of_descriptors(state, door)
                    }
                    _ => {
                        let op = match door {
                            Door::Unix => "accept",
                            Door::Tcp => "accept (TCP)",
                        };
                        return state
                            .done
                            .push_back(Err(AcceptError::Os(OsError::new(op, e))));
                    }
                },
            }
        }
    }

    /// A local client, by its peer credentials; refused (and told so) when
    /// its user is not allowed.
    fn local(&self, stream: std::os::unix::net::UnixStream) -> Result<Client, AcceptError> {
        let cred = rustix::net::sockopt::socket_peercred(&stream)
            .map_err(|e| AcceptError::Os(OsError::new("SO_PEERCRED", e)))?;
        let (pid, uid, gid) = (
            cred.pid.as_raw_nonzero().get() as u32,
            cred.uid.as_raw(),
            cred.gid.as_raw(),
        );
        if !self.policy.allowed(uid, gid) {
            let mut refusal = ServerHello::bare(Status::Refused);
            refusal.detail = uid;
            let _ = stream.set_nonblocking(true);
            let _ = write_all(&stream, &refusal.encode());
            return Err(AcceptError::Refused { uid, gid, pid });
        }
        let pidfd = resources::peer_pidfd(&stream, pid);
        Ok(Client::Local(stream, LocalPeer { pid, uid, pidfd }))
    }

    /// A TCP client: under TLS when the address speaks it.
    fn tcp_client(
        &self,
        stream: std::net::TcpStream,
        addr: std::net::SocketAddr,
    ) -> Result<Client, AcceptError> {
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.policy.tls {
            return super::tls_client::TlsClient::new(stream, addr, tls)
                .map(|c| Client::Tls(Box::new(c)));
        }
        Ok(Client::Tcp(stream, addr))
    }

    /// Starts a client's handshake, or turns it away when its user or
    /// address is over the per-peer limit.
    fn admit(&self, state: &mut State, client: Client) {
        let (key, label) = match &client {
            Client::Local(_, peer) => (
                PeerKey::Uid(peer.uid),
                format!("local pid {} (uid {})", peer.pid, peer.uid),
            ),
            Client::Tcp(_, addr) => (PeerKey::tcp(addr.ip()), format!("TCP {addr}")),
            #[cfg(feature = "tls")]
            Client::Tls(c) => (PeerKey::tcp(c.addr.ip()), format!("TLS {}", c.addr)),
        };
        let pending = Pending::new(
            client,
            key,
            label,
            Instant::now() + self.policy.config.handshake_timeout,
        );
        let os = |op, e: std::io::Error| AcceptError::Os(OsError::new(op, e));
        if let Err(e) = rustix::io::ioctl_fionbio(pending.socket(), true) {
            return state.done.push_back(Err(os("fcntl", e.into())));
        }
        let in_flight = state.per_peer.get(&key).copied().unwrap_or(0);
        // The listener's own user is bound by the overall limit only: its
        // processes can do worse to the listener than hold handshakes.
        let own = key == PeerKey::Uid(self.policy.uid);
        if !own && in_flight >= self.policy.config.max_handshakes_per_peer {
            // A TLS client could not read a plaintext answer: it sees the close.
            if matches!(pending.client, Client::Local(..) | Client::Tcp(..)) {
                let _ = write_all(pending.socket(), &ServerHello::bare(Status::Busy).encode());
            }
            return state.done.push_back(Err(AcceptError::Busy {
                peer: pending.label,
                in_flight,
            }));
        }
        let id = state.next_key;
        if let Err(e) = epoll::add(
            &self.epoll,
            pending.socket(),
            EventData::new_u64(id),
            EventFlags::IN,
        ) {
            return state.done.push_back(Err(os("epoll_ctl", e.into())));
        }
        state.next_key += 1;
        *state.per_peer.entry(key).or_insert(0) += 1;
        state.pending.insert(id, pending);
        // The hello may be there already.
        self.advance(state, id);
    }

    /// Steps one handshake whose socket is ready.
    fn advance(&self, state: &mut State, id: u64) {
        let Some(pending) = state.pending.get_mut(&id) else {
            return;
        };
        if let Some(result) = pending.advance(&self.policy, &mut state.spinning) {
            self.finish(state, id);
            state.done.push_back(result);
        } else {
            #[cfg(feature = "tls")]
            self.arm_tls(id, pending);
        }
    }

    /// A TLS session whose records wait for room waits for the socket to be
    /// writable too, and only then.
    #[cfg(feature = "tls")]
    fn arm_tls(&self, id: u64, pending: &mut Pending) {
        if let Client::Tls(c) = &mut pending.client {
            let want = c.wants_write();
            if want != c.out_armed {
                let flags = if want {
                    EventFlags::IN | EventFlags::OUT
                } else {
                    EventFlags::IN
                };
                let _ = epoll::modify(&self.epoll, &c.tcp, EventData::new_u64(id), flags);
                c.out_armed = want;
            }
        }
    }

    /// Forgets a handshake: out of the epoll set (before its socket closes:
    /// a connection may hold a duplicate of it), out of the counts.
    fn finish(&self, state: &mut State, id: u64) {
        if let Some(pending) = state.pending.remove(&id) {
            let _ = epoll::delete(&self.epoll, pending.socket());
            if let Some(n) = state.per_peer.get_mut(&pending.key) {
                *n -= 1;
                if *n == 0 {
                    state.per_peer.remove(&pending.key);
                }
            }
        }
    }

    /// Drops the handshakes past their deadline, each reported once.
    fn drop_expired(&self, state: &mut State) {
        let now = Instant::now();
        let expired: Vec<u64> = state
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            if let Some(pending) = state.pending.get(&id) {
                let error = pending.expired(self.policy.config.handshake_timeout);
                state.done.push_back(Err(error));
            }
            self.finish(state, id);
        }
    }

    /// The process is out of descriptors: with one in reserve, accept one
    /// client to tell it so; without, pause accepting for a while (the
    /// listening socket stays readable, so retrying at once would spin).
    fn out_of_descriptors(&self, state: &mut State, door: Door) {
        let limit = resources::fd_limit();
        if let Some(spare) = state.spare.take() {
            drop(spare);
            let turned_away = match door {
                Door::Unix => self.bound.socket.accept().map(|(s, _)| {
                    turn_away(&s);
                    "a local client".to_owned()
                }),
                Door::Tcp => match &self.tcp {
                    Some(tcp) => tcp.accept().map(|(s, addr)| {
                        turn_away(&s);
                        format!("TCP {addr}")
                    }),
                    None => return,
                },
            };
            state.spare = resources::spare();
            if let Ok(who) = turned_away {
                state.done.push_back(Err(AcceptError::OutOfResources {
                    what: format!(
                        "no file descriptor left for a new client (limit {limit}); turned {who} away"
                    ),
                }));
                if state.spare.is_some() {
                    return;
                }
            }
        }
        let pause = state.pause;
        state.pause = (pause * 2).min(LONGEST_PAUSE);
        state.paused_until = Some(Instant::now() + pause);
        state.done.push_back(Err(AcceptError::OutOfResources {
            what: format!(
                "no file descriptor left (limit {limit}), none in reserve to turn clients away; \
                 accepting pauses for {pause:?}"
            ),
        }));
    }
}

/// Tells a client the listener is out of resources (it then closes).
fn turn_away(socket: impl AsFd) {
    let _ = rustix::io::ioctl_fionbio(&socket, true);
    let _ = write_all(&socket, &ServerHello::bare(Status::OutOfResources).encode());
}
