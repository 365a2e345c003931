//! When each request is sent: a pure function from the recordings' start times and the
//! pace to a list of offsets from the start of the replay. The sender only sleeps until
//! each offset, so pacing is tested here, on numbers, never against a clock.
//!
//! - **Recorded pace**: the gaps between the recorded start times, divided by the
//!   speed. With `--loop`, the next pass starts one average gap after the last request
//!   of the previous one (one second, divided by the speed, when there is no gap to
//!   average: a single recording, or all at the same instant).
//! - **Maximum rate**: request `i` (counted across passes) at `i / rate` seconds.
//! - **As fast as possible**: no offsets; each request goes as soon as one of the
//!   `--concurrency` slots is free.
//!
//! A duration bound ends the schedule before the first offset at or past it; an
//! as-fast-as-possible loop has no offsets, so the sender stops it by the clock.

use std::time::Duration;

/// How fast requests are sent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Pace {
    /// The recorded gaps divided by this factor (> 0).
    Recorded {
        /// 2.0 sends twice as fast as recorded.
        speed: f64,
    },
    /// At most this many requests per second (> 0), evenly spaced.
    MaxRate(f64),
    /// As fast as the concurrency allows.
    Asap,
}

/// One send: which recording (an index into the selection) and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Send {
    /// The recording, as an index into the selection.
    pub(crate) recording: usize,
    /// The offset from the start; `None` means as soon as a slot is free.
    pub(crate) at: Option<Duration>,
    /// Which pass over the selection this send belongs to, from 1 (above 1 only with
    /// `--loop`).
    pub(crate) pass: u64,
}

/// When the gap before a loop's next pass cannot be averaged: one second.
const LONE_GAP_US: u64 = 1_000_000;

#[derive(Clone, Debug)]
enum Offsets {
    /// One pass's offsets and the length of a pass, in microseconds.
    Recorded {
        pass: Vec<u64>,
        period_us: u64,
    },
    /// Microseconds between requests.
    Rate {
        interval_us: f64,
    },
    Asap,
}

/// The send schedule: an iterator of [`Send`]s in order. Finite unless it loops as
/// fast as possible.
#[derive(Clone, Debug)]
pub(crate) struct Schedule {
    offsets: Offsets,
    count: usize,
    repeat: bool,
    bound_us: Option<u64>,
    next: usize,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn scaled(us: u64, speed: f64) -> u64 {
    // Saturating float-to-int conversion: an absurd speed cannot wrap around.
    (us as f64 / speed).round() as u64
}

impl Schedule {
    /// The schedule for recordings that started at `starts_us` (microseconds since the
    /// Unix epoch, oldest first, as [`select`](super::select::select) orders them).
    /// With `repeat`, the selection is sent again and again; `bound` ends the schedule
    /// (required with `repeat` unless the pace is [`Pace::Asap`], which the sender
    /// bounds by the clock).
    pub(crate) fn new(
        starts_us: &[u64],
        pace: Pace,
        repeat: bool,
        bound: Option<Duration>,
    ) -> Self {
        let offsets = match pace {
            Pace::Recorded { speed } => {
                let first = starts_us.first().copied().unwrap_or(0);
                let pass: Vec<u64> = starts_us
                    .iter()
                    .map(|&s| scaled(s.saturating_sub(first), speed))
                    .collect();
                let span = starts_us.last().map_or(0, |&l| l.saturating_sub(first));
                let gaps = starts_us.len().saturating_sub(1) as u64;
                let gap = if gaps > 0 && span > 0 {
                    span / gaps
                } else {
                    LONE_GAP_US
                };
                Offsets::Recorded {
                    pass,
                    period_us: scaled(span + gap, speed).max(1),
                }
            }
            Pace::MaxRate(rate) => Offsets::Rate {
                interval_us: 1e6 / rate,
            },
            Pace::Asap => Offsets::Asap,
        };
        Self {
            offsets,
            count: starts_us.len(),
            repeat,
            bound_us: bound.map(micros),
            next: 0,
        }
    }

    /// How many sends the schedule holds, if it is finite.
    pub(crate) fn total(&self) -> Option<u64> {
        if self.repeat && matches!(self.offsets, Offsets::Asap) {
            return None;
        }
        Some(self.clone().count() as u64)
    }

    /// The offset of the last send, for a finite, paced schedule.
    pub(crate) fn last_offset(&self) -> Option<Duration> {
        self.total()?;
        self.clone().last().and_then(|s| s.at)
    }
}

impl Iterator for Schedule {
    type Item = Send;

