//! NUMA placement of a region's pages.
//!
//! A region's memory is a shared-memory file (a memfd or a tmpfs object). A
//! memory policy set with `mbind` on a shared mapping of such a file is the
//! file's own (a shared policy): it decides where every page not yet
//! allocated goes, whichever process touches it first. So a ring's pages land
//! on the chosen node as long as the policy is set before they are first
//! touched. The policy is "preferred": a full node falls back to another one
//! instead of failing the allocation (which would be a SIGBUS on touch).
//!
//! These calls are hints: a kernel without NUMA support (`ENOSYS`) or a
//! sandbox that forbids them leaves the pages wherever the kernel puts them.

use rustix::io::Errno;
use std::os::raw::{c_int, c_long, c_ulong};

/// Bits in the node masks passed to the kernel (its largest node count).
const MASK_BITS: usize = 1024;
const MASK_WORDS: usize = MASK_BITS / c_ulong::BITS as usize;
/// `get_mempolicy` flag (linux/mempolicy.h): the policy of the range at
/// `addr` rather than the thread's.
const MPOL_F_ADDR: c_ulong = 2;

type NodeMask = [c_ulong; MASK_WORDS];

fn mask_of(node: u32) -> Result<NodeMask, Errno> {
    let node = node as usize;
    if node >= MASK_BITS {
        return Err(Errno::INVAL);
    }
    let mut mask = [0; MASK_WORDS];
    mask[node / c_ulong::BITS as usize] |= 1 << (node % c_ulong::BITS as usize);
    Ok(mask)
}

/// A raw system call's result: negative means the error in `errno`.
fn check(rc: c_long) -> Result<c_long, Errno> {
    if rc < 0 {
        let errno = std::io::Error::last_os_error().raw_os_error();
        Err(Errno::from_raw_os_error(errno.unwrap_or(libc::EIO)))
    } else {
        Ok(rc)
    }
}

/// Pages of `[addr, addr + len)` not yet allocated go to `node` (preferred),
/// for every process that maps the same file.
///
/// # Safety
/// `addr` must be page aligned and `[addr, addr + len)` a mapping of this
/// process (the kernel checks the rest and answers `EFAULT`/`EINVAL`).
pub(crate) unsafe fn prefer_node(addr: *mut u8, len: usize, node: u32) -> Result<(), Errno> {
    let mask = mask_of(node)?;
    // SAFETY: mbind reads `mask` (MASK_WORDS words, in bounds for the
    // MASK_BITS + 1 bits the kernel's convention asks to pass) and changes
    // only the memory policy of the range, which the caller owns.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mbind,
            addr,
            len,
            libc::MPOL_PREFERRED as c_long,
            mask.as_ptr(),
            MASK_BITS as c_ulong + 1,
            0 as c_ulong,
        )
    };
    check(rc).map(drop)
}

/// Runs `f` with this thread's policy preferring `node`, then restores the
/// thread's policy: for memory `f` allocates without a mapping (the
/// reservation of a named region).
pub(crate) fn with_thread_preferring<T>(node: u32, f: impl FnOnce() -> T) -> Result<T, Errno> {
    let mask = mask_of(node)?;
    let (mut mode, mut old): (c_int, NodeMask) = (0, [0; MASK_WORDS]);
    // SAFETY: get_mempolicy (no address, no flags: this thread's policy)
    // writes one int to `mode` and at most MASK_WORDS words to `old`.
    check(unsafe {
        libc::syscall(
            libc::SYS_get_mempolicy,
            &mut mode as *mut c_int,
            old.as_mut_ptr(),
            MASK_BITS as c_ulong + 1,
            std::ptr::null_mut::<u8>(),
            0 as c_ulong,
        )
    })?;
    let set = |mode: c_int, mask: &NodeMask| {
        // SAFETY: set_mempolicy reads MASK_WORDS words of `mask` and changes
        // only this thread's policy.
        check(unsafe {
            libc::syscall(
                libc::SYS_set_mempolicy,
                mode as c_long,
                mask.as_ptr(),
                MASK_BITS as c_ulong + 1,
            )
        })
    };
    set(libc::MPOL_PREFERRED, &mask)?;
    let out = f();
    // The mode as read (with its flags) and its mask: what was in force.
    set(mode, &old)?;
    Ok(out)
}

