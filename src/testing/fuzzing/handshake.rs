//! Fuzz target `handshake`: [`handshake`] says what it feeds the library and checks.

/// Fuzz target `handshake`: the input as a client hello and as a server hello.
/// Either is refused with a typed error or parses into values that respect the
/// checks (ring geometry, path length) and re-encode to a hello that parses to
/// the same values.
pub fn handshake(data: &[u8]) {
    use crate::conn::wire::{ClientHello, ServerHello, Status, MAX_PATH};
    if let Ok(hello) = ClientHello::decode(data) {
        assert!(hello.capacity.is_power_of_two());
        assert!(hello.max_message > 0 && hello.max_message <= hello.capacity / 2 - 8);
        assert_eq!(ClientHello::decode(&hello.encode()).ok(), Some(hello));
    }
    if let Ok(hello) = ServerHello::decode(data) {
        assert!(hello.path.len() <= MAX_PATH);
        assert!(hello.status == Status::Upgrade || hello.path.is_empty());
        assert_eq!(ServerHello::decode(&hello.encode()).ok(), Some(hello));
    }
}
