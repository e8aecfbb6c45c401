//! The server under test: the release `usage-api serve` binary as a child process on a free
//! loopback port, its log in a file, its memory read from `/proc`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// How long start-up (migrations included) may take.
const START_DEADLINE: Duration = Duration::from_secs(90);

/// A running `usage-api serve`.
#[derive(Debug)]
pub struct Server {
    child: Option<Child>,
    pub pid: u32,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub log_path: PathBuf,
}

/// Removes ANSI colour sequences (`ESC [ … letter`) from a log line.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for next in chars.by_ref() {
                if next.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The address of the `listening address=127.0.0.1:PORT` log line, if it was written.
fn listening_address(log: &str) -> Option<String> {
    log.lines().map(strip_ansi).find_map(|line| {
        if !line.contains("listening") {
            return None;
        }
        let rest = line.split("address=").nth(1)?;
        let address = rest.split_whitespace().next()?.trim_matches('"');
        Some(address.to_owned())
    })
}

/// The last lines of a log, for error messages.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

impl Server {
    /// Starts `binary serve` on `127.0.0.1:0` and waits until it listens.
    pub fn start(
        binary: &Path,
        database_url: &str,
        dev_secret: &str,
        ingest_key: &str,
        log_path: &Path,
    ) -> anyhow::Result<Server> {
        let log = File::create(log_path)
            .with_context(|| format!("cannot create {}", log_path.display()))?;
        let child = Command::new(binary)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--database-url",
                database_url,
            ])
            .env("USAGE_API_DEV_SECRET", dev_secret)
            .env("USAGE_API_INGEST_KEYS", ingest_key)
            .env("NO_COLOR", "1")
            .env_remove("DATABASE_URL")
            .env_remove("USAGE_API_LISTEN")
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("cannot share the log file")?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let pid = child.id();
        let mut server = Server {
            child: Some(child),
            pid,
            base: String::new(),
            log_path: log_path.to_owned(),
        };
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(log_path).unwrap_or_default();
            if let Some(address) = listening_address(&text) {
                server.base = format!("http://{address}");
                return Ok(server);
            }
            if let Some(child) = server.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                server.child = None;
                bail!(
                    "usage-api exited at start-up ({status}); its log ends with:\n{}",
                    tail(log_path)
                );
            }
            if started.elapsed() > START_DEADLINE {
                bail!(
                    "usage-api did not listen within {START_DEADLINE:?}; its log ends with:\n{}",
                    tail(log_path)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A `kB` field of `/proc/PID/status` (`VmHWM`: peak resident set; `VmRSS`: current).
    pub fn memory_kib(&self, field: &str) -> anyhow::Result<u64> {
        let path = format!("/proc/{}/status", self.pid);
        let status =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
            .with_context(|| format!("no {field} in {path}"))
    }

    /// Whether the child is still running.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(child) = self.child.as_mut()
            && let Some(status) = child.try_wait()?
        {
            self.child = None;
            bail!(
                "usage-api died ({status}); its log ends with:\n{}",
                tail(&self.log_path)
            );
        }
        Ok(())
    }

    /// Sends SIGTERM to the child and waits for it to finish (graceful shutdown).
    pub fn stop(&mut self, grace: Duration) -> anyhow::Result<Option<ExitStatus>> {
        let Some(mut child) = self.child.take() else {
            return Ok(None);
        };
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .context("cannot run kill")?;
        if !sent.success() {
            child.kill().ok();
            bail!("kill -TERM {} failed", self.pid);
        }
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(Some(status));
            }
            if started.elapsed() > grace {
                child.kill().ok();
                child.wait().ok();
                bail!("usage-api did not stop within {grace:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.is_some()
            && let Err(error) = self.stop(Duration::from_secs(10))
        {
            eprintln!("warning: {error:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_address_with_or_without_colours() {
        let plain =
            "2025-01-01T00:00:00Z  INFO usage_api::commands: listening address=127.0.0.1:41234\n";
        assert_eq!(listening_address(plain).as_deref(), Some("127.0.0.1:41234"));
        let coloured = "\u{1b}[2m2025\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m listening \u{1b}[3maddress\u{1b}[0m\u{1b}[2m=\u{1b}[0m127.0.0.1:5 \n";
        assert_eq!(listening_address(coloured).as_deref(), Some("127.0.0.1:5"));
        assert_eq!(listening_address("starting\n"), None);
    }
}
