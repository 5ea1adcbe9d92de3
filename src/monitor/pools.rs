//! Pool health and capacity for `check --pools` (what sanoid's `--monitor-health` and
//! `--monitor-capacity` give): from `zpool list` facts and the capacity thresholds to one
//! record per pool with a state, a reason and what to do.
//!
//! Pure: no I/O. `zfs::pool_facts` reads the facts, `cmd::check` passes them in.

use super::State;

/// One pool as `zpool list -H -p -o name,health,size,allocated,free,capacity` shows it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PoolFacts {
    /// Pool name.
    pub name: String,
    /// `ONLINE`, `DEGRADED`, `FAULTED`, `OFFLINE`, `UNAVAIL`, `REMOVED`, `SUSPENDED`.
    pub health: String,
    /// Bytes.
    pub size: u64,
    /// Bytes.
    pub allocated: u64,
    /// Bytes.
    pub free: u64,
    /// Percent full (0–100).
    pub capacity: u64,
}

/// Capacity thresholds in percent, validated `0 < warn <= crit <= 100`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CapacityThresholds {
    warn: u64,
    crit: u64,
}

/// Default warning threshold (sanoid's `capacity_warn`).
pub const DEFAULT_CAPACITY_WARN: u64 = 80;
/// Default critical threshold (sanoid's `capacity_crit`).
pub const DEFAULT_CAPACITY_CRIT: u64 = 95;

impl CapacityThresholds {
    /// `warn` and `crit` percent.
    pub fn new(warn: u64, crit: u64) -> Result<CapacityThresholds, String> {
        if warn == 0 || crit > 100 || warn > crit {
            return Err(format!(
                "capacity thresholds must be 1-100 % with --capacity-warn <= --capacity-crit \
                 (got {warn} and {crit})"
            ));
        }
        Ok(CapacityThresholds { warn, crit })
    }

    /// Warning threshold, percent.
    pub fn warn(&self) -> u64 {
        self.warn
    }

    /// Critical threshold, percent.
    pub fn crit(&self) -> u64 {
        self.crit
    }
}

impl Default for CapacityThresholds {
    fn default() -> Self {
        CapacityThresholds {
            warn: DEFAULT_CAPACITY_WARN,
            crit: DEFAULT_CAPACITY_CRIT,
        }
    }
}

/// One pool's verdict.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PoolRecord {
    /// Pool name.
    pub pool: String,
    /// `OK`, `WARN` or `CRIT`.
    pub state: State,
    /// Why, in one sentence.
    pub reason: String,
    /// What to do, when the state alerts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// `zpool list`'s health.
    pub health: String,
    /// Percent full.
    pub capacity_percent: u64,
    /// Bytes.
    pub size_bytes: u64,
    /// Bytes.
    pub allocated_bytes: u64,
    /// Bytes.
    pub free_bytes: u64,
}

/// Evaluates each pool: health `ONLINE` is OK, `DEGRADED` WARN, anything else CRIT; at or
/// above the capacity thresholds WARN / CRIT; the worse of the two. Worst first, then by name.
pub fn evaluate_pools(facts: &[PoolFacts], t: &CapacityThresholds) -> Vec<PoolRecord> {
    let mut out: Vec<PoolRecord> = facts
        .iter()
        .map(|p| {
            let health = match p.health.as_str() {
                "ONLINE" => State::Ok,
                "DEGRADED" => State::Warn,
                _ => State::Crit,
            };
            let cap = if p.capacity >= t.crit {
                State::Crit
            } else if p.capacity >= t.warn {
                State::Warn
            } else {
                State::Ok
            };
            let mut reason = format!(
                "{}, {} % full ({} free; warn {} %, crit {} %)",
                p.health,
                p.capacity,
                bytes(p.free),
                t.warn,
                t.crit
            );
            let mut actions = Vec::new();
            if health != State::Ok {
                actions.push(format!(
                    "zpool status -v {}: replace or bring back the failed device",
                    p.name
                ));
            }
            if cap != State::Ok {
                actions.push(format!(
                    "free space on {} (new snapshots fail when it is full; fewer snapshots \
                     of ours: lower the KEEP counts, the next run destroys the extra)",
                    p.name
                ));
            }
            if health == State::Ok && cap == State::Ok {
                reason = format!("{}, {} % full", p.health, p.capacity);
            }
            PoolRecord {
                pool: p.name.clone(),
                state: health.max(cap),
                reason,
                action: (!actions.is_empty()).then(|| actions.join("; ")),
                health: p.health.clone(),
                capacity_percent: p.capacity,
                size_bytes: p.size,
                allocated_bytes: p.allocated,
                free_bytes: p.free,
            }
        })
        .collect();
    out.sort_by(|a, b| b.state.cmp(&a.state).then(a.pool.cmp(&b.pool)));
    out
}

/// `1.5G`-style size (powers of 1024, one decimal).
fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "K", "M", "G", "T", "P"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        format!("{v:.1}{}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(name: &str, health: &str, capacity: u64) -> PoolFacts {
        let size = 100u64 << 30;
        PoolFacts {
            name: name.into(),
            health: health.into(),
            size,
            allocated: size / 100 * capacity,
            free: size - size / 100 * capacity,
            capacity,
        }
    }

    #[test]
    fn health_and_capacity_table() {
        let t = CapacityThresholds::new(80, 95).unwrap();
        let cases = [
            ("ONLINE", 1, State::Ok),
            ("ONLINE", 79, State::Ok),
            ("ONLINE", 80, State::Warn),
            ("ONLINE", 95, State::Crit),
            ("DEGRADED", 1, State::Warn),
            ("DEGRADED", 96, State::Crit),
            ("FAULTED", 1, State::Crit),
            ("SUSPENDED", 1, State::Crit),
            ("UNAVAIL", 1, State::Crit),
        ];
        for (h, c, want) in cases {
            let r = &evaluate_pools(&[facts("p", h, c)], &t)[0];
            assert_eq!(r.state, want, "{h} {c}%: {r:?}");
            assert_eq!(r.action.is_some(), want != State::Ok, "{r:?}");
        }
        let r = evaluate_pools(&[facts("a", "ONLINE", 1), facts("b", "DEGRADED", 90)], &t);
        assert_eq!(r[0].pool, "b");
        assert_eq!(
            r[0].reason,
            "DEGRADED, 90 % full (10.0G free; warn 80 %, crit 95 %)"
        );
        assert!(CapacityThresholds::new(90, 80).is_err());
        assert!(CapacityThresholds::new(0, 80).is_err());
        assert!(CapacityThresholds::new(80, 101).is_err());
    }
}
