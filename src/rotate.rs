//! Output file rotation as tcpdump's `-C`, `-G`, `-W` and `-z`.
//!
//! Before each frame, [`Rotator::check`] says whether the frame goes to the current
//! file, to a new one (and which), or whether the run is over (`-G` with `-W`). The
//! rules are tcpdump's, so the same frames land in each file: the time rule first
//! (`-G`: the wall clock's seconds since the file was opened reached SECONDS), then
//! the size rule (`-C`: the file, header and records so far, is already larger than
//! the limit). File names are tcpdump's: the `-w` name through strftime(3) with `-G`,
//! then a number with `-C` (none on the first file unless `-W` is given, then zero-
//! padded to the digits of COUNT - 1), wrapping around after COUNT files with `-C -W`.
//!
//! This module must never write frames or open files: it names them and runs the
//! `-z` command on closed ones (directly, the file name as the only argument, never
//! through a shell).

use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, Local};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::SystemTime;

/// When to start a new output file, from the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// `-C`: start a new file before a frame when the current one is larger than this
    /// many bytes.
    pub size: Option<u64>,
    /// `-G`: start a new file before a frame when this many seconds have passed since
    /// the current one was opened; the name goes through strftime(3).
    pub seconds: Option<u64>,
    /// `-W`: with `-C`, a ring of this many files; with `-G` alone, stop after this many.
    pub count: Option<u32>,
    /// `-z`: run on each file closed by a rotation, with its name as the argument.
    pub command: Option<PathBuf>,
}

impl Rotation {
    /// Whether any rotation is asked for.
    pub fn is_active(&self) -> bool {
        self.size.is_some() || self.seconds.is_some()
    }
}

/// Why a `-w` name cannot be a rotation template.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("-G needs a file name in UTF-8 to format with strftime: {0}")]
    NotUtf8(String),
    #[error("'{0}' is not a valid strftime(3) format for -G")]
    BadFormat(String),
}

/// Checks that `template` can be formatted with strftime (with `-G`).
pub fn check_template(template: &Path, rotation: &Rotation) -> Result<(), TemplateError> {
    if rotation.seconds.is_none() {
        return Ok(());
    }
    let text = template
        .to_str()
        .ok_or_else(|| TemplateError::NotUtf8(template.display().to_string()))?;
    if StrftimeItems::new(text).any(|item| matches!(item, Item::Error)) {
        return Err(TemplateError::BadFormat(text.to_string()));
    }
    Ok(())
}

/// What to do before writing a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Write it to the current file.
    Keep,
    /// Close the current file and write it to a new file of this name.
    Rotate(PathBuf),
    /// `-G` with `-W`: the last file is done; stop the run.
    Stop,
}

/// The rotation state of one run: the current file, the counters of tcpdump's rules,
/// and the `-z` commands still running.
#[derive(Debug)]
pub struct Rotator {
    rotation: Rotation,
    template: PathBuf,
    /// Digits of the file number: those of `-W` COUNT - 1, 0 without `-W`.
    digits: usize,
    /// Number of the current file in the `-C` sequence (wraps at `-W`).
    size_count: u32,
    /// Files closed by `-G` so far.
    time_count: u32,
    /// When (Unix seconds) the current `-G` period started.
    opened_at: i64,
    current: PathBuf,
    commands: Vec<Child>,
}

impl Rotator {
    /// The rotation of a run writing to `template`, started at `now`: the first file's
    /// name is [`Rotator::current`].
    pub fn new(rotation: Rotation, template: PathBuf, now: SystemTime) -> Rotator {
        let digits = match (rotation.size, rotation.count) {
            (Some(_), Some(count)) => digits(count.saturating_sub(1)),
            _ => 0,
        };
        let opened_at = unix_seconds(now);
        let mut r = Rotator {
            rotation,
            template,
            digits,
            size_count: 0,
            time_count: 0,
            opened_at,
            current: PathBuf::new(),
            commands: Vec::new(),
        };
        r.current = r.name(0);
        r
    }

    /// The file frames go to now.
    pub fn current(&self) -> &Path {
        &self.current
    }

    /// Decides where the next frame goes, given the current file's size in bytes and
    /// the time. A [`Decision::Rotate`] makes its file the current one.
    pub fn check(&mut self, file_size: u64, now: SystemTime) -> Decision {
        if let Some(seconds) = self.rotation.seconds {
            let now = unix_seconds(now);
            if now - self.opened_at >= seconds as i64 {
                self.opened_at = now;
                self.time_count += 1;
                if self.rotation.size.is_none()
                    && self
                        .rotation
                        .count
                        .is_some_and(|count| self.time_count >= count)
                {
                    return Decision::Stop;
                }
                // The first file of a new period starts the -C numbering again.
                self.size_count = 0;
                self.current = self.name(0);
                return Decision::Rotate(self.current.clone());
            }
        }
        if let Some(size) = self.rotation.size
            && file_size > size
        {
            self.size_count += 1;
            if self
                .rotation
                .count
                .is_some_and(|count| self.size_count >= count)
            {
                self.size_count = 0;
            }
            self.current = self.name(self.size_count);
            return Decision::Rotate(self.current.clone());
        }
        Decision::Keep
    }

