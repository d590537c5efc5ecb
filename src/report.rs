//! What a run says about itself while it runs and at its end, beside the frames: the
//! JSON Lines counters of `--stats-json` and the sessions table of `--list-sessions`.
//!
//! Both are views of a [`Stats`] and the [`Session`]s of a run; nothing here counts.
//! Live capture on several threads keeps a session table per thread: [`merge`] joins
//! them by session key.

use crate::capture::sys;
use crate::sessions::{Session, SessionTable};
use crate::stats::Stats;
use crate::wire::decap::PayloadKind;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The sessions of several tables (one per capture thread) as one list, in first-seen
/// order of the first table that has each; counters of the same session are added.
pub fn merge<'a>(tables: impl IntoIterator<Item = &'a SessionTable>) -> Vec<Session> {
    merge_lists(tables.into_iter().map(SessionTable::as_slice))
}

/// [`merge`] for lists of sessions.
pub fn merge_lists<'a>(lists: impl IntoIterator<Item = &'a [Session]>) -> Vec<Session> {
    let mut merged: Vec<Session> = Vec::new();
    let mut by_key = HashMap::new();
    for list in lists {
        for session in list {
            match by_key.get(&session.key) {
                None => {
                    by_key.insert(session.key, merged.len());
                    merged.push(session.clone());
                }
                Some(&i) => {
                    let m = &mut merged[i];
                    m.packets += session.packets;
                    m.bytes += session.bytes;
                    m.packets_written += session.packets_written;
                    m.seq += session.seq;
                    m.index = session.index.or(m.index);
                    m.hwid = session.hwid.or(m.hwid);
                    m.vlan = session.vlan.or(m.vlan);
                }
            }
        }
    }
    merged
}

/// Where the threads of a run publish their counters when asked: a reporter (timer,
/// SIGUSR1) bumps the generation, each publisher sees it between two packets and
/// leaves a copy of its counters. The per-packet cost is one relaxed atomic load.
#[derive(Debug, Default)]
pub struct Board {
    generation: AtomicU64,
    slots: Mutex<Vec<Arc<Mutex<Published>>>>,
}

#[derive(Debug, Default)]
struct Published {
    generation: u64,
    stats: Stats,
    sessions: Vec<Session>,
}

/// One thread's handle on a [`Board`].
#[derive(Debug)]
pub struct Publisher {
    board: Arc<Board>,
    slot: Arc<Mutex<Published>>,
    seen: u64,
}

impl Publisher {
    /// Whether the reporter asked for fresh counters since the last [`publish`].
    ///
    /// [`publish`]: Publisher::publish
    #[inline]
    pub fn wanted(&self) -> bool {
        self.board.generation.load(Ordering::Relaxed) != self.seen
    }

    pub fn publish(&mut self, stats: &Stats, sessions: &[Session]) {
        let generation = self.board.generation.load(Ordering::Acquire);
        let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        slot.generation = generation;
        slot.stats.clone_from(stats);
        slot.sessions.clear();
        slot.sessions.extend_from_slice(sessions);
        self.seen = generation;
    }
}

impl Board {
    /// A handle for one more thread that counts.
    pub fn publisher(self: &Arc<Board>) -> Publisher {
        let slot = Arc::new(Mutex::new(Published::default()));
        self.slots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::clone(&slot));
        Publisher {
            board: Arc::clone(self),
            slot,
            seen: self.generation.load(Ordering::Relaxed),
        }
    }

    /// Asks every publisher for fresh counters, waits for all of them (a thread blocked
    /// on an idle input answers with its next packet) unless `give_up` is set first, and
    /// returns the merged counters and sessions, or `None` if it gave up.
    pub fn collect(&self, give_up: &AtomicBool) -> Option<(Stats, Vec<Session>)> {
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner()).clone();
        while slots
            .iter()
            .any(|s| s.lock().unwrap_or_else(|e| e.into_inner()).generation < generation)
        {
            if give_up.load(Ordering::Relaxed) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let mut stats = Stats::default();
        let published: Vec<_> = slots
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()))
            .collect();
        for p in &published {
            stats.merge(&p.stats);
        }
        let sessions = merge_lists(published.iter().map(|p| p.sessions.as_slice()));
        Some((stats, sessions))
    }
}