/// The node the policy of the mapping at `addr` prefers, or `None` when the
/// range has no policy of its own (the kernel's default: first touch).
///
/// # Safety
/// `addr` must lie in a mapping of this process.
pub(crate) unsafe fn preferred_node(addr: *mut u8) -> Result<Option<u32>, Errno> {
    let mut mode: c_int = 0;
    let mut mask: NodeMask = [0; MASK_WORDS];
    // SAFETY: get_mempolicy writes one int to `mode` and at most MASK_WORDS
    // words to `mask` (maxnode MASK_BITS + 1); it only reads the policy at
    // `addr`.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_get_mempolicy,
            &mut mode as *mut c_int,
            mask.as_mut_ptr(),
            MASK_BITS as c_ulong + 1,
            addr,
            MPOL_F_ADDR,
        )
    };
    check(rc)?;
    if mode != libc::MPOL_PREFERRED {
        return Ok(None);
    }
    let bits = c_ulong::BITS as usize;
    Ok((0..MASK_BITS)
        .find(|n| mask[n / bits] & (1 << (n % bits)) != 0)
        .map(|n| n as u32))
}

/// How many of the `page`-sized pages from `addr` lie on each node, as
/// `(node, pages)` sorted by node; pages not allocated yet are not counted.
///
/// # Safety
/// `[addr, addr + len)` must be a mapping of this process, `addr` aligned to
/// `page`.
pub(crate) unsafe fn pages_per_node(addr: *mut u8, len: usize, page: usize) -> Vec<(u32, usize)> {
    let pages: Vec<*mut u8> = (0..len / page)
        .map(|i| addr.wrapping_add(i * page))
        .collect();
    let mut status: Vec<c_int> = vec![-1; pages.len()];
    // SAFETY: move_pages with a null node list only reports, into `status`
    // (one int per page), where each page of our own process (pid 0) lies.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_pages,
            0 as c_int,
            pages.len() as c_ulong,
            pages.as_ptr(),
            std::ptr::null::<c_int>(),
            status.as_mut_ptr(),
            0 as c_int,
        )
    };
    let mut counts: Vec<(u32, usize)> = Vec::new();
    if check(rc).is_err() {
        return counts;
    }
    for node in status.into_iter().filter_map(|s| u32::try_from(s).ok()) {
        match counts.iter_mut().find(|(n, _)| *n == node) {
            Some((_, count)) => *count += 1,
            None => counts.push((node, 1)),
        }
    }
    counts.sort_unstable();
    counts
}

