//! Creating, opening and mapping the shared-memory objects.

use crate::config::Config;
use crate::error::{CreateError, NameError, OpenError, OsError};
use crate::layout::{self, Geometry, StaticHeader, DATA_OFFSET, MAX_CAPACITY};
use memmap2::{MmapOptions, MmapRaw};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Where a named region lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Name {
    /// A POSIX shared-memory name, with its leading slash.
    Shm(String),
    /// A file path (for example on a tmpfs or hugetlbfs mount).
    Path(std::path::PathBuf),
}

impl Name {
    pub(crate) fn shm(name: &str) -> Result<Name, NameError> {
        let refuse = |why: &str| NameError {
            name: name.to_owned(),
            why: why.to_owned(),
        };
        let bare = name.strip_prefix('/').unwrap_or(name);
        if bare.is_empty() {
            return Err(refuse("a region name is not empty"));
        }
        if bare.len() > 250 {
            return Err(refuse("a region name has at most 250 bytes"));
        }
        if bare.contains('/') {
            return Err(refuse(
                "a region (shared-memory) name holds no '/' after the first; use a path for files",
            ));
        }
        if bare.contains('\0') || bare == "." || bare == ".." {
            return Err(refuse("a region name is a valid file name"));
        }
        Ok(Name::Shm(format!("/{bare}")))
    }

    pub(crate) fn display(&self) -> String {
        match self {
            Name::Shm(s) => s.clone(),
            Name::Path(p) => p.display().to_string(),
        }
    }

    /// Where the object lives, for messages: the shared-memory filesystem, or
    /// the file's directory.
    pub(crate) fn place(&self) -> String {
        match self {
            Name::Shm(_) => "/dev/shm".to_owned(),
            Name::Path(p) => match p.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir.display().to_string(),
                _ => ".".to_owned(),
            },
        }
    }

    /// Creates the object exclusively, readable and writable by its owner only.
    pub(crate) fn create_exclusive(&self) -> Result<OwnedFd, Errno> {
        let mode = Mode::RUSR | Mode::WUSR;
        match self {
            Name::Shm(n) => rustix::shm::open(
                n.as_str(),
                rustix::shm::OFlags::CREATE | rustix::shm::OFlags::EXCL | rustix::shm::OFlags::RDWR,
                mode,
            ),
            Name::Path(p) => rustix::fs::open(
                p,
                OFlags::CREATE | OFlags::EXCL | OFlags::RDWR | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                mode,
            ),
        }
    }

    /// Opens an existing object for reading and writing (never following a symlink).
    ///
    /// Non-blocking: anyone can put a FIFO under a region's name (in /dev/shm,
    /// say), and a read-only open of a FIFO would block until a writer came;
    /// the caller's file-type check then refuses it. O_NONBLOCK changes nothing
    /// for a regular file or shared-memory object.
    pub(crate) fn open_existing(&self, write: bool) -> Result<OwnedFd, Errno> {
        match self {
            Name::Shm(n) => rustix::shm::open(
                n.as_str(),
                (if write {
                    rustix::shm::OFlags::RDWR
                } else {
                    rustix::shm::OFlags::RDONLY
                }) | rustix::shm::OFlags::from_bits_retain(
                    (OFlags::NONBLOCK | OFlags::NOFOLLOW).bits(),
                ),
                Mode::empty(),
            ),
            Name::Path(p) => rustix::fs::open(
                p,
                (if write { OFlags::RDWR } else { OFlags::RDONLY })
                    | OFlags::CLOEXEC
                    | OFlags::NOFOLLOW
                    | OFlags::NONBLOCK,
                Mode::empty(),
            ),
        }
    }

    /// Whether the name still refers to the object `file` has open (same device
    /// and inode). A small window remains between this check and an unlink.
    pub(crate) fn refers_to(&self, file: &File) -> bool {
        let Ok(fd) = self.open_existing(false) else {
            return false;
        };
        match (rustix::fs::fstat(&fd), rustix::fs::fstat(file)) {
            (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
            _ => false,
        }
    }

    pub(crate) fn unlink(&self) -> Result<(), Errno> {
        match self {
            Name::Shm(n) => rustix::shm::unlink(n.as_str()),
            Name::Path(p) => rustix::fs::unlink(p),
        }
    }
}

/// The error of system call `op`.
pub(crate) fn os(op: &'static str) -> impl FnOnce(Errno) -> OsError {
    move |e| OsError::new(op, e)
}

