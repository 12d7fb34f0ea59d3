//! Shared regions: the mapping a ring lives in, how it is created, found and passed.
//!
//! * **Anonymous** ([`Region::create_anonymous`]): a sealed memfd. A child process
//!   inherits it ([`Region::handoff`]) or it is sent over a UNIX socket
//!   ([`Region::send_over`] / [`Region::recv_from`]).
//! * **Named** ([`Region::create_named`], [`Region::create_at_path`]): a POSIX
//!   shared-memory object or a file that an unrelated process opens by name.
//!   Created exclusively with mode 0600, unlinked when the creating side is dropped
//!   (configurable); an existing object of the same name is an error, never reused.

mod handoff;
mod numa;
pub(crate) mod os;
mod sole;

pub use handoff::Handoff;

use crate::config::{Config, WakeupKind};
use crate::endpoint::{Consumer, Link, LinkParts, Producer};
use crate::error::{AttachError, CreateError, OpenError, RemoveError, Side};
use crate::layout::{Geometry, Validated};
use crate::platform::{process_alive, Doorbells, RingStorage};
use crate::ring::control::{SideMeta, ATTACHED, CLOSED, FREE};
use crate::ring::Shared;
use memmap2::MmapRaw;
use os::Name;
use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// A mapped region holding one ring. Cheap to clone; the mapping lives until the
/// last clone and endpoint are dropped.
#[derive(Clone)]
pub struct Region {
    pub(crate) inner: Arc<RegionInner>,
}

pub(crate) struct RegionInner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) file: File,
    name: Option<Name>,
    unlink_on_drop: bool,
    pub(crate) wakeup: WakeupKind,
    pub(crate) spin_budget: Duration,
    pub(crate) liveness_interval: Duration,
    creator_pid: u32,
    /// Address and length of the whole mapping (kept alive by `shared`),
    /// for its memory policy.
    map_addr: usize,
    map_len: usize,
}

impl Drop for RegionInner {
    fn drop(&mut self) {
        if self.unlink_on_drop {
            if let Some(name) = &self.name {
                // Only our own object: after a `replace_existing` the name may
                // belong to a newer region. Already gone is fine.
                if name.refers_to(&self.file) {
                    let _ = name.unlink();
                }
            }
        }
    }
}

impl std::fmt::Debug for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Region")
            .field("name", &self.inner.name.as_ref().map(Name::display))
            .field("capacity", &self.capacity())
            .field("max_message", &self.max_message())
            .field("wakeup", &self.inner.wakeup)
            .field("creator_pid", &self.inner.creator_pid)
            .finish()
    }
}

impl Region {
    /// Creates an anonymous region (a sealed memfd) for a ring. Another process
    /// gets it by inheriting it ([`Region::handoff`]) or over a UNIX socket
    /// ([`Region::send_over`]).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use mempipe::{Config, Region};
    /// let region = Region::create_anonymous(&Config::new().capacity(64 << 10))?;
    /// let (mut tx, mut rx) = (region.producer()?, region.consumer()?);
    /// tx.send(b"ping")?;
    /// let mut buf = Vec::new();
    /// rx.recv(&mut buf)?;
    /// assert_eq!(buf, b"ping");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`CreateError::InvalidConfig`] for a capacity or maximum message the
    /// ring cannot have; [`CreateError::Os`] if `memfd_create`, `ftruncate`,
    /// sealing, `mmap` or (for eventfd wakeups) `socketpair` fails.
    pub fn create_anonymous(config: &Config) -> Result<Region, CreateError> {
        let geometry = config.validate()?;
        let file = os::memfd(&geometry)?;
        Self::init(file, None, geometry, config)
    }

