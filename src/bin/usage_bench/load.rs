//! Load with `wrk`: a Lua script per target (method, body, headers, and a check of every
//! response), and a parser for what `wrk` prints.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};

/// What to load.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    /// `None`: GET; `Some(body)`: POST of a JSON body.
    pub post_json: Option<String>,
    pub bearer: Option<String>,
}

/// How hard.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub threads: u32,
    pub connections: u32,
    pub seconds: u32,
}

/// One `wrk` run.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    pub requests: u64,
    pub requests_per_second: f64,
    pub socket_errors: u64,
    /// Responses with a status of 400 or more.
    pub bad_status: u64,
    /// 2xx responses whose body carries GraphQL `errors`.
    pub body_errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl LoadResult {
    pub fn errors(&self) -> u64 {
        self.socket_errors + self.bad_status + self.body_errors
    }
}

/// A Lua long string that cannot be closed by `text`.
fn lua_string(text: &str) -> String {
    let mut level = 1;
    loop {
        let close = format!("]{}]", "=".repeat(level));
        if !text.contains(&close) {
            let open = format!("[{}[", "=".repeat(level));
            return format!("{open}{text}{close}");
        }
        level += 1;
    }
}

/// The script: the request, a check of each response, and a machine-readable summary line.
fn script(target: &Target) -> String {
    let mut lua = String::new();
    if let Some(body) = &target.post_json {
        lua.push_str("wrk.method = \"POST\"\n");
        lua.push_str(&format!("wrk.body = {}\n", lua_string(body)));
        lua.push_str("wrk.headers[\"Content-Type\"] = \"application/json\"\n");
    }
    if let Some(token) = &target.bearer {
        lua.push_str(&format!(
            "wrk.headers[\"Authorization\"] = {}\n",
            lua_string(&format!("Bearer {token}"))
        ));
    }
    lua.push_str(
        r#"
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  body_errors = 0
end

function response(status, headers, body)
  if status < 400 and string.find(body, '"errors"', 1, true) then
    body_errors = body_errors + 1
  end
end

function done(summary, latency, requests)
  local body_errors = 0
  for _, thread in ipairs(threads) do
    body_errors = body_errors + thread:get("body_errors")
  end
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d connect=%d read=%d write=%d timeout=%d status=%d body_errors=%d p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status, body_errors,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"#,
    );
    lua
}

fn field(line: &str, name: &str) -> anyhow::Result<u64> {
    line.split_whitespace()
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        .with_context(|| format!("no {name} in wrk's summary line"))?
        .parse()
        .with_context(|| format!("{name} in wrk's summary line is not a number"))
}

/// Reads wrk's output: the script's `BENCH …` line, cross-checked with `Requests/sec:` and the
/// `Non-2xx or 3xx responses:` and `Socket errors:` lines.
pub fn parse(output: &str) -> anyhow::Result<LoadResult> {
    let line = output
        .lines()
        .find(|line| line.starts_with("BENCH "))
        .context("wrk printed no summary line")?;
    let requests = field(line, "requests")?;
    let duration_us = field(line, "duration_us")?;
    let socket_errors = ["connect", "read", "write", "timeout"]
        .iter()
        .map(|name| field(line, name))
        .sum::<anyhow::Result<u64>>()?;
    let mut result = LoadResult {
        requests,
        requests_per_second: if duration_us == 0 {
            0.0
        } else {
            requests as f64 * 1e6 / duration_us as f64
        },
        socket_errors,
        bad_status: field(line, "status")?,
        body_errors: field(line, "body_errors")?,
        p50_ms: field(line, "p50_us")? as f64 / 1e3,
        p99_ms: field(line, "p99_us")? as f64 / 1e3,
        max_ms: field(line, "max_us")? as f64 / 1e3,
    };
    for line in output.lines().map(str::trim) {
        if let Some(value) = line.strip_prefix("Requests/sec:") {
            result.requests_per_second = value
                .trim()
                .parse()
                .context("wrk's Requests/sec is not a number")?;
        } else if let Some(value) = line.strip_prefix("Non-2xx or 3xx responses:") {
            let non_2xx: u64 = value
                .trim()
                .parse()
                .context("wrk's Non-2xx count is not a number")?;
            result.bad_status = result.bad_status.max(non_2xx);
        } else if let Some(value) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            let total: u64 = value
                .split(',')
                .filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum();
            result.socket_errors = result.socket_errors.max(total);
        }
    }
    Ok(result)
}

/// Whether `wrk` can be run.
pub fn available(wrk: &Path) -> bool {
    Command::new(wrk).arg("--version").output().is_ok()
}

/// Runs `wrk` against `target`; the script is written next to the other work files.
pub fn run(
    wrk: &Path,
    target: &Target,
    shape: Shape,
    script_path: PathBuf,
) -> anyhow::Result<LoadResult> {
    std::fs::write(&script_path, script(target))
        .with_context(|| format!("cannot write {}", script_path.display()))?;
    let output = Command::new(wrk)
        .arg(format!("-t{}", shape.threads))
        .arg(format!("-c{}", shape.connections))
        .arg(format!("-d{}s", shape.seconds))
        .arg("--latency")
        .arg("-s")
        .arg(&script_path)
        .arg(&target.url)
        .output()
        .with_context(|| format!("cannot run {}", wrk.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed ({}): {}{}",
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse(&stdout).with_context(|| format!("cannot read wrk's output:\n{stdout}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "Running 3s test @ http://127.0.0.1:4000/graphql
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    10.38ms    2.16ms  31.20ms   80.00%
    Req/Sec     3.09k   233.31     3.52k    71.67%
  18478 requests in 3.00s, 41.13MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   6158.96
Transfer/sec:     13.71MB
BENCH requests=18478 duration_us=3000190 connect=0 read=2 write=0 timeout=1 status=4 body_errors=5 p50_us=10010 p99_us=18300 max_us=31200
";

    #[test]
    fn parses_wrk_output() -> anyhow::Result<()> {
        let result = parse(OUTPUT)?;
        assert_eq!(result.requests, 18_478);
        assert!((result.requests_per_second - 6_158.96).abs() < 1e-9);
        assert_eq!(result.socket_errors, 3);
        assert_eq!(result.bad_status, 4);
        assert_eq!(result.body_errors, 5);
        assert_eq!(result.errors(), 12);
        assert!((result.p99_ms - 18.3).abs() < 1e-9);
        Ok(())
    }

    #[test]
    fn lua_strings_cannot_be_closed_early() {
        assert_eq!(lua_string("abc"), "[=[abc]=]");
        assert_eq!(lua_string("a]=]b"), "[==[a]=]b]==]");
    }
}
