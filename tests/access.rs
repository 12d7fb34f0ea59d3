//! Who may attach, and what opening accepts.
//!
//! * Named regions are mode 0600 and owned by their creator; another user
//!   (`nobody`, from a child that drops its privileges when this runs as root)
//!   can neither open, remove nor replace one.
//! * Opening checks the object's type, size and header before it maps the ring:
//!   a directory, a FIFO, a device, a symlink, an empty or short file give typed
//!   errors, never a hang (a FIFO opened for reading would block).
//! * Anonymous regions are memfds sealed against shrinking and growing: a peer
//!   holding the descriptor cannot truncate the mapping under us (SIGBUS).

mod common;

use common::{spawn_child, HANG_GUARD};
use mempipe::{Config, CreateError, OpenError, Region, WakeupKind};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

const NOBODY: u32 = 65534;

fn config() -> Config {
    Config::new()
        .capacity(4096)
        .max_message(256)
        .wakeup(WakeupKind::Futex)
}

fn shm_path(name: &str) -> PathBuf {
    Path::new("/dev/shm").join(name.trim_start_matches('/'))
}

/// Runs `f` on a thread; fails the test if it does not return within the hang
/// guard (a blocking open of a FIFO, for example).
fn no_hang<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(HANG_GUARD)
        .unwrap_or_else(|_| panic!("{what} hung (or panicked)"))
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

fn errno(e: &OpenError) -> Option<i32> {
    match e {
        OpenError::Os(e) => e.source.raw_os_error(),
        _ => None,
    }
}

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("mempipe-access-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("create a temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes a file on drop, so that a failed test leaves nothing in /dev/shm.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn mkfifo(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .expect("mkfifo");
}

#[test]
fn child_entry() {
    let Some(ctx) = common::child_context() else {
        return;
    };
    match ctx.role.as_str() {
        "as_nobody" => {
            // Drop to nobody for good: supplementary groups, group, then user.
            // SAFETY: plain system calls on integers; this process is
            // single-threaded at this point as far as credentials matter
            // (libc's setuid/setgid apply to every thread).
            unsafe {
                assert_eq!(libc::setgroups(0, std::ptr::null()), 0, "setgroups");
                assert_eq!(libc::setgid(NOBODY), 0, "setgid");
                assert_eq!(libc::setuid(NOBODY), 0, "setuid");
            }
            assert_eq!(rustix::process::geteuid().as_raw(), NOBODY);
            let name = ctx.field(0);
            match Region::open_named(name) {
                Err(e) => assert_eq!(errno(&e), Some(libc::EACCES), "open_named as nobody: {e:?}"),
                Ok(r) => panic!("nobody opened {name}: {r:?}"),
            }
            match Region::open_at_path(ctx.field(1)) {
                Err(e) => assert_eq!(errno(&e), Some(libc::EACCES), "open_at_path: {e:?}"),
                Ok(r) => panic!("nobody opened {}: {r:?}", ctx.field(1)),
            }
            // Nor remove it (sticky /dev/shm), nor take the name over.
            let removed = Region::remove(name);
            assert!(removed.is_err(), "nobody removed {name}: {removed:?}");
            assert!(Region::remove_if_stale(name).is_err());
            match Region::create_named(name, &config().replace_existing(true)) {
                Err(CreateError::Os(_)) => {}
                other => panic!("nobody replaced {name}: {other:?}"),
            }
            match Region::create_named(name, &config()) {
                Err(CreateError::AlreadyExists { .. }) => {}
                other => panic!("expected AlreadyExists, got {other:?}"),
            }
            println!("MEMPIPE_NOBODY_REFUSED");
        }
        role => panic!("unknown role {role}"),
    }
}

#[test]
fn named_regions_are_0600_and_owned_by_their_creator() {
    let name = common::unique_name("mode");
    let region = Region::create_named(&name, &config()).expect("create_named");
    let meta = std::fs::metadata(shm_path(&name)).expect("stat");
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    assert_eq!(meta.uid(), rustix::process::geteuid().as_raw());
    assert_eq!(meta.gid(), rustix::process::getegid().as_raw());
    let dir = TempDir::new("mode");
    let path = dir.0.join("region");
    let file_region = Region::create_at_path(&path, &config()).expect("create_at_path");
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777,
        0o600
    );
    drop((region, file_region));
}

#[test]
fn another_user_cannot_open_a_named_region() {
    if !is_root() {
        println!("skipped: not root, cannot switch to another user to try");
        return;
    }
    let name = common::unique_name("other-user");
    let region = Region::create_named(&name, &config()).expect("create_named");
    // A file region in a directory nobody may enter.
    let dir = TempDir::new("other-user");
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.0.join("region");
    let file_region = Region::create_at_path(&path, &config()).expect("create_at_path");
    let arg = format!("{name}:{}", path.display());
    let mut child = spawn_child("child_entry", "as_nobody", None, &arg);
    child.wait_for_line("MEMPIPE_NOBODY_REFUSED", HANG_GUARD);
    child.assert_success(HANG_GUARD);
    // Still ours, untouched.
    let mut producer = region.producer().expect("claim producer");
    producer.try_send(b"still here").expect("send");
    assert!(shm_path(&name).exists());
    drop((producer, region, file_region));
    assert!(!shm_path(&name).exists());
}