/// What a [`Reporter`] does while a run goes on.
pub struct ReporterOptions {
    /// `--stats-json`: the stream JSON lines go to, and how often (`None`: only the
    /// final line, which the caller writes after [`Reporter::finish`]).
    pub json: Option<Box<dyn Write + Send>>,
    pub json_interval: Option<Duration>,
    /// `--list-sessions` live on a terminal: redraw the table on stdout this often.
    pub table_refresh: Option<Duration>,
    /// Set by SIGUSR1: print the summary to stderr.
    pub summary_request: Arc<AtomicBool>,
}

/// A thread that asks the run's [`Board`] for counters when a timer or SIGUSR1 says so,
/// and writes them out; it never touches the packet path.
pub struct Reporter {
    done: Arc<AtomicBool>,
    thread: JoinHandle<io::Result<Option<Box<dyn Write + Send>>>>,
}

/// How often the reporter looks at its timers and SIGUSR1.
const REPORTER_TICK: Duration = Duration::from_millis(20);

impl Reporter {
    pub fn spawn(board: Arc<Board>, mut options: ReporterOptions) -> io::Result<Reporter> {
        let done = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&done);
        let thread = std::thread::Builder::new()
            .name("reporter".into())
            .spawn(move || {
                // Ctrl-C must reach the thread that reads, which may be blocked on an
                // idle pipe: this one only sleeps.
                sys::block_signals_in_this_thread(&[libc::SIGINT, libc::SIGTERM, libc::SIGUSR1])?;
                let start = Instant::now();
                let mut next_json = options.json_interval.map(|i| start + i);
                let mut next_table = options.table_refresh.map(|_| start);
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(REPORTER_TICK);
                    let now = Instant::now();
                    if options.summary_request.swap(false, Ordering::Relaxed)
                        && let Some((stats, _)) = board.collect(&stop)
                    {
                        eprint!("{}", stats.summary());
                    }
                    if let (Some(due), Some(interval)) = (next_json, options.json_interval)
                        && now >= due
                    {
                        next_json = Some(now + interval);
                        if let Some(out) = &mut options.json
                            && let Some((stats, sessions)) = board.collect(&stop)
                        {
                            let line = json_line(&stats, &sessions, SystemTime::now(), false);
                            writeln!(out, "{line}")?;
                            out.flush()?;
                        }
                    }
                    if let (Some(due), Some(refresh)) = (next_table, options.table_refresh)
                        && now >= due
                    {
                        next_table = Some(now + refresh);
                        let Some((stats, sessions)) = board.collect(&stop) else {
                            continue;
                        };
                        let mut stdout = io::stdout().lock();
                        // Home the cursor and clear the screen, then redraw.
                        write!(stdout, "\x1b[H\x1b[2J{}", session_table(&sessions))?;
                        writeln!(
                            stdout,
                            "\n{} outer packets, {} skipped; Ctrl-C to stop",
                            stats.outer_packets,
                            stats.skipped_total()
                        )?;
                        stdout.flush()?;
                    }
                }
                Ok(options.json)
            })?;
        Ok(Reporter { done, thread })
    }

    /// Stops the thread; returns the JSON stream for the final line, or the error that
    /// stopped the periodic lines.
    pub fn finish(self) -> io::Result<Option<Box<dyn Write + Send>>> {
        self.done.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the reporter thread panicked")))
    }
}

