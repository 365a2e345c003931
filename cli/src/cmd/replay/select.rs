//! Which recordings a replay sends, and in what order. The filters (shared with `ls`)
//! decide which recordings qualify; `--strategy` decides which of them `--limit` keeps.
//! Whatever the strategy, the kept recordings are sent oldest first, so that recorded
//! gaps between them mean something. A pure function of summaries (and a seed), so
//! tests check it without a store.

use std::cmp::Reverse;

use clap::ValueEnum;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// Which recordings `--limit` keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub(crate) enum Strategy {
    /// The newest
    #[default]
    Latest,
    /// A random sample (repeatable with --seed)
    Random,
    /// The largest by recorded size (the SIZE column of `ls`)
    Largest,
    /// The smallest by recorded size
    Smallest,
}

/// What selection reads of a recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// When the recorded request arrived, in microseconds since the Unix epoch.
    pub(crate) started_unix_us: u64,
    /// Its recorded size.
    pub(crate) bytes: u64,
}

/// Keeps at most `limit` of `candidates`, chosen by `strategy` (`seed` drives
/// [`Strategy::Random`]), and returns their indices oldest first: the order they are
/// sent in. Ties keep the candidates' order.
pub(crate) fn select(
    candidates: &[Candidate],
    strategy: Strategy,
    limit: Option<usize>,
    seed: u64,
) -> Vec<usize> {
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    let c = |i: usize| candidates[i];
    match strategy {
        Strategy::Latest => order.sort_by_key(|&i| Reverse(c(i).started_unix_us)),
        Strategy::Largest => {
            order.sort_by_key(|&i| (Reverse(c(i).bytes), Reverse(c(i).started_unix_us)));
        }
        Strategy::Smallest => order.sort_by_key(|&i| (c(i).bytes, Reverse(c(i).started_unix_us))),
        Strategy::Random => order.shuffle(&mut StdRng::seed_from_u64(seed)),
    }
    order.truncate(limit.unwrap_or(usize::MAX));
    order.sort_by_key(|&i| (c(i).started_unix_us, i));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Five recordings, one second apart, of sizes 30, 10, 50, 20, 40 bytes.
    fn five() -> Vec<Candidate> {
        [30, 10, 50, 20, 40]
            .iter()
            .enumerate()
            .map(|(i, &bytes)| Candidate {
                started_unix_us: 1_000_000 * (i as u64 + 1),
                bytes,
            })
            .collect()
    }

    #[test]
    fn without_a_limit_every_recording_is_sent_oldest_first() {
        let mut shuffled = five();
        shuffled.reverse();
        for strategy in Strategy::value_variants() {
            assert_eq!(select(&shuffled, *strategy, None, 7), [4, 3, 2, 1, 0]);
        }
    }

    #[test]
    fn latest_keeps_the_newest() {
        assert_eq!(select(&five(), Strategy::Latest, Some(2), 0), [3, 4]);
    }

    #[test]
    fn largest_and_smallest_keep_by_size_and_send_in_recorded_order() {
        assert_eq!(select(&five(), Strategy::Largest, Some(2), 0), [2, 4]);
        assert_eq!(select(&five(), Strategy::Smallest, Some(3), 0), [0, 1, 3]);
    }

    #[test]
    fn random_is_a_sample_repeatable_by_seed() {
        let picks: Vec<Vec<usize>> = (0..20)
            .map(|seed| select(&five(), Strategy::Random, Some(2), seed))
            .collect();
        for pick in &picks {
            assert_eq!(pick.len(), 2);
            assert!(pick[0] < pick[1], "{pick:?}");
        }
        assert_eq!(picks[3], select(&five(), Strategy::Random, Some(2), 3));
        assert!(
            picks.iter().any(|p| p != &picks[0]),
            "the seed changes the pick"
        );
    }

    #[test]
    fn a_limit_above_the_count_keeps_everything() {
        assert_eq!(select(&five(), Strategy::Largest, Some(99), 0).len(), 5);
        assert!(select(&[], Strategy::Latest, Some(3), 0).is_empty());
    }
}
