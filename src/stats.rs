//! Counts every outcome of every outer packet, and prints the summary.
//!
//! Each outer packet ends as a written frame, a filtered-out frame (not a session asked
//! for), a frame the filter expression rejected, a skip with a
//! named [`SkipCause`], or (for outer fragments) a piece held for reassembly. Notes
//! count things worth knowing about frames that were still written.

use crate::wire::decap::{Note, SkipCause, SkipClass};
use std::collections::BTreeMap;
use std::fmt::Write as _;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Outer packets read from the source.
    pub outer_packets: u64,
    pub frames_written: u64,
    /// Frames of sessions not asked for (`--key`, `--session`, `--from`, ...).
    pub filtered_out: u64,
    /// Frames of the sessions asked for that the filter expression rejected.
    pub expression_rejected: u64,
    /// Outer fragments kept for reassembly (each whole datagram is then counted once
    /// more as written, filtered or skipped).
    pub fragments_held: u64,
    /// Datagrams rebuilt from outer fragments.
    pub fragments_reassembled: u64,
    /// Frames cut to the snaplen (`-s`) on output.
    pub snaplen_truncated: u64,
    /// Packets the kernel dropped before a live source read them (socket receive
    /// buffer overflow); `None` when reading a file.
    pub kernel_drops: Option<u64>,
    /// Frames a capture thread could not hand to the writer (its queue was full).
    pub channel_drops: u64,
    /// Frames kept but lost to the output: in its buffer or queue when a write failed
    /// (a full disk), so not in the file. Not counted in `frames_written`.
    pub output_lost: u64,
    /// GRE sequence accounting over all senders (see [`crate::seq`]).
    pub seq_lost: u64,
    pub seq_reordered: u64,
    pub seq_duplicate: u64,
    pub seq_restarts: u64,
    /// Sequenced packets past the sequence tracker's bounds: written, not tracked.
    pub seq_untracked: u64,
    /// Packets of sessions beyond the session table's cap: written, not tracked.
    pub sessions_over_limit: u64,
    /// Outer packets the receiving interface had merged with GRO (several mirrored
    /// frames glued into one; live rings only).
    pub gro_merged: u64,
    /// TCP connections the text printer forgot to stay within its table's bound
    /// (their next segments print absolute sequence numbers).
    pub text_tcp_evictions: u64,
    skipped: BTreeMap<SkipCause, u64>,
    notes: [u64; Note::ALL.len()],
}

impl Stats {
    #[inline]
    pub fn skip(&mut self, cause: SkipCause) {
        *self.skipped.entry(cause).or_default() += 1;
    }

    #[inline]
    pub fn note(&mut self, note: Note) {
        self.notes[note as usize] += 1;
    }

    /// The packets that ended in one outcome: written, filtered out, rejected by the
    /// expression, or skipped (outer fragments held for reassembly are not among them).
    pub fn outcomes(&self) -> u64 {
        self.frames_written + self.filtered_out + self.expression_rejected + self.skipped_total()
    }

    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// Adds the counters of another thread's run to these.
    pub fn merge(&mut self, other: &Stats) {
        self.outer_packets += other.outer_packets;
        self.frames_written += other.frames_written;
        self.filtered_out += other.filtered_out;
        self.expression_rejected += other.expression_rejected;
        self.fragments_held += other.fragments_held;
        self.fragments_reassembled += other.fragments_reassembled;
        self.snaplen_truncated += other.snaplen_truncated;
        self.kernel_drops = match (self.kernel_drops, other.kernel_drops) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        self.channel_drops += other.channel_drops;
        self.output_lost += other.output_lost;
        self.seq_lost += other.seq_lost;
        self.seq_reordered += other.seq_reordered;
        self.seq_duplicate += other.seq_duplicate;
        self.seq_restarts += other.seq_restarts;
        self.seq_untracked += other.seq_untracked;
        self.sessions_over_limit += other.sessions_over_limit;
        self.gro_merged += other.gro_merged;
        self.text_tcp_evictions += other.text_tcp_evictions;
        for (cause, n) in &other.skipped {
            *self.skipped.entry(*cause).or_default() += n;
        }
        for (mine, theirs) in self.notes.iter_mut().zip(other.notes) {
            *mine += theirs;
        }
    }

    /// Skips of broken input (cut short, lying lengths, bad fragments).
    pub fn malformed(&self) -> u64 {
        self.skipped_in(SkipClass::Malformed)
    }