/// One JSON Lines object: the counters of `stats` and one entry per session.
/// `last` marks the object written at exit.
pub fn json_line(stats: &Stats, sessions: &[Session], now: SystemTime, last: bool) -> String {
    let time = now
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let skipped: Map<String, Value> = stats
        .skipped_by_cause()
        .map(|(cause, n)| (cause.to_string(), n.into()))
        .collect();
    let value = json!({
        "time": time,
        "final": last,
        "outer_packets": stats.outer_packets,
        "frames_written": stats.frames_written,
        "filtered_out": stats.filtered_out,
        "expression_rejected": stats.expression_rejected,
        "malformed": stats.malformed(),
        "unsupported": stats.unsupported(),
        "kernel_drops": stats.kernel_drops.unwrap_or(0),
        "channel_drops": stats.channel_drops,
        "output_lost": stats.output_lost,
        "seq_lost": stats.seq_lost,
        "seq_reordered": stats.seq_reordered,
        "seq_duplicate": stats.seq_duplicate,
        "seq_restarts": stats.seq_restarts,
        "seq_untracked": stats.seq_untracked,
        "fragments_reassembled": stats.fragments_reassembled,
        "snaplen_truncated": stats.snaplen_truncated,
        "sessions_over_limit": stats.sessions_over_limit,
        "gro_merged": stats.gro_merged,
        "text_tcp_evictions": stats.text_tcp_evictions,
        "skipped": skipped,
        "sessions": sessions.iter().map(session_json).collect::<Vec<_>>(),
    });
    value.to_string()
}

fn session_json(s: &Session) -> Value {
    json!({
        "source": s.key.source.to_string(),
        "encap": s.key.encap_name(),
        "key": s.gre_key(),
        "session": s.erspan_session(),
        "vni": s.vni(),
        "index": s.index,
        "direction": s.direction().map(|d| d.name()),
        "hwid": s.hwid,
        "vlan": s.vlan,
        "payload": payload_name(s.key.payload),
        "packets": s.packets,
        "bytes": s.bytes,
        "packets_written": s.packets_written,
        "seq_lost": s.seq.lost,
        "seq_reordered": s.seq.reordered,
        "seq_duplicate": s.seq.duplicate,
    })
}

fn payload_name(kind: PayloadKind) -> &'static str {
    match kind {
        PayloadKind::Ethernet => "ethernet",
        PayloadKind::Ipv4 => "ipv4",
        PayloadKind::Ipv6 => "ipv6",
        PayloadKind::Arp => "arp",
    }
}