    fn next(&mut self) -> Option<Send> {
        if self.count == 0 || (!self.repeat && self.next >= self.count) {
            return None;
        }
        let recording = self.next % self.count;
        let pass = (self.next / self.count) as u64;
        let at = match &self.offsets {
            Offsets::Recorded { pass: p, period_us } => {
                Some(pass.saturating_mul(*period_us).saturating_add(p[recording]))
            }
            Offsets::Rate { interval_us } => Some((self.next as f64 * interval_us).round() as u64),
            Offsets::Asap => None,
        };
        if let (Some(at), Some(bound)) = (at, self.bound_us)
            && at >= bound
        {
            self.count = 0;
            return None;
        }
        self.next += 1;
        Some(Send {
            recording,
            at: at.map(Duration::from_micros),
            pass: pass + 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;
    const MS: u64 = 1_000;

    fn offsets_ms(schedule: Schedule) -> Vec<(usize, u64)> {
        schedule
            .map(|s| (s.recording, micros(s.at.expect("paced")) / MS))
            .collect()
    }

    /// Recordings at 100 s, 101 s, 103 s and 103.5 s after the epoch.
    const STARTS: [u64; 4] = [100 * S, 101 * S, 103 * S, 103 * S + 500 * MS];

    #[test]
    fn the_recorded_pace_keeps_the_recorded_gaps() {
        let schedule = Schedule::new(&STARTS, Pace::Recorded { speed: 1.0 }, false, None);
        assert_eq!(schedule.total(), Some(4));
        assert_eq!(
            offsets_ms(schedule),
            [(0, 0), (1, 1000), (2, 3000), (3, 3500)]
        );
    }

    #[test]
    fn speed_two_halves_every_gap_and_half_speed_doubles_them() {
        let fast = Schedule::new(&STARTS, Pace::Recorded { speed: 2.0 }, false, None);
        assert_eq!(offsets_ms(fast), [(0, 0), (1, 500), (2, 1500), (3, 1750)]);
        let slow = Schedule::new(&STARTS, Pace::Recorded { speed: 0.5 }, false, None);
        assert_eq!(slow.last_offset(), Some(Duration::from_secs(7)));
    }

    #[test]
    fn a_maximum_rate_spaces_requests_evenly_whatever_was_recorded() {
        let schedule = Schedule::new(&STARTS, Pace::MaxRate(4.0), false, None);
        assert_eq!(offsets_ms(schedule), [(0, 0), (1, 250), (2, 500), (3, 750)]);
        // A rate that does not divide a second stays exact over many requests.
        let schedule = Schedule::new(
            &[0; 3],
            Pace::MaxRate(3.0),
            true,
            Some(Duration::from_secs(100)),
        );
        let last = schedule.clone().last().unwrap();
        assert_eq!(schedule.total(), Some(300));
        assert_eq!(last.at, Some(Duration::from_micros(99_666_667)));
    }

    #[test]
    fn as_fast_as_possible_has_no_offsets() {
        let schedule = Schedule::new(&STARTS, Pace::Asap, false, None);
        assert_eq!(schedule.total(), Some(4));
        assert!(schedule.clone().all(|s| s.at.is_none()));
        assert_eq!(schedule.last_offset(), None);
        // Looping, it never ends by itself: the sender stops it by the clock.
        let looping = Schedule::new(&STARTS, Pace::Asap, true, Some(Duration::from_secs(1)));
        assert_eq!(looping.total(), None);
        let first: Vec<usize> = looping.take(10).map(|s| s.recording).collect();
        assert_eq!(first, [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]);
    }

    #[test]
    fn a_loop_repeats_the_recorded_pace_until_the_bound() {
        // A pass spans 3.5 s plus one average gap (3.5 s / 3) before the next.
        let schedule = Schedule::new(
            &STARTS,
            Pace::Recorded { speed: 1.0 },
            true,
            Some(Duration::from_secs(10)),
        );
        assert_eq!(
            offsets_ms(schedule),
            [
                (0, 0),
                (1, 1000),
                (2, 3000),
                (3, 3500),
                (0, 4666),
                (1, 5666),
                (2, 7666),
                (3, 8166),
                (0, 9333),
            ]
        );
        // At twice the speed, twice as many sends fit in the same bound.
        let fast = Schedule::new(
            &STARTS,
            Pace::Recorded { speed: 2.0 },
            true,
            Some(Duration::from_secs(10)),
        );
        assert_eq!(fast.total(), Some(18));
    }

    #[test]
    fn a_loop_at_a_maximum_rate_sends_rate_times_duration() {
        let schedule = Schedule::new(
            &STARTS,
            Pace::MaxRate(50.0),
            true,
            Some(Duration::from_secs(2)),
        );
        assert_eq!(schedule.total(), Some(100));
        let sends: Vec<Send> = schedule.collect();
        assert!(sends.iter().all(|s| s.at < Some(Duration::from_secs(2))));
        assert_eq!(sends[99].recording, 3);
        assert_eq!(sends[99].at, Some(Duration::from_millis(1980)));
    }

    #[test]
    fn a_bound_also_cuts_a_single_pass() {
        let schedule = Schedule::new(
            &STARTS,
            Pace::Recorded { speed: 1.0 },
            false,
            Some(Duration::from_secs(2)),
        );
        assert_eq!(offsets_ms(schedule), [(0, 0), (1, 1000)]);
    }

    #[test]
    fn a_lone_recording_loops_once_a_second_over_the_speed() {
        let schedule = Schedule::new(
            &[42 * S],
            Pace::Recorded { speed: 4.0 },
            true,
            Some(Duration::from_secs(1)),
        );
        assert_eq!(offsets_ms(schedule), [(0, 0), (0, 250), (0, 500), (0, 750)]);
        // Recordings at one instant loop the same way instead of spinning.
        let same = Schedule::new(
            &[S, S],
            Pace::Recorded { speed: 1.0 },
            true,
            Some(Duration::from_secs(2)),
        );
        assert_eq!(offsets_ms(same), [(0, 0), (1, 0), (0, 1000), (1, 1000)]);
    }

    #[test]
    fn nothing_selected_is_an_empty_schedule() {
        for pace in [
            Pace::Recorded { speed: 1.0 },
            Pace::MaxRate(10.0),
            Pace::Asap,
        ] {
            let schedule = Schedule::new(&[], pace, true, Some(Duration::from_secs(1)));
            assert_eq!(schedule.total(), Some(0).filter(|_| pace != Pace::Asap));
            assert_eq!(schedule.count(), 0);
        }
    }
}