    /// tcpdump's MakeFilename: strftime with `-G`, then the number (none when it is
    /// 0 and there is no `-W`).
    fn name(&self, number: u32) -> PathBuf {
        let mut name = match (self.rotation.seconds, self.template.to_str()) {
            (Some(_), Some(template)) => {
                let time = DateTime::from_timestamp(self.opened_at, 0)
                    .unwrap_or_default()
                    .with_timezone(&Local);
                time.format_with_items(StrftimeItems::new(template))
                    .to_string()
                    .into()
            }
            _ => self.template.clone().into_os_string(),
        };
        if number != 0 || self.digits != 0 {
            name.push(format!("{number:0width$}", width = self.digits));
        }
        name.into()
    }

    /// Runs the `-z` command on a file a rotation closed; a command that cannot start
    /// is reported, and the capture goes on.
    pub fn closed(&mut self, file: &Path) {
        self.commands
            .retain_mut(|c| matches!(c.try_wait(), Ok(None)));
        let Some(command) = &self.rotation.command else {
            return;
        };
        match Command::new(command).arg(file).stdin(Stdio::null()).spawn() {
            Ok(child) => self.commands.push(child),
            Err(e) => eprintln!(
                "spandump: warning: cannot run {} {}: {e}",
                command.display(),
                file.display()
            ),
        }
    }

    /// Waits for the `-z` commands still running (the end of the run).
    pub fn wait_for_commands(&mut self) {
        for mut child in self.commands.drain(..) {
            let _ = child.wait();
        }
    }
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// Decimal digits of `n` (0 for 0), as tcpdump's getWflagChars.
fn digits(mut n: u32) -> usize {
    let mut d = 0;
    while n > 0 {
        d += 1;
        n /= 10;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn names(rotation: Rotation, template: &str, rotations: usize) -> Vec<String> {
        let mut r = Rotator::new(rotation, template.into(), at(1000));
        let mut names = vec![r.current().display().to_string()];
        for _ in 0..rotations {
            match r.check(u64::MAX, at(1000)) {
                Decision::Rotate(p) => names.push(p.display().to_string()),
                other => panic!("{other:?}"),
            }
        }
        names
    }

    /// Names as tcpdump 4.99.3 made them (`tcpdump -r big.pcap -w v -C 1 [-W N]`).
    #[test]
    fn size_names_as_tcpdump() {
        let c = |count| Rotation {
            size: Some(1_000_000),
            count,
            ..Rotation::default()
        };
        assert_eq!(names(c(None), "v", 3), ["v", "v1", "v2", "v3"]);
        assert_eq!(names(c(Some(2)), "u", 3), ["u0", "u1", "u0", "u1"]);
        assert_eq!(
            names(c(Some(11)), "w", 11)[9..],
            ["w09", "w10", "w00"].map(String::from)
        );
        assert_eq!(names(c(Some(1)), "x", 1), ["x", "x"]);
    }

    #[test]
    fn size_rule_is_strictly_larger_and_time_rule_comes_first() {
        let mut r = Rotator::new(
            Rotation {
                size: Some(100),
                seconds: Some(10),
                ..Rotation::default()
            },
            "f-%s-".into(),
            at(1000),
        );
        assert_eq!(r.current(), Path::new("f-1000-"));
        assert_eq!(r.check(100, at(1009)), Decision::Keep);
        assert_eq!(r.check(101, at(1009)), Decision::Rotate("f-1000-1".into()));
        assert_eq!(r.check(500, at(1010)), Decision::Rotate("f-1010-".into()));
    }

    #[test]
    fn time_with_count_stops_after_count_files() {
        let mut r = Rotator::new(
            Rotation {
                seconds: Some(5),
                count: Some(2),
                ..Rotation::default()
            },
            "t-%s".into(),
            at(1000),
        );
        assert_eq!(r.check(0, at(1004)), Decision::Keep);
        assert_eq!(r.check(0, at(1005)), Decision::Rotate("t-1005".into()));
        assert_eq!(r.check(0, at(1010)), Decision::Stop);
    }

    #[test]
    fn templates_are_checked_with_g_only() {
        let g = Rotation {
            seconds: Some(1),
            ..Rotation::default()
        };
        assert!(check_template(Path::new("a-%Y.pcap"), &g).is_ok());
        assert!(check_template(Path::new("a-%Q.pcap"), &g).is_err());
        assert!(check_template(Path::new("a-%Q.pcap"), &Rotation::default()).is_ok());
    }
}
