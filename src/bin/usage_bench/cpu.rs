//! CPU time from `/proc`: of the server process (all its threads) and of the whole machine,
//! to tell how busy the two were during a phase of the benchmark.

use std::process::Command;

use anyhow::Context as _;

/// Clock ticks per second of `/proc` figures (`getconf CLK_TCK`, 100 on Linux in practice).
fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|output| String::from_utf8(output.stdout).ok())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|ticks| *ticks > 0.0)
        .unwrap_or(100.0)
}

/// CPU seconds used by a process so far (user + system, all threads).
pub fn process_seconds(pid: u32) -> anyhow::Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    // The command name is in parentheses and may contain spaces: count fields after it.
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("unexpected /proc/PID/stat")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of the file; the first after the name is field 3.
    let ticks: u64 = [11, 12]
        .iter()
        .map(|&index| {
            fields
                .get(index)
                .and_then(|field| field.parse::<u64>().ok())
                .unwrap_or(0)
        })
        .sum();
    Ok(ticks as f64 / ticks_per_second())
}

/// Busy and total CPU seconds of the machine so far, summed over every core.
pub fn machine_seconds() -> anyhow::Result<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").context("cannot read /proc/stat")?;
    let line = stat
        .lines()
        .find(|line| line.starts_with("cpu "))
        .context("no cpu line in /proc/stat")?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = values.iter().take(8).sum();
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    let ticks = ticks_per_second();
    Ok(((total - idle) as f64 / ticks, total as f64 / ticks))
}

/// CPU use over a phase: the server's and the machine's.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// Server CPU seconds.
    pub server: f64,
    /// Machine busy seconds (all processes, all cores).
    pub machine_busy: f64,
    /// Machine available seconds (wall time × cores).
    pub machine_total: f64,
    pub wall: f64,
}

impl Usage {
    /// The server's CPU as a share of one core.
    pub fn server_cores(&self) -> f64 {
        self.server / self.wall.max(1e-9)
    }

    /// How busy the machine was, from 0 to 1.
    pub fn machine_busy_fraction(&self) -> f64 {
        self.machine_busy / self.machine_total.max(1e-9)
    }
}

/// A starting point to measure a phase from.
#[derive(Debug, Clone, Copy)]
pub struct Mark {
    server: f64,
    busy: f64,
    total: f64,
    at: std::time::Instant,
}

impl Mark {
    pub fn now(pid: u32) -> anyhow::Result<Mark> {
        let (busy, total) = machine_seconds()?;
        Ok(Mark {
            server: process_seconds(pid)?,
            busy,
            total,
            at: std::time::Instant::now(),
        })
    }

    pub fn usage(&self, pid: u32) -> anyhow::Result<Usage> {
        let (busy, total) = machine_seconds()?;
        Ok(Usage {
            server: process_seconds(pid)? - self.server,
            machine_busy: busy - self.busy,
            machine_total: total - self.total,
            wall: self.at.elapsed().as_secs_f64(),
        })
    }
}