    /// Creates a region under a POSIX shared-memory name (`"/name"` or `"name"`),
    /// exclusively, mode 0600. Its memory is reserved now, so a full `/dev/shm`
    /// is an error here, not a SIGBUS later.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use mempipe::{Config, Region};
    /// let name = format!("/mempipe-doc-{}", std::process::id());
    /// let region = Region::create_named(&name, &Config::new().capacity(64 << 10))?;
    /// // An unrelated process opens it by name:
    /// let opened = Region::open_named(&name)?;
    /// assert_eq!(opened.capacity(), region.capacity());
    /// # Ok(()) } // dropping `region` unlinks the name
    /// ```
    ///
    /// # Errors
    /// [`CreateError::InvalidName`] for a name that is not a shared-memory name;
    /// [`CreateError::InvalidConfig`] for a capacity or maximum message the ring
    /// cannot have, or eventfd wakeups ([`ConfigError::EventFdNeedsDescriptors`](crate::ConfigError::EventFdNeedsDescriptors));
    /// [`CreateError::AlreadyExists`] if the name is taken (unless
    /// [`Config::replace_existing`]); [`CreateError::NoSpace`] if the
    /// filesystem cannot hold the region; [`CreateError::Os`] if creating,
    /// sizing, reserving or mapping the object fails (for example, no permission).
    pub fn create_named(name: &str, config: &Config) -> Result<Region, CreateError> {
        Self::create_by_name(Name::shm(name)?, config)
    }

    /// Creates a region as a file at `path` (for example on a tmpfs), exclusively, mode 0600.
    ///
    /// # Errors
    /// As [`Region::create_named`], except that any path is a valid name:
    /// [`CreateError::InvalidConfig`], [`CreateError::AlreadyExists`],
    /// [`CreateError::NoSpace`], [`CreateError::Os`].
    pub fn create_at_path(path: impl AsRef<Path>, config: &Config) -> Result<Region, CreateError> {
        Self::create_by_name(Name::Path(path.as_ref().to_owned()), config)
    }

    fn create_by_name(name: Name, config: &Config) -> Result<Region, CreateError> {
        let geometry = config.validate()?;
        if config.wakeup == WakeupKind::EventFd {
            return Err(crate::error::ConfigError::EventFdNeedsDescriptors.into());
        }
        let fd = match name.create_exclusive() {
            Ok(fd) => fd,
            Err(rustix::io::Errno::EXIST) if config.replace_existing => {
                let _ = name.unlink();
                name.create_exclusive().map_err(os::os("create"))?
            }
            Err(rustix::io::Errno::EXIST) => {
                let creator_pid = os::peek_creator(&name);
                return Err(CreateError::AlreadyExists {
                    name: name.display(),
                    creator_pid,
                    creator_alive: creator_pid.map(process_alive),
                });
            }
            Err(e) => return Err(os::os("create")(e).into()),
        };
        // From here on a failure must not leave the half-made object behind.
        let unlink_guard = UnlinkOnError(Some(name.clone()));
        let file = match config.numa_node {
            // The reservation allocates the pages now, before any mapping
            // could carry a policy: place them through this thread's.
            Some(node) => {
                numa::with_thread_preferring(node, || os::size_named(fd, &name, &geometry))
                    .map_err(os::os("set_mempolicy"))??
            }
            None => os::size_named(fd, &name, &geometry)?,
        };
        let region = Self::init(file, Some(name), geometry, config)?;
        std::mem::forget(unlink_guard);
        Ok(region)
    }

    fn init(
        file: File,
        name: Option<Name>,
        geometry: Geometry,
        config: &Config,
    ) -> Result<Region, CreateError> {
        let map = os::map(&file, geometry.total_len())?;
        if let Some(node) = config.numa_node {
            // SAFETY: the whole of our fresh, page-aligned mapping.
            unsafe { numa::prefer_node(map.as_mut_ptr(), map.len(), node) }
                .map_err(os::os("mbind"))?;
        }
        os::write_header(&map, &geometry, config);
        // Wake descriptors for eventfd wakeups, and for every anonymous region
        // that can sleep, so that an event loop can wait on its futex or hybrid
        // ring too (they travel with the region; a named region has no way to
        // pass them).
        let pollable = config.wakeup == WakeupKind::EventFd
            || (name.is_none() && config.wakeup != WakeupKind::Spin);
        let doorbell = if pollable {
            Some(Doorbells::new().map_err(|e| crate::error::OsError::new("socketpair", e))?)
        } else {
            None
        };
        let validated = Validated {
            geometry,
            wakeup: config.wakeup,
            creator_pid: rustix::process::getpid().as_raw_nonzero().get() as u32,
            spin_budget_ns: config.spin_budget.as_nanos() as u64,
            liveness_interval_ns: config.liveness_interval.as_nanos() as u64,
        };
        Ok(Self::assemble(
            map,
            file,
            doorbell,
            name,
            config.unlink_on_drop,
            validated,
        ))
    }