/// A fresh memfd, sized and sealed against shrinking and growing, so a peer
/// cannot truncate it under our mapping (which would turn accesses into SIGBUS).
pub(crate) fn memfd(geometry: &Geometry) -> Result<File, CreateError> {
    use rustix::fs::{MemfdFlags, SealFlags};
    let fd = rustix::fs::memfd_create("mempipe", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
        .map_err(os("memfd_create"))?;
    rustix::fs::ftruncate(&fd, geometry.total_len()).map_err(os("ftruncate"))?;
    rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)
        .map_err(os("fcntl(F_ADD_SEALS)"))?;
    Ok(File::from(fd))
}

/// Sizes a freshly created named object and reserves its memory, so that a full
/// filesystem is an error now rather than SIGBUS at the first access to a page
/// it could not provide (a tmpfs allocates on first touch). A memfd needs no
/// reservation: the kernel's internal tmpfs has no size limit.
pub(crate) fn size_named(
    fd: OwnedFd,
    name: &Name,
    geometry: &Geometry,
) -> Result<File, CreateError> {
    let len = geometry.total_len();
    let no_space = |fd: &OwnedFd| CreateError::NoSpace {
        place: name.place(),
        needed: len,
        free: rustix::fs::fstatvfs(fd).map_or(0, |s| s.f_bavail.saturating_mul(s.f_frsize)),
    };
    match rustix::fs::ftruncate(&fd, len) {
        Ok(()) => {}
        Err(Errno::NOSPC | Errno::FBIG) => return Err(no_space(&fd)),
        Err(e) => return Err(os("ftruncate")(e).into()),
    }
    let reserve = |fd: &OwnedFd| loop {
        use std::os::fd::AsRawFd;
        // SAFETY: posix_fallocate reads no memory of ours; it acts on an open
        // descriptor we own with a range inside `off_t` (total_len is at most
        // DATA_OFFSET + MAX_CAPACITY).
        let rc = unsafe { libc::posix_fallocate(fd.as_raw_fd(), 0, len as libc::off_t) };
        if rc != libc::EINTR {
            return rc;
        }
    };
    match reserve(&fd) {
        0 => Ok(File::from(fd)),
        libc::ENOSPC | libc::EFBIG => {
            // The blocks reserved before the failure count as used: report the
            // space there was, with them released.
            let _ = rustix::fs::ftruncate(&fd, 0);
            Err(no_space(&fd))
        }
        rc => Err(OsError::new("posix_fallocate", std::io::Error::from_raw_os_error(rc)).into()),
    }
}

/// Maps `len` bytes of `file` shared, read-write.
pub(crate) fn map(file: &File, len: u64) -> Result<MmapRaw, OsError> {
    MmapOptions::new()
        .len(len as usize)
        .map_raw(file)
        .map_err(|e| OsError::new("mmap", e))
}

/// Writes the header of a new region into its mapping; the magic goes last, so an
/// opener sees either no region yet or a complete header.
pub(crate) fn write_header(map: &MmapRaw, geometry: &Geometry, config: &Config) {
    let header = StaticHeader {
        magic: 0,
        version: layout::VERSION,
        data_offset: DATA_OFFSET as u32,
        capacity: geometry.capacity,
        max_message: geometry.max_message,
        wakeup: config.wakeup as u32,
        creator_pid: rustix::process::getpid().as_raw_nonzero().get() as u32,
        total_len: geometry.total_len(),
        spin_budget_ns: config.spin_budget.as_nanos().min(u128::from(u64::MAX)) as u64,
        liveness_interval_ns: config
            .liveness_interval
            .as_nanos()
            .min(u128::from(u64::MAX)) as u64,
    };
    let base = map.as_mut_ptr();
    // SAFETY: the mapping is at least DATA_OFFSET bytes, page aligned, and nobody
    // else can be using the header before the magic is published.
    unsafe {
        base.cast::<StaticHeader>().write(header);
        AtomicU64::from_ptr(base.cast::<u64>()).store(layout::MAGIC, Ordering::Release);
    }
}