#[test]
fn opening_checks_the_file_type_before_anything_else() {
    let dir = TempDir::new("types");
    // A directory: open(O_RDWR) refuses it.
    let e = Region::open_at_path(&dir.0).expect_err("a directory");
    assert_eq!(errno(&e), Some(libc::EISDIR), "{e:?}");
    // A FIFO: must not block, must say it is not a region.
    let fifo = dir.0.join("fifo");
    mkfifo(&fifo);
    let f = fifo.clone();
    let e = no_hang("open_at_path(fifo)", move || Region::open_at_path(&f)).expect_err("a FIFO");
    assert!(matches!(e, OpenError::NotMempipe(_)), "{e:?}");
    // A character device.
    let e = Region::open_at_path("/dev/null").expect_err("a device");
    assert!(matches!(e, OpenError::NotMempipe(_)), "{e:?}");
    // A symlink to a real region is not followed.
    let real = dir.0.join("real");
    let _region = Region::create_at_path(&real, &config()).expect("create_at_path");
    let link = dir.0.join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let e = Region::open_at_path(&link).expect_err("a symlink");
    assert_eq!(errno(&e), Some(libc::ELOOP), "{e:?}");
    // An empty file: not ready (a creator between create and size).
    let empty = dir.0.join("empty");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(
        Region::open_at_path(&empty),
        Err(OpenError::NotReady)
    ));
    // Too short for any region, then the right size but no header.
    let short = dir.0.join("short");
    std::fs::write(&short, vec![0u8; 4096]).unwrap();
    assert!(matches!(
        Region::open_at_path(&short),
        Err(OpenError::NotMempipe(_))
    ));
    let zeros = dir.0.join("zeros");
    std::fs::write(&zeros, vec![0u8; 8192]).unwrap();
    assert!(matches!(
        Region::open_at_path(&zeros),
        Err(OpenError::NotReady)
    ));
    let junk = dir.0.join("junk");
    std::fs::write(&junk, vec![0xa5u8; 8192]).unwrap();
    assert!(matches!(
        Region::open_at_path(&junk),
        Err(OpenError::NotMempipe(_))
    ));
}

/// A FIFO squatting on a region's name (anyone may create one in /dev/shm)
/// must not hang the creator, an opener or the stale-region check.
#[test]
fn a_fifo_under_a_regions_name_hangs_nobody() {
    let name = common::unique_name("fifo");
    let path = shm_path(&name);
    mkfifo(&path);
    let _cleanup = RemoveOnDrop(path.clone());
    let n = name.clone();
    let e = no_hang("open_named(fifo)", move || Region::open_named(&n)).expect_err("a FIFO");
    assert!(matches!(e, OpenError::NotMempipe(_)), "{e:?}");
    let n = name.clone();
    match no_hang("create_named over a FIFO", move || {
        Region::create_named(&n, &config())
    }) {
        Err(CreateError::AlreadyExists {
            creator_pid: None, ..
        }) => {}
        other => panic!("expected AlreadyExists without a creator, got {other:?}"),
    }
    let n = name.clone();
    let stale = no_hang("remove_if_stale(fifo)", move || Region::remove_if_stale(&n));
    assert!(!stale.expect("remove_if_stale"), "a FIFO is not a region");
    assert!(std::fs::symlink_metadata(&path)
        .unwrap()
        .file_type()
        .is_fifo());
    // The same at a path.
    let dir = TempDir::new("fifo");
    let fifo = dir.0.join("fifo");
    mkfifo(&fifo);
    let f = fifo.clone();
    match no_hang("create_at_path over a FIFO", move || {
        Region::create_at_path(&f, &config())
    }) {
        Err(CreateError::AlreadyExists { .. }) => {}
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
}

/// The memfd of an anonymous region is sealed: neither this process nor a
/// peer holding the descriptor (same inode, same seals) can shrink or grow it.
#[test]
fn anonymous_regions_cannot_be_truncated() {
    use rustix::fs::SealFlags;
    let region = Region::create_anonymous(&config()).expect("create");
    let fd = region.memory_fd();
    let seals = rustix::fs::fcntl_get_seals(fd).expect("F_GET_SEALS");
    assert!(seals.contains(SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL));
    let size = rustix::fs::fstat(fd).unwrap().st_size as u64;
    assert_eq!(size, 4096 + 4096);
    for len in [0, 4096, size - 1, size + 1, size * 2] {
        assert_eq!(
            rustix::fs::ftruncate(fd, len),
            Err(rustix::io::Errno::PERM),
            "ftruncate to {len}"
        );
    }
    // A peer's copy of the descriptor: the one a handoff or send_over gives.
    let handoff = region.handoff().expect("handoff");
    let dup = handoff.into_fds().remove(0);
    assert_eq!(rustix::fs::ftruncate(&dup, 0), Err(rustix::io::Errno::PERM));
    // Nor can the seals be lifted or changed (F_SEAL_SEAL).
    assert_eq!(
        rustix::fs::fcntl_add_seals(&dup, SealFlags::WRITE),
        Err(rustix::io::Errno::PERM)
    );
    // Writing past the end would grow it.
    let file = std::fs::File::from(dup);
    let e = std::os::unix::fs::FileExt::write_at(&file, b"x", size).expect_err("grow by write");
    assert_eq!(e.raw_os_error(), Some(libc::EPERM));
    // The region still works.
    let mut producer = region.producer().unwrap();
    let mut consumer = region.consumer().unwrap();
    producer.try_send(b"sealed").unwrap();
    let mut buf = Vec::new();
    consumer.try_recv(&mut buf).unwrap();
    assert_eq!(buf, b"sealed");
}