    fn assemble(
        map: MmapRaw,
        file: File,
        doorbells: Option<Doorbells>,
        name: Option<Name>,
        unlink_on_drop: bool,
        v: Validated,
    ) -> Region {
        let base = NonNull::new(map.as_mut_ptr()).expect("mmap never returns null");
        let (map_addr, map_len) = (base.as_ptr() as usize, map.len());
        // SAFETY: the mapping is page aligned, `total_len` bytes long (created so, or
        // checked against the file's size by `validate`), and moved into the owner;
        // its control block is all atomics, valid for any bytes.
        let storage = unsafe { RingStorage::in_mapping(base, v.geometry, Box::new(map)) };
        let shared = Shared::new(storage, doorbells);
        Region {
            inner: Arc::new(RegionInner {
                shared: Arc::new(shared),
                file,
                name,
                unlink_on_drop,
                wakeup: v.wakeup,
                spin_budget: Duration::from_nanos(v.spin_budget_ns),
                liveness_interval: Duration::from_nanos(v.liveness_interval_ns.max(1_000_000)),
                creator_pid: v.creator_pid,
                map_addr,
                map_len,
            }),
        }
    }

    /// Opens a region created under a POSIX shared-memory name, checking its
    /// header against the object before anything is trusted. For an example,
    /// see [`Region::create_named`].
    ///
    /// # Errors
    /// [`OpenError::InvalidName`] for a name that is not a shared-memory name;
    /// [`OpenError::NotFound`] if no object has that name;
    /// [`OpenError::NotReady`] while its creator is still writing the header;
    /// [`OpenError::NeverInitialised`] when it never will (its creator died
    /// first, or the object is zero-filled and not new);
    /// [`OpenError::NotMempipe`] for an object that is not a mempipe region
    /// (wrong file type, size or magic); [`OpenError::VersionMismatch`],
    /// [`OpenError::SizeMismatch`], [`OpenError::BadHeader`] for a header that
    /// does not describe this object; [`OpenError::NeedsDescriptors`] for a
    /// region with eventfd wakeups; [`OpenError::Os`] if `shm_open`, `fstat`
    /// or `mmap` fails (for example, no permission).
    pub fn open_named(name: &str) -> Result<Region, OpenError> {
        Self::open_by_name(Name::shm(name)?)
    }

    /// Opens a region created as a file at `path`.
    ///
    /// # Errors
    /// As [`Region::open_named`], except that any path is a valid name:
    /// [`OpenError::NotFound`], [`OpenError::NotReady`], [`OpenError::NeverInitialised`],
    /// [`OpenError::NotMempipe`],
    /// [`OpenError::VersionMismatch`], [`OpenError::SizeMismatch`],
    /// [`OpenError::BadHeader`], [`OpenError::NeedsDescriptors`], [`OpenError::Os`].
    pub fn open_at_path(path: impl AsRef<Path>) -> Result<Region, OpenError> {
        Self::open_by_name(Name::Path(path.as_ref().to_owned()))
    }

    fn open_by_name(name: Name) -> Result<Region, OpenError> {
        let fd = name.open_existing(true).map_err(|e| match e {
            rustix::io::Errno::NOENT => OpenError::NotFound {
                name: name.display(),
            },
            e => os::os("open")(e).into(),
        })?;
        let file = File::from(fd);
        let (map, v) = os::map_existing(&file, false)?;
        if v.wakeup == WakeupKind::EventFd {
            return Err(OpenError::NeedsDescriptors);
        }
        Ok(Self::assemble(map, file, None, Some(name), false, v))
    }