/// Refuses a memory descriptor from another process unless it carries the seals
/// [`memfd`] sets: then its size is fixed for as long as anyone holds it, and the
/// sender cannot truncate it under our mapping.
pub(crate) fn check_sealed(file: &File) -> Result<(), OpenError> {
    use rustix::fs::SealFlags;
    const REQUIRED: [(SealFlags, &str); 3] = [
        (SealFlags::SHRINK, "F_SEAL_SHRINK"),
        (SealFlags::GROW, "F_SEAL_GROW"),
        (SealFlags::SEAL, "F_SEAL_SEAL"),
    ];
    let names = |seals: SealFlags| {
        REQUIRED
            .iter()
            .filter(|(flag, _)| !seals.contains(*flag))
            .map(|(_, name)| *name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match rustix::fs::fcntl_get_seals(file) {
        Ok(seals) if names(seals).is_empty() => Ok(()),
        Ok(seals) => Err(OpenError::Unsealed {
            missing: names(seals),
        }),
        // Not a memfd (or any file that can carry seals).
        Err(Errno::INVAL) => Err(OpenError::Unsealed {
            missing: format!(
                "{} (it cannot carry seals: not a memfd)",
                names(SealFlags::empty())
            ),
        }),
        Err(e) => Err(os("fcntl(F_GET_SEALS)")(e).into()),
    }
}

/// Checks what `file` is before mapping it, then maps it and validates the
/// header. `handed_over`: the region came from its creator, who publishes the
/// header before handing it over, so an unpublished one will never be.
pub(crate) fn map_existing(
    file: &File,
    handed_over: bool,
) -> Result<(MmapRaw, layout::Validated), OpenError> {
    let stat = rustix::fs::fstat(file).map_err(os("fstat"))?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(OpenError::NotMempipe(
            "not a regular file or shared-memory object".into(),
        ));
    }
    let size = stat.st_size as u64;
    if size == 0 {
        return Err(unpublished(file, None, handed_over));
    }
    if size < DATA_OFFSET as u64 + layout::MIN_CAPACITY || size > DATA_OFFSET as u64 + MAX_CAPACITY
    {
        return Err(OpenError::NotMempipe(format!(
            "size {size} bytes is not that of any mempipe region"
        )));
    }
    let map = map(file, size)?;
    let header = read_header(&map);
    match layout::validate(&header, size) {
        Ok(validated) => Ok((map, validated)),
        Err(OpenError::NotReady) => Err(unpublished(file, Some(&header), handed_over)),
        Err(e) => Err(e),
    }
}

/// How long after sizing a region its creator may still be writing the
/// header (it does so at once; this allows for a creator descheduled under load).
const INIT_GRACE: Duration = Duration::from_secs(10);

/// The error for a region whose header is not published: its creator is
/// still writing it ([`OpenError::NotReady`]), or it never will.
fn unpublished(file: &File, header: Option<&StaticHeader>, handed_over: bool) -> OpenError {
    let creator = header.map(|h| h.creator_pid).filter(|&pid| pid != 0);
    let why = match creator {
        _ if handed_over => "it was handed over before its creator wrote its header".to_owned(),
        Some(pid) if crate::platform::process_alive(pid) => return OpenError::NotReady,
        Some(pid) => format!("its creator, pid {pid}, died before finishing it"),
        None => {
            let age = file
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|at| at.elapsed().ok());
            match age {
                Some(age) if age > INIT_GRACE => format!(
                    "no creator wrote its header in the {}s since it was sized; it is all zeros",
                    age.as_secs()
                ),
                _ => return OpenError::NotReady,
            }
        }
    };
    OpenError::NeverInitialised { why }
}

/// Copies the header out of a mapping (magic read first, with acquire ordering).
pub(crate) fn read_header(map: &MmapRaw) -> StaticHeader {
    let base = map.as_mut_ptr();
    // SAFETY: the mapping is at least DATA_OFFSET bytes (checked by the caller) and
    // page aligned; the header is plain integers, valid for any bit pattern, read
    // with a volatile copy because the peer may write it at any time.
    unsafe {
        let magic = AtomicU64::from_ptr(base.cast::<u64>()).load(Ordering::Acquire);
        let mut header = base.cast::<StaticHeader>().read_volatile();
        header.magic = magic;
        header
    }
}

/// Reads the header of an existing object through `file`, without mapping it
/// (`None` if it is shorter than a header).
pub(crate) fn peek_header(file: &File) -> Option<StaticHeader> {
    use std::os::unix::fs::FileExt;
    let mut bytes = [0u8; StaticHeader::LEN];
    file.read_exact_at(&mut bytes, 0).ok()?;
    Some(StaticHeader::from_bytes(&bytes))
}

/// The creator pid of an existing object, for the "already exists" error.
pub(crate) fn peek_creator(name: &Name) -> Option<u32> {
    let file = File::from(name.open_existing(false).ok()?);
    peek_header(&file)?.creator()
}
