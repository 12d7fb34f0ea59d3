//! Fuzz target `open_header`: [`open_header`] says what it feeds the library and checks.

use super::*;

/// Opens a region file whose first 4096 bytes (header and control block) are
/// the input, sized as the input says (often exactly what the header claims),
/// with `Region::open_at_path`: `Ok` or a typed `OpenError`, never a panic. An
/// opened region is then claimed and used briefly (its control block is
/// arbitrary too). Writes one file in the temp dir and removes it.
pub fn open_header(data: &[u8]) {
    use std::io::Write;
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut input = Input::new(data);
    let size_mode = input.u8();
    let mut header = [0u8; DATA_OFFSET];
    let rest = input.bytes_up_to(DATA_OFFSET);
    header[..rest.len()].copy_from_slice(rest);
    let claimed_total = StaticHeader::from_bytes(
        header[..StaticHeader::LEN]
            .try_into()
            .expect("a header fits the control page"),
    )
    .total_len;
    let size = match size_mode % 4 {
        // What the header claims, when small enough to write here.
        0 | 1 if claimed_total <= DATA_OFFSET as u64 + (1 << 20) => claimed_total,
        2 => u64::from(input.u16()),
        _ => DATA_OFFSET as u64 + (64 << (size_mode % 8)),
    };
    let path = std::env::temp_dir().join(format!(
        "mempipe-fuzz-open-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&path);
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&header[..header.len().min(size as usize)])?;
        f.set_len(size)?;
        Ok(())
    })();
    if written.is_ok() {
        if let Ok(region) = crate::Region::open_at_path(&path) {
            assert!(region.capacity().is_power_of_two());
            assert!(region.max_message() <= region.capacity() / 2 - 8);
            let producer = region.producer();
            let consumer = region.consumer();
            if let (Ok(mut tx), Ok(mut rx)) = (producer, consumer) {
                let msg = [0x5au8; 64];
                let len = region.max_message().min(msg.len());
                let mut buf = Vec::new();
                for _ in 0..4 {
                    let _ = tx.try_send(&msg[..len]);
                    if let Ok(n) = rx.try_recv(&mut buf) {
                        assert!(n <= region.max_message());
                    }
                }
            }
        }
    }
    let _ = std::fs::remove_file(&path);
}
