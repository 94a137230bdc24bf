//! Which texts share a forward pass. Every text in a pass is padded to the pass's
//! longest, so one pass over a mixed batch computes tokens that are not there: the
//! browser bench's batches of 16 MovieLens titles average 6 tokens a title and
//! were padded to 12. A further pass is not free either (every op dispatched
//! again, one more read back), so the cut minimises padded tokens plus a fixed
//! cost per pass, on texts already sorted by length.

use std::ops::Range;

/// Padded tokens' worth of work one more pass costs on burn's CPU backend. Measured
/// in the browser (student, batches of 16 titles; `node scripts/bench-browser.mjs
/// --pages student`): a one-title pass takes about as long as 8 more padded tokens
/// in a full one. Measured before the dense layers ran on the real tokens only
/// (`EncoderLayer::forward_rows`), which made padding cheaper; not tuned again: with
/// the fewest passes instead, MiniLM-L3 took 31.8 against 36.1 ms at batch 16 and
/// 133.3 against 125.6 at batch 64 (medians of 3 runs, within this machine's spread).
pub const CPU_PASS_COST: usize = 8;

/// On a GPU padding is nearly free and each pass waits for a read back: as few
/// passes as `max_rows` allows, the least padding among those.
pub const GPU_PASS_COST: usize = 1 << 20;

/// `lengths` (token counts, ascending) cut into consecutive passes of at most
/// `max_rows` texts minimising Σ (`pass_cost` + rows × longest). Dynamic
/// programming over the cut points: O(texts × `max_rows`).
pub fn cut(lengths: &[usize], max_rows: usize, pass_cost: usize) -> Vec<Range<usize>> {
    debug_assert!(lengths.is_sorted(), "cut expects lengths sorted ascending");
    let max_rows = max_rows.max(1);
    let n = lengths.len();
    // best[j]: the least (cost, passes) of the first j texts; from[j]: where its last
    // pass starts. On a tie, fewer passes, then the later start: earlier passes full.
    let mut best = vec![(u64::MAX, 0); n + 1];
    let mut from = vec![0; n + 1];
    best[0] = (0, 0);
    for j in 1..=n {
        let longest = lengths[j - 1] as u64;
        for i in j.saturating_sub(max_rows)..j {
            let cost = best[i]
                .0
                .saturating_add(pass_cost as u64)
                .saturating_add((j - i) as u64 * longest);
            let candidate = (cost, best[i].1 + 1);
            if candidate <= best[j] {
                best[j] = candidate;
                from[j] = i;
            }
        }
    }
    let mut passes = Vec::new();
    let mut j = n;
    while j > 0 {
        passes.push(from[j]..j);
        j = from[j];
    }
    passes.reverse();
    passes
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The padded tokens plus pass costs of a cut, summed independently of `cut`.
    fn cost(lengths: &[usize], passes: &[Range<usize>], pass_cost: usize) -> usize {
        passes
            .iter()
            .map(|p| pass_cost + p.len() * lengths[p.end - 1])
            .sum()
    }

    /// Every way of cutting `n` texts into passes of at most `max_rows`.
    fn all_cuts(n: usize, max_rows: usize) -> Vec<Vec<Range<usize>>> {
        if n == 0 {
            return vec![vec![]];
        }
        let mut out = Vec::new();
        for last in 1..=max_rows.min(n) {
            for mut head in all_cuts(n - last, max_rows) {
                head.push(n - last..n);
                out.push(head);
            }
        }
        out
    }

    #[test]
    fn cuts_cover_every_text_once_in_order() {
        let lengths = [3, 3, 4, 5, 5, 6, 7, 9, 12, 30];
        for max_rows in 1..=12 {
            for pass_cost in [0, 1, 8, GPU_PASS_COST] {
                let passes = cut(&lengths, max_rows, pass_cost);
                let flat: Vec<usize> = passes.iter().flat_map(|p| p.clone()).collect();
                assert_eq!(flat, (0..lengths.len()).collect::<Vec<_>>());
                assert!(passes.iter().all(|p| !p.is_empty() && p.len() <= max_rows));
            }
        }
        assert!(cut(&[], 4, 8).is_empty());
    }

    #[test]
    fn the_cut_is_as_cheap_as_the_best_of_all_cuts() {
        let lengths = [3, 3, 4, 4, 5, 6, 6, 8, 11, 12];
        for max_rows in [1, 3, 4, 10] {
            for pass_cost in [0, 2, 8, 40] {
                let best = all_cuts(lengths.len(), max_rows)
                    .iter()
                    .map(|c| cost(&lengths, c, pass_cost))
                    .min()
                    .unwrap();
                let passes = cut(&lengths, max_rows, pass_cost);
                assert_eq!(
                    cost(&lengths, &passes, pass_cost),
                    best,
                    "{max_rows} {pass_cost}"
                );
            }
        }
    }

    #[test]
    fn a_gpu_cut_has_the_fewest_passes_and_then_the_least_padding() {
        // 8 texts, 4 a pass: two passes either way; the short ones go together.
        let lengths = [2, 2, 2, 2, 2, 2, 2, 40];
        let passes = cut(&lengths, 4, GPU_PASS_COST);
        assert_eq!(passes, [0..4, 4..8]);
        let lengths = [2, 2, 2, 2, 2, 40];
        assert_eq!(cut(&lengths, 4, GPU_PASS_COST), [0..4, 4..6]);
        // On the CPU the one long title goes alone.
        assert_eq!(cut(&lengths, 4, CPU_PASS_COST), [0..4, 4..5, 5..6]);
    }
}
