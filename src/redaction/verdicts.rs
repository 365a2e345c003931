//! The name test's verdicts, remembered over one pass.
//!
//! The secret-name test normalises a name and runs every rule over it, hundreds of
//! instructions, and one pass meets the same few names over and over: the fields of
//! each row an encoding writes, the members of each element of a JSON array, the words
//! of a page around a short stem (every `<span>` holds `pan`). So each pass keeps its
//! last few verdicts, under whatever key suits what it walks: a field name's address,
//! a member name, a range of the text.

/// The verdicts on the last `N` names a pass tested, each under a key.
pub(super) struct Verdicts<K, const N: usize> {
    seen: [Option<(K, bool)>; N],
    /// Where the next verdict goes, in place of the oldest.
    next: usize,
}

impl<K, const N: usize> Default for Verdicts<K, N> {
    fn default() -> Self {
        Self {
            seen: [const { None }; N],
            next: 0,
        }
    }
}

impl<K, const N: usize> Verdicts<K, N> {
    /// The verdict remembered under a key `is_key` accepts; otherwise `test`'s,
    /// remembered under `key()`.
    pub(super) fn get_or_test(
        &mut self,
        is_key: impl Fn(&K) -> bool,
        key: impl FnOnce() -> K,
        test: impl FnOnce() -> bool,
    ) -> bool {
        if let Some(secret) = self
            .seen
            .iter()
            .flatten()
            .find_map(|(known, secret)| is_key(known).then_some(*secret))
        {
            return secret;
        }
        let secret = test();
        if let Some(slot) = self.seen.get_mut(self.next) {
            *slot = Some((key(), secret));
            self.next = (self.next + 1) % N;
        }
        secret
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_is_tested_once_and_the_oldest_gives_way() {
        let mut verdicts: Verdicts<&str, 2> = Verdicts::default();
        let tests = std::cell::Cell::new(0);
        let mut judge = |name: &'static str| {
            verdicts.get_or_test(
                |known| *known == name,
                || name,
                || {
                    tests.set(tests.get() + 1);
                    name == "token"
                },
            )
        };
        assert!(judge("token"));
        assert!(!judge("span"));
        assert!(judge("token"));
        assert!(!judge("span"));
        assert_eq!(tests.get(), 2, "each name tested once");
        assert!(!judge("id")); // takes the place of "token", the oldest
        assert!(judge("token"));
        assert_eq!(tests.get(), 4, "a name that gave way is tested again");
    }
}