/// The node of the CPU this thread runs on, if the kernel says.
pub(crate) fn current_node() -> Option<u32> {
    let (mut cpu, mut node): (u32, u32) = (0, 0);
    // SAFETY: getcpu writes one u32 to each pointer; the third argument is
    // unused since Linux 2.6.24 and may be null.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_getcpu,
            &mut cpu as *mut u32,
            &mut node as *mut u32,
            std::ptr::null_mut::<u8>(),
        )
    };
    check(rc).ok().map(|_| node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Region};

    /// The policy of the file behind `region`, read through a second,
    /// independent mapping of it: what a peer process that maps the region
    /// sees, not a property of this mapping alone.
    fn policy_seen_by_a_peer(region: &Region) -> Option<u32> {
        let memory = region.memory_fd().try_clone_to_owned().unwrap();
        let peer = Region::from_fds(memory, None).unwrap();
        // SAFETY: the start of `peer`'s own mapping, alive while `peer` is.
        unsafe { preferred_node(peer.inner.map_addr as *mut u8) }.unwrap()
    }

    fn small() -> Config {
        Config::new().capacity(64 << 10)
    }

    fn roundtrip(region: &Region) {
        let (mut tx, mut rx) = (region.producer().unwrap(), region.consumer().unwrap());
        let msg = vec![7u8; 8 << 10];
        for _ in 0..32 {
            tx.send(&msg).unwrap();
            rx.recv(&mut Vec::new()).unwrap();
        }
    }

    #[test]
    fn a_chosen_node_is_the_files_policy_from_creation() {
        let region = Region::create_anonymous(&small().numa_node(0)).unwrap();
        assert_eq!(policy_seen_by_a_peer(&region), Some(0));
        roundtrip(&region);
        let pages = region.numa_pages();
        assert!(
            !pages.is_empty() && pages.iter().all(|&(node, _)| node == 0),
            "{pages:?}"
        );
    }

    #[test]
    fn by_default_the_consumer_attaching_places_the_pages_on_its_node() {
        let region = Region::create_anonymous(&small()).unwrap();
        assert_eq!(
            policy_seen_by_a_peer(&region),
            None,
            "no policy before the consumer"
        );
        let _tx = region.producer().unwrap();
        assert_eq!(
            policy_seen_by_a_peer(&region),
            None,
            "the producer sets none"
        );
        let _rx = region.consumer().unwrap();
        let node = current_node().expect("getcpu reports a node");
        assert_eq!(policy_seen_by_a_peer(&region), Some(node));
    }

    #[test]
    fn the_consumer_keeps_a_node_the_creator_chose() {
        // On a machine with one node the chosen and the consumer's node are the
        // same: what shows is that the consumer did not set a policy of its own
        // (its claim would have to change a set policy to differ).
        let region = Region::create_anonymous(&small().numa_node(0)).unwrap();
        let _rx = region.consumer().unwrap();
        assert_eq!(policy_seen_by_a_peer(&region), Some(0));
    }

    #[test]
    fn a_named_regions_reserved_pages_go_to_the_chosen_node() {
        // A POSIX shared-memory object: a tmpfs file, which carries the policy
        // for every mapping of it (a file on disk would keep it per mapping).
        let name = format!("/mempipe-numa-test-{}", std::process::id());
        let region = Region::create_named(&name, &small().numa_node(0)).unwrap();
        let opened = Region::open_named(&name).unwrap();
        // SAFETY: the start of `opened`'s own mapping, alive while it is.
        let policy = unsafe { preferred_node(opened.inner.map_addr as *mut u8) }.unwrap();
        assert_eq!(policy, Some(0));
        roundtrip(&region);
        let pages = region.numa_pages();
        assert!(
            !pages.is_empty() && pages.iter().all(|&(node, _)| node == 0),
            "{pages:?}"
        );
        // SAFETY: reading this thread's policy only.
        let thread = unsafe { preferred_node(std::ptr::null_mut()) };
        assert!(thread.is_err(), "no range at address 0: {thread:?}");
    }

    #[test]
    fn a_node_the_kernel_does_not_have_is_an_error_naming_mbind() {
        let err = Region::create_anonymous(&small().numa_node(1000)).unwrap_err();
        assert!(err.to_string().contains("mbind"), "{err}");
        let err = Region::create_anonymous(&small().numa_node(5000)).unwrap_err();
        assert!(err.to_string().contains("mbind"), "{err}");
    }

    #[test]
    fn pages_are_counted_once_touched() {
        let region = Region::create_anonymous(&small()).unwrap();
        assert_eq!(region.numa_pages(), vec![], "nothing touched yet");
        roundtrip(&region);
        // 16 pages of ring data; the tail of a lap that padding skips may
        // stay untouched.
        let pages: usize = region.numa_pages().iter().map(|(_, n)| n).sum();
        assert!((14..=16).contains(&pages), "{pages} pages");
    }
}
