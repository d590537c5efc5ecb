//! Packet timestamps at full (nanosecond) precision, shared by sources and sinks.

/// A capture timestamp: seconds since the Unix epoch plus nanoseconds.
///
/// Sources convert whatever resolution they read (pcap µs / ns, pcapng `if_tsresol`)
/// into this; sinks write it back at the precision their format asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub secs: i64,
    /// Always below 1_000_000_000.
    pub nanos: u32,
}

impl Timestamp {
    pub const fn new(secs: i64, nanos: u32) -> Self {
        Timestamp { secs, nanos }
    }

    /// The wall clock now: the clock the kernel stamps received packets with
    /// (CLOCK_REALTIME, as `SO_TIMESTAMPNS` and the ring's block headers).
    pub fn now() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::new(d.as_secs() as i64, d.subsec_nanos())
    }

    /// Nanoseconds since the epoch (saturating outside ±292 years).
    pub fn as_nanos(self) -> i128 {
        self.secs as i128 * 1_000_000_000 + self.nanos as i128
    }
}

/// The precision a source carries and a classic pcap file is written with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum TsPrecision {
    #[default]
    Micro,
    Nano,
}