    /// Builds a region from descriptors received from its creator: the memfd
    /// and the two wake descriptors (in [`Handoff::into_fds`] order), which
    /// eventfd wakeups need and futex and hybrid ones use for waits in an
    /// event loop (tokio, epoll).
    ///
    /// # Errors
    /// [`OpenError::Unsealed`] if the memory is not a memfd sealed against
    /// shrinking, growing and further seals (checked before it is mapped, so a
    /// sender cannot truncate it under this side); [`OpenError::NeverInitialised`]
    /// for a region whose header was never written, [`OpenError::NotMempipe`], [`OpenError::VersionMismatch`],
    /// [`OpenError::SizeMismatch`], [`OpenError::BadHeader`] as for
    /// [`Region::open_named`]; [`OpenError::NeedsDescriptors`] for an eventfd
    /// region without its wake descriptors, [`OpenError::NotMempipe`] if those
    /// are not what a region's creator makes; [`OpenError::Os`] if reading the
    /// seals, `fstat` or `mmap` fails.
    pub fn from_fds(memory: OwnedFd, eventfds: Option<[OwnedFd; 2]>) -> Result<Region, OpenError> {
        let file = File::from(memory);
        os::check_sealed(&file)?;
        let (map, v) = os::map_existing(&file, true)?;
        let doorbell = match (v.wakeup, eventfds) {
            (WakeupKind::EventFd, None) => return Err(OpenError::NeedsDescriptors),
            (WakeupKind::Spin, _) | (_, None) => None,
            (_, Some(fds)) => {
                for fd in &fds {
                    handoff::check_doorbell(fd.as_fd())?;
                }
                Some(Doorbells::from_fds(fds))
            }
        };
        Ok(Self::assemble(map, file, doorbell, None, false, v))
    }

    /// Removes a named region left behind (for example by a process that was
    /// killed). Returns whether there was one.
    ///
    /// # Errors
    /// [`RemoveError::InvalidName`] for a name that is not a shared-memory name;
    /// [`RemoveError::Os`] if unlinking fails (for example, no permission).
    pub fn remove(name: &str) -> Result<bool, RemoveError> {
        match Name::shm(name)?.unlink() {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(os::os("shm_unlink")(e).into()),
        }
    }

