//! The tier policy as a pure function of the collections' state and the time, so it can
//! be tested with a fake clock.

use std::time::{Duration, SystemTime};

use akidb_core::Tier;

use crate::TierPolicy;

/// What the policy needs to know about one collection.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub name: String,
    pub tier: Tier,
    pub pinned: bool,
    pub last_access: SystemTime,
    pub bytes_in_memory: u64,
    /// Per-collection idle overrides.
    pub hot_idle: Option<Duration>,
    pub warm_idle: Option<Duration>,
}

/// The moves the policy wants, in the order they should run.
pub(crate) fn plan(
    policy: &TierPolicy,
    cold_enabled: bool,
    cands: &[Candidate],
    now: SystemTime,
) -> Vec<(String, Tier)> {
    let idle = |c: &Candidate| now.duration_since(c.last_access).unwrap_or(Duration::ZERO);
    let mut moves = Vec::new();
    let mut hot_bytes: u64 = 0;
    let mut still_hot: Vec<&Candidate> = Vec::new();
    for c in cands {
        match c.tier {
            Tier::Hot if !c.pinned && idle(c) >= c.hot_idle.unwrap_or(policy.hot_idle) => {
                moves.push((c.name.clone(), Tier::Warm));
            }
            Tier::Hot => {
                hot_bytes += c.bytes_in_memory;
                if !c.pinned {
                    still_hot.push(c);
                }
            }
            Tier::Warm
                if cold_enabled
                    && !c.pinned
                    && idle(c) >= c.warm_idle.unwrap_or(policy.warm_idle) =>
            {
                moves.push((c.name.clone(), Tier::Cold));
            }
            _ => {}
        }
    }
    if let Some(budget) = policy.hot_memory_budget {
        // Least recently used first.
        still_hot.sort_by_key(|c| c.last_access);
        for c in still_hot {
            if hot_bytes <= budget {
                break;
            }
            hot_bytes = hot_bytes.saturating_sub(c.bytes_in_memory);
            moves.push((c.name.clone(), Tier::Warm));
        }
    }
    moves
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(name: &str, tier: Tier, idle_s: u64, bytes: u64, now: SystemTime) -> Candidate {
        Candidate {
            name: name.into(),
            tier,
            pinned: false,
            last_access: now - Duration::from_secs(idle_s),
            bytes_in_memory: bytes,
            hot_idle: None,
            warm_idle: None,
        }
    }

    #[test]
    fn idle_and_budget_rules() {
        let now = SystemTime::now();
        let policy = TierPolicy {
            hot_idle: Duration::from_secs(60),
            warm_idle: Duration::from_secs(600),
            hot_memory_budget: Some(250),
            check_interval: Duration::from_secs(1),
            ..TierPolicy::default()
        };
        let mut pinned = cand("pinned", Tier::Hot, 10_000, 100, now);
        pinned.pinned = true;
        let mut override_idle = cand("short", Tier::Hot, 5, 10, now);
        override_idle.hot_idle = Some(Duration::from_secs(1));
        let cands = vec![
            cand("idle", Tier::Hot, 61, 100, now),
            cand("old", Tier::Hot, 30, 100, now),
            cand("new", Tier::Hot, 1, 100, now),
            pinned,
            override_idle,
            cand("w", Tier::Warm, 601, 0, now),
            cand("w2", Tier::Warm, 10, 0, now),
        ];
        let moves = plan(&policy, true, &cands, now);
        assert_eq!(
            moves,
            vec![
                ("idle".to_string(), Tier::Warm),
                ("short".to_string(), Tier::Warm),
                ("w".to_string(), Tier::Cold),
                // 300 hot bytes left (old, new, pinned) > 250: evict the least recently used.
                ("old".to_string(), Tier::Warm),
            ]
        );
        let moves = plan(&policy, false, &cands, now);
        assert!(!moves.contains(&("w".to_string(), Tier::Cold)));
    }
}