    /// Skips of well-formed input that is not a mirror payload.
    pub fn unsupported(&self) -> u64 {
        self.skipped_in(SkipClass::Unsupported)
    }

    fn skipped_in(&self, class: SkipClass) -> u64 {
        self.skipped_by_cause()
            .filter(|(c, _)| c.class() == class)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn skipped(&self, cause: SkipCause) -> u64 {
        self.skipped.get(&cause).copied().unwrap_or(0)
    }

    pub fn skipped_by_cause(&self) -> impl Iterator<Item = (SkipCause, u64)> + '_ {
        self.skipped.iter().map(|(c, n)| (*c, *n))
    }

    pub fn noted(&self, note: Note) -> u64 {
        self.notes[note as usize]
    }

    /// The end-of-run summary for stderr: one headline, then one line per cause.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "spandump: {} outer packets read, {} frames written, {} filtered out, {} skipped\n",
            self.outer_packets,
            self.frames_written,
            self.filtered_out,
            self.skipped_total()
        );
        if self.expression_rejected > 0 {
            let _ = writeln!(
                s,
                "  rejected by the filter expression: {}",
                self.expression_rejected
            );
        }
        for (cause, n) in &self.skipped {
            let _ = writeln!(s, "  skipped {cause}: {n}");
        }
        if self.fragments_held > 0 {
            let _ = writeln!(s, "  note fragments-held: {}", self.fragments_held);
            let _ = writeln!(
                s,
                "  note fragments-reassembled: {}",
                self.fragments_reassembled
            );
        }
        for note in Note::ALL {
            let n = self.notes[note as usize];
            if n > 0 {
                let _ = writeln!(s, "  note {}: {n}", note.id());
            }
        }
        if self.snaplen_truncated > 0 {
            let _ = writeln!(s, "  note snaplen-truncated: {}", self.snaplen_truncated);
        }
        if self.seq_lost + self.seq_reordered + self.seq_duplicate + self.seq_restarts > 0 {
            let _ = writeln!(
                s,
                "  sequence: {} lost, {} reordered, {} duplicate, {} restarts",
                self.seq_lost, self.seq_reordered, self.seq_duplicate, self.seq_restarts
            );
        }
        if self.seq_untracked > 0 {
            let _ = writeln!(s, "  note seq-untracked: {}", self.seq_untracked);
        }
        if self.text_tcp_evictions > 0 {
            let _ = writeln!(s, "  note text-tcp-evictions: {}", self.text_tcp_evictions);
        }
        if self.sessions_over_limit > 0 {
            let _ = writeln!(
                s,
                "  note sessions-over-limit: {}",
                self.sessions_over_limit
            );
        }
        if self.gro_merged > 0 {
            let _ = writeln!(s, "  note gro-merged: {}", self.gro_merged);
        }
        if self.channel_drops > 0 {
            let _ = writeln!(
                s,
                "spandump: {} frames dropped: the writer fell behind",
                self.channel_drops
            );
        }
        if self.output_lost > 0 {
            let _ = writeln!(
                s,
                "spandump: {} frames lost to the output: not in the file, which failed",
                self.output_lost
            );
        }
        if let Some(drops) = self.kernel_drops {
            // tcpdump's wording, last, so scripts that read tcpdump's summary find it.
            let _ = writeln!(s, "spandump: {drops} packets dropped by kernel");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::gre::GreProto;

    #[test]
    fn summary_names_every_cause() {
        let mut s = Stats {
            outer_packets: 10,
            frames_written: 5,
            filtered_out: 1,
            ..Stats::default()
        };
        s.skip(SkipCause::NotGre);
        s.skip(SkipCause::NotGre);
        s.skip(SkipCause::GreProtocol(GreProto(0x2001)));
        s.skip(SkipCause::GreKeepalive);
        s.note(Note::SenderTruncated);
        let text = s.summary();
        assert_eq!(
            text,
            "spandump: 10 outer packets read, 5 frames written, 1 filtered out, 4 skipped\n\
             \x20 skipped not-gre: 2\n\
             \x20 skipped gre-keepalive: 1\n\
             \x20 skipped gre-proto-0x2001: 1\n\
             \x20 note sender-truncated: 1\n"
        );
        assert_eq!(s.skipped(SkipCause::NotGre), 2);
        s.kernel_drops = Some(3);
        assert!(
            s.summary()
                .ends_with("\n  note sender-truncated: 1\nspandump: 3 packets dropped by kernel\n")
        );
    }
}
