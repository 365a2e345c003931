//! Short recording ids for listings: the shortest prefix that names one recording in the
//! whole store (not only among the rows shown, so a short id copied from a filtered
//! listing still works with `show`), never under [`MIN_LEN`] characters, the same width
//! on every row.
//!
//! Ids sort by start time, so ids started in the same second share their first 8
//! characters and recordings started in the same millisecond their first 10; the prefix
//! grows as needed.

use retrace::{RECORDING_ID_LEN, RecordingInfo};

/// The shortest prefix printed: 10 characters hold the full millisecond timestamp.
pub(crate) const MIN_LEN: usize = 10;

/// The prefix length that keeps every id in `shown` unique among `all`.
///
/// `all` must be sorted by id (listings are, newest first); `shown` indexes into it.
pub(crate) fn unique_len(all: &[RecordingInfo], shown: &[usize]) -> usize {
    // Ids print most significant bits first, so the printed prefixes two ids share are
    // the leading 5-bit groups of their 128-bit values that agree.
    let value = |i: usize| all[i].summary.id.as_u128();
    let common = |a: u128, b: u128| ((a ^ b).leading_zeros() as usize + 2) / 5;
    let mut len = MIN_LEN;
    for &i in shown {
        let me = value(i);
        let before = i.checked_sub(1).map_or(0, |j| common(me, value(j)));
        let after = all
            .get(i + 1)
            .map_or(0, |r| common(me, r.summary.id.as_u128()));
        len = len.max(before.max(after) + 1);
    }
    len.min(RECORDING_ID_LEN)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use retrace::store::SessionInfo;
    use retrace::{RecordingId, Summary};

    use super::*;

    fn infos(ids: &[u128]) -> Vec<RecordingInfo> {
        let session = Arc::new(SessionInfo {
            name: "s".into(),
            dir: PathBuf::from("s"),
            metadata: None,
        });
        ids.iter()
            .map(|&v| RecordingInfo {
                summary: Summary::new(RecordingId::from_u128(v)),
                session: Arc::clone(&session),
                locations: Vec::new(),
            })
            .collect()
    }

    fn by_text(all: &[RecordingInfo], i: usize) -> usize {
        let me = all[i].summary.id.to_string();
        all.iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, r)| {
                let other = r.summary.id.to_string();
                me.bytes()
                    .zip(other.bytes())
                    .take_while(|(a, b)| a == b)
                    .count()
                    + 1
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn prefixes_are_as_long_as_uniqueness_needs() {
        let base = RecordingId::from_parts(1_714_564_800_000, 0).as_u128();
        let mut ids = vec![
            base | 1,
            base | (1 << 40),
            base | (1 << 41),
            base + (5 << 80),
            base + (1 << 100),
        ];
        ids.sort_unstable_by(|a, b| b.cmp(a));
        let all = infos(&ids);
        for i in 0..all.len() {
            assert_eq!(
                unique_len(&all, &[i]),
                by_text(&all, i).max(MIN_LEN),
                "id {i}"
            );
        }
        assert_eq!(unique_len(&infos(&[base]), &[0]), MIN_LEN);
        assert_eq!(unique_len(&infos(&[base, base]), &[0]), RECORDING_ID_LEN);
    }
}
