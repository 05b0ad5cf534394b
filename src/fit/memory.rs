//! Memory checks before a fit allocates: what a stored sample needs and what the
//! process may use (so that a too-large m is a clear error, not an abort).

use crate::model::blocks::Blocks;
use crate::model::Model;

/// Bytes the stored sample of `blocks` needs at `m` draws per block: the draws, `log f~`
/// and the sums of squares, 8 bytes each.
pub fn stored_sample_bytes(model: &Model, blocks: &Blocks, m: usize) -> f64 {
    let per_draw: usize = blocks
        .blocks
        .iter()
        .map(|b| b.q() + model.n_varcomps() + 1)
        .sum();
    8.0 * per_draw as f64
        * m.div_ceil(crate::integrate::fixed_sample::sampler::CHUNK) as f64
        * crate::integrate::fixed_sample::sampler::CHUNK as f64
}

/// Memory available to this process, if known: the tightest of the system's `MemAvailable`,
/// the cgroup memory limit (v2 `memory.max` less `memory.current`, or v1
/// `memory.limit_in_bytes` less `memory.usage_in_bytes`) and the address-space limit
/// (`ulimit -v`, less the address space already mapped).  Linux only; `None` elsewhere.
pub fn available_memory_bytes() -> Option<f64> {
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let mut limits: Vec<f64> = Vec::new();
    if let Some(info) = read("/proc/meminfo") {
        if let Some(kb) = field_kb(&info, "MemAvailable:") {
            limits.push(kb * 1024.0);
        }
    }
    // cgroup v2 (the process's own cgroup, as listed in /proc/self/cgroup) or v1
    let cg_dir = read("/proc/self/cgroup")
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("0::").map(|p| p.trim().to_string()))
        })
        .map(|p| format!("/sys/fs/cgroup{}", if p == "/" { "" } else { &p }));
    let number = |p: &str| read(p).and_then(|t| t.trim().parse::<f64>().ok());
    let mut cgroup = None;
    if let Some(dir) = &cg_dir {
        if let Some(max) = number(&format!("{dir}/memory.max")) {
            let cur = number(&format!("{dir}/memory.current")).unwrap_or(0.0);
            cgroup = Some(max - cur);
        }
    }
    if cgroup.is_none() {
        if let Some(max) = number("/sys/fs/cgroup/memory.max") {
            cgroup = Some(max - number("/sys/fs/cgroup/memory.current").unwrap_or(0.0));
        } else if let Some(max) = number("/sys/fs/cgroup/memory/memory.limit_in_bytes") {
            // v1 reports "no limit" as a huge number
            if max < 1e18 {
                let cur = number("/sys/fs/cgroup/memory/memory.usage_in_bytes").unwrap_or(0.0);
                cgroup = Some(max - cur);
            }
        }
    }
    limits.extend(cgroup);
    // ulimit -v: "Max address space" in /proc/self/limits (bytes, or "unlimited")
    if let Some(lim) = read("/proc/self/limits") {
        let soft = lim
            .lines()
            .find(|l| l.starts_with("Max address space"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse::<f64>().ok());
        if let Some(soft) = soft {
            let used = read("/proc/self/status")
                .and_then(|st| field_kb(&st, "VmSize:"))
                .map(|kb| kb * 1024.0)
                .unwrap_or(0.0);
            limits.push(soft - used);
        }
    }
    limits
        .into_iter()
        .filter(|v| !v.is_nan())
        .map(|v| v.max(0.0))
        .reduce(f64::min)
}

/// The number of kB on the line of `text` that starts with `key` (`/proc` format).
fn field_kb(text: &str, key: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(key))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