    /// Removes the named region `name` only if it is a stale leftover: a mempipe
    /// region whose creator process (the pid in its header) no longer runs, for
    /// example because it was killed before it could unlink the name. Returns
    /// whether it removed one. A region whose creator still runs, an object that
    /// is not (yet) a mempipe region, or a missing name is left alone (`Ok(false)`).
    ///
    /// The header is read from an open descriptor and the name is unlinked only
    /// while it still refers to that same object, so a region created anew under
    /// the name in the meantime is not removed (a small window remains between
    /// that check and the unlink). A recycled pid makes a stale region look
    /// alive: it is then kept, never the other way round.
    ///
    /// # Errors
    /// [`RemoveError::InvalidName`] for a name that is not a shared-memory name;
    /// [`RemoveError::Os`] if opening or unlinking the object fails (for
    /// example, no permission).
    pub fn remove_if_stale(name: &str) -> Result<bool, RemoveError> {
        let parsed = Name::shm(name)?;
        let file = match parsed.open_existing(false) {
            Ok(fd) => File::from(fd),
            Err(rustix::io::Errno::NOENT) => return Ok(false),
            Err(e) => return Err(os::os("shm_open")(e).into()),
        };
        // Shorter than a header, not (yet) a mempipe region, or a live creator: keep it.
        let Some(creator) = os::peek_header(&file).and_then(|h| h.creator()) else {
            return Ok(false);
        };
        if process_alive(creator) || !parsed.refers_to(&file) {
            return Ok(false);
        }
        match parsed.unlink() {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::NOENT) => Ok(false),
            Err(e) => Err(os::os("shm_unlink")(e).into()),
        }
    }

    /// Claims the producer end of the ring: once per ring, by one process.
    /// For an example, see [`Region::create_anonymous`].
    ///
    /// # Errors
    /// [`AttachError::AlreadyClaimed`] if a process holds the end (it says
    /// whether that process still runs); [`AttachError::AlreadyClosed`] if the
    /// end was used and dropped; [`AttachError::Corrupted`] if the ring's shared
    /// state is not that of a fresh ring.
    pub fn producer(&self) -> Result<Producer, AttachError> {
        claim(&self.inner.shared.control().producer, Side::Producer)?;
        Producer::new(self.link(Side::Producer)).map_err(AttachError::Corrupted)
    }

    /// Claims the consumer end of the ring: once per ring, by one process.
    /// For an example, see [`Region::create_anonymous`].
    ///
    /// # Errors
    /// [`AttachError::AlreadyClaimed`], [`AttachError::AlreadyClosed`],
    /// [`AttachError::Corrupted`], as for [`Region::producer`].
    pub fn consumer(&self) -> Result<Consumer, AttachError> {
        claim(&self.inner.shared.control().consumer, Side::Consumer)?;
        self.place_near_consumer();
        Consumer::new(self.link(Side::Consumer)).map_err(AttachError::Corrupted)
    }

    /// Unless the region's pages have a node already ([`Config::numa_node`]),
    /// the pages not touched yet go to this thread's node: the consumer's.
    /// A hint: where the kernel cannot say or refuses, nothing changes.
    fn place_near_consumer(&self) {
        let addr = self.inner.map_addr as *mut u8;
        // SAFETY: `addr` is the start of our mapping, alive as long as `self`.
        let policy = unsafe { numa::preferred_node(addr) };
        if let (Ok(None), Some(node)) = (policy, numa::current_node()) {
            // SAFETY: the whole mapping, page aligned; only its policy changes.
            let _ = unsafe { numa::prefer_node(addr, self.inner.map_len, node) };
        }
    }

    /// How many pages of the ring's data lie on each NUMA node, as `(node,
    /// pages)` sorted by node. Pages not touched yet are not counted; empty
    /// where the kernel does not say (no NUMA support).
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use mempipe::{Config, Region};
    /// let region = Region::create_anonymous(&Config::new().capacity(64 << 10))?;
    /// let (mut tx, mut rx) = (region.producer()?, region.consumer()?);
    /// tx.send(b"ping")?;
    /// rx.recv(&mut Vec::new())?;
    /// let pages: usize = region.numa_pages().iter().map(|(_, n)| n).sum();
    /// assert!(pages <= 16);
    /// # Ok(()) }
    /// ```
    pub fn numa_pages(&self) -> Vec<(u32, usize)> {
        // SAFETY: sysconf has no preconditions.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096);
        let data = self.inner.map_addr + crate::layout::DATA_OFFSET;
        let len = self.inner.map_len - crate::layout::DATA_OFFSET;
        // SAFETY: the data area of our mapping (DATA_OFFSET is page aligned),
        // alive as long as `self`; move_pages only reports.
        unsafe { numa::pages_per_node(data as *mut u8, len, page) }
    }

    /// The link of an endpoint on `side`, which keeps the region alive.
    fn link(&self, side: Side) -> Link {
        let inner = &self.inner;
        Link::new(
            LinkParts {
                shared: inner.shared.clone(),
                keep_alive: Some(inner.clone()),
                wakeup: inner.wakeup,
                spin_budget: inner.spin_budget,
                liveness_interval: inner.liveness_interval,
            },
            side,
        )
    }

    /// Ring data capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.inner.shared.geometry.capacity as usize
    }

    /// Largest message the ring carries.
    pub fn max_message(&self) -> usize {
        self.inner.shared.geometry.max_message as usize
    }

    /// The wakeup strategy recorded in the header.
    pub fn wakeup(&self) -> WakeupKind {
        self.inner.wakeup
    }

    /// Pid of the process that created the region (as its header says).
    pub fn creator_pid(&self) -> u32 {
        self.inner.creator_pid
    }

    /// The name or path, for named regions.
    pub fn name(&self) -> Option<String> {
        self.inner.name.as_ref().map(Name::display)
    }

    /// The descriptor of the shared memory.
    pub fn memory_fd(&self) -> BorrowedFd<'_> {
        self.inner.file.as_fd()
    }
}

/// Claims one end: the first process to swap its pid in wins.
fn claim(meta: &SideMeta, side: Side) -> Result<(), AttachError> {
    let me = rustix::process::getpid().as_raw_nonzero().get() as u32;
    match meta
        .pid
        .compare_exchange(0, me, Ordering::AcqRel, Ordering::Acquire)
    {
        Ok(_) => {
            if meta
                .state
                .compare_exchange(FREE, ATTACHED, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                return Err(AttachError::AlreadyClosed { side });
            }
            Ok(())
        }
        Err(_) if meta.state.load(Ordering::Acquire) == CLOSED => {
            Err(AttachError::AlreadyClosed { side })
        }
        Err(pid) => Err(AttachError::AlreadyClaimed {
            side,
            pid,
            holder_alive: process_alive(pid),
        }),
    }
}

/// Unlinks a half-created named object if creation fails part-way.
struct UnlinkOnError(Option<Name>);

impl Drop for UnlinkOnError {
    fn drop(&mut self) {
        if let Some(name) = self.0.take() {
            let _ = name.unlink();
        }
    }
}