/// The `--list-sessions` table: a header and one aligned row per session, "-" where a
/// field does not apply. The index shows its hexadecimal reading too, since OVS reads
/// OVN's decimal index as hex.
pub fn session_table(sessions: &[Session]) -> String {
    const HEADER: [&str; 12] = [
        "SOURCE", "ENCAP", "KEY", "SESSION", "VNI", "INDEX", "DIR", "HWID", "VLAN", "PACKETS",
        "BYTES", "SEQ-LOST",
    ];
    let dash = || "-".to_string();
    let rows: Vec<[String; 12]> = sessions
        .iter()
        .map(|s| {
            let mut encap = s.key.encap_name().to_string();
            if s.key.payload != PayloadKind::Ethernet {
                let _ = write!(encap, "/{}", payload_name(s.key.payload));
            }
            [
                s.key.source.to_string(),
                encap,
                s.gre_key().map_or_else(dash, |k| k.to_string()),
                s.erspan_session().map_or_else(dash, |k| k.to_string()),
                s.vni().map_or_else(dash, |k| k.to_string()),
                s.index.map_or_else(dash, |i| format!("{i} ({i:#x})")),
                s.direction().map_or_else(dash, |d| d.name().to_string()),
                s.hwid.map_or_else(dash, |h| h.to_string()),
                s.vlan.map_or_else(dash, |v| v.to_string()),
                s.packets.to_string(),
                s.bytes.to_string(),
                s.seq.lost.to_string(),
            ]
        })
        .collect();
    let mut widths = HEADER.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let mut l = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            // Text columns to the left, counters to the right.
            if i >= 9 {
                let _ = write!(l, "{cell:>w$}  ");
            } else {
                let _ = write!(l, "{cell:<w$}  ");
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&HEADER);
    for row in &rows {
        line(&row.each_ref().map(String::as_str));
    }
    if sessions.is_empty() {
        out.push_str("(no mirror session seen)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::decap::{Decapsulated, Encap, GreInfo, Notes};
    use crate::wire::gre::GreProto;

    fn gre(key: u32, len: usize) -> Decapsulated<'static> {
        Decapsulated {
            gre: GreInfo {
                flags: 0x2000,
                protocol: GreProto(0x6558),
                checksum: None,
                key: Some(key),
                sequence: None,
                over_udp: false,
            },
            encap: Encap::Gre,
            kind: PayloadKind::Ethernet,
            frame: &[],
            orig_len: len,
            notes: Notes::default(),
            tunnel_options: &[],
        }
    }

    fn table(source: &str, packets: &[(u32, usize)]) -> SessionTable {
        let mut t = SessionTable::default();
        for &(key, len) in packets {
            let d = gre(key, len);
            t.observe(source.parse().unwrap(), &d);
        }
        t
    }

    #[test]
    fn merge_adds_the_same_session_and_keeps_first_seen_order() {
        let a = table("198.51.100.1", &[(99, 100), (7, 60)]);
        let b = table("198.51.100.1", &[(99, 40)]);
        let c = table("203.0.113.9", &[(99, 64)]);
        let merged = merge([&a, &b, &c]);
        let summary: Vec<_> = merged
            .iter()
            .map(|s| (s.key.source.to_string(), s.gre_key(), s.packets, s.bytes))
            .collect();
        assert_eq!(
            summary,
            [
                ("198.51.100.1".to_string(), Some(99), 2, 140),
                ("198.51.100.1".to_string(), Some(7), 1, 60),
                ("203.0.113.9".to_string(), Some(99), 1, 64),
            ]
        );
    }

    #[test]
    fn json_line_has_every_key_with_numbers() {
        let mut stats = Stats::default();
        stats.outer_packets = 3;
        stats.frames_written = 2;
        stats.filtered_out = 1;
        stats.seq_lost = 4;
        stats.skip(crate::wire::decap::SkipCause::TruncatedGre);
        stats.skip(crate::wire::decap::SkipCause::NotGre);
        let sessions = merge([&table("198.51.100.1", &[(99, 100)])]);
        let line = json_line(&stats, &sessions, UNIX_EPOCH, true);
        assert!(!line.contains('\n'));
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["outer_packets"], 3);
        assert_eq!(v["frames_written"], 2);
        assert_eq!(v["malformed"], 1);
        assert_eq!(v["unsupported"], 1);
        assert_eq!(v["kernel_drops"], 0);
        assert_eq!(v["seq_lost"], 4);
        assert_eq!(v["skipped"]["truncated-gre"], 1);
        assert_eq!(v["final"], true);
        let s = &v["sessions"][0];
        assert_eq!(s["source"], "198.51.100.1");
        assert_eq!(s["encap"], "gre");
        assert_eq!(s["key"], 99);
        assert_eq!(s["session"], Value::Null);
        assert_eq!(s["direction"], Value::Null);
        assert_eq!(
            (s["packets"].as_u64(), s["bytes"].as_u64()),
            (Some(1), Some(100))
        );
    }

    #[test]
    fn table_aligns_and_says_when_empty() {
        let sessions = merge([&table("198.51.100.1", &[(99, 100), (99, 100)])]);
        let text = session_table(&sessions);
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("SOURCE        ENCAP  KEY"), "{text}");
        assert!(lines[1].starts_with("198.51.100.1  gre    99 "), "{text}");
        assert!(lines[1].ends_with("  2    200         0"), "{text}");
        assert!(session_table(&[]).contains("no mirror session seen"));
    }
}
