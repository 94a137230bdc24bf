//! Ranking and calibration metrics, written once so every method is scored by the same
//! code.

use std::collections::HashMap;

/// Area under the ROC curve by the rank-sum (Mann–Whitney) formula; tied scores share
/// their average rank, so a constant scorer gets exactly 0.5. `None` when either class
/// is missing or a score is NaN.
pub fn auc(scores: &[f32], labels: &[f32]) -> Option<f64> {
    assert_eq!(scores.len(), labels.len(), "one label per score");
    if scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let (mut rank_sum, mut positives) = (0.0f64, 0usize);
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && scores[order[end + 1]] == scores[order[start]] {
            end += 1;
        }
        // Ranks are 1-based; the tie group [start, end] shares their mean.
        let mean_rank = (start + end) as f64 / 2.0 + 1.0;
        for &i in &order[start..=end] {
            if labels[i] > 0.5 {
                rank_sum += mean_rank;
                positives += 1;
            }
        }
        start = end + 1;
    }
    let negatives = scores.len() - positives;
    if positives == 0 || negatives == 0 {
        return None;
    }
    let p = positives as f64;
    Some((rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64))
}

/// Per-user AUC averaged with each user weighted by their impression count (the DIN
/// paper's gAUC). Users whose impressions are all one class carry no ranking signal
/// and are skipped.
pub fn gauc(users: &[u32], scores: &[f32], labels: &[f32]) -> Option<f64> {
    let mut groups: HashMap<u32, (Vec<f32>, Vec<f32>)> = HashMap::new();
    for ((u, s), l) in users.iter().zip(scores).zip(labels) {
        let g = groups.entry(*u).or_default();
        g.0.push(*s);
        g.1.push(*l);
    }
    let (mut weighted, mut weight) = (0.0, 0.0);
    for (s, l) in groups.values() {
        if let Some(a) = auc(s, l) {
            weighted += a * s.len() as f64;
            weight += s.len() as f64;
        }
    }
    (weight > 0.0).then(|| weighted / weight)
}

/// Mean binary cross-entropy of probabilities, clamped away from 0 and 1.
pub fn logloss(probs: &[f32], labels: &[f32]) -> f64 {
    const EPS: f64 = 1e-7;
    let total: f64 = probs
        .iter()
        .zip(labels)
        .map(|(&p, &y)| {
            let p = (p as f64).clamp(EPS, 1.0 - EPS);
            let y = y as f64;
            -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
        })
        .sum();
    total / probs.len().max(1) as f64
}

/// HR@k and NDCG@k of one ranked list against the relevant items: HR is 1 when any
/// relevant item is in the top k; NDCG divides by the ideal DCG of min(|relevant|, k).
pub fn hit_and_ndcg_at_k(ranked: &[u32], relevant: &[u32], k: usize) -> (f64, f64) {
    if relevant.is_empty() {
        return (0.0, 0.0);
    }
    let dcg: f64 = ranked
        .iter()
        .take(k)
        .enumerate()
        .filter(|(_, item)| relevant.contains(item))
        .map(|(rank, _)| 1.0 / (rank as f64 + 2.0).log2())
        .sum();
    let ideal: f64 = (0..relevant.len().min(k))
        .map(|rank| 1.0 / (rank as f64 + 2.0).log2())
        .sum();
    (if dcg > 0.0 { 1.0 } else { 0.0 }, dcg / ideal)
}

/// Indices of the `k` highest scores, best first (ties broken by lower index).
pub fn top_k(scores: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    let k = k.min(idx.len());
    let by_score = |a: &usize, b: &usize| scores[*b].total_cmp(&scores[*a]).then(a.cmp(b));
    if k < idx.len() {
        idx.select_nth_unstable_by(k, by_score);
        idx.truncate(k);
    }
    idx.sort_by(by_score);
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_by_hand() {
        // Positives 0.8, 0.4; negatives 0.5, 0.1: pairs (0.8>0.5, 0.8>0.1, 0.4<0.5, 0.4>0.1) = 3/4.
        assert_eq!(
            auc(&[0.8, 0.5, 0.4, 0.1], &[1.0, 0.0, 1.0, 0.0]),
            Some(0.75)
        );
        // A tie between a positive and a negative counts one half: (1 + 0.5) / 2.
        assert_eq!(auc(&[0.9, 0.5, 0.5], &[1.0, 1.0, 0.0]), Some(0.75));
        assert_eq!(auc(&[0.3, 0.3, 0.3, 0.3], &[1.0, 0.0, 1.0, 0.0]), Some(0.5));
        assert_eq!(auc(&[0.1, 0.9], &[1.0, 0.0]), Some(0.0));
        assert_eq!(auc(&[0.1, 0.9], &[1.0, 1.0]), None);
        assert_eq!(auc(&[f32::NAN, 0.9], &[1.0, 0.0]), None);
    }

    #[test]
    fn gauc_weights_by_impressions_and_skips_one_class_users() {
        let users = [1, 1, 1, 1, 2, 2, 3, 3, 3];
        let scores = [0.8, 0.5, 0.4, 0.1, 0.2, 0.9, 0.5, 0.6, 0.7];
        let labels = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0];
        // user 1: 0.75 over 4 impressions; user 2: 0.0 over 2; user 3: one class, skipped.
        let expected = (0.75 * 4.0 + 0.0 * 2.0) / 6.0;
        assert!((gauc(&users, &scores, &labels).unwrap() - expected).abs() < 1e-12);
        assert_eq!(gauc(&[3, 3], &[0.1, 0.2], &[1.0, 1.0]), None);
    }

    #[test]
    fn logloss_by_hand() {
        let expected = -(0.8f64.ln() + 0.6f64.ln()) / 2.0;
        assert!((logloss(&[0.8, 0.4], &[1.0, 0.0]) - expected).abs() < 1e-6);
        assert!(logloss(&[0.0], &[1.0]).is_finite());
    }

    #[test]
    fn hit_and_ndcg_by_hand() {
        // Relevant at ranks 2 and 4 (1-based) of the top 5; ideal puts both at 1 and 2.
        let (hr, ndcg) = hit_and_ndcg_at_k(&[9, 3, 8, 5, 7], &[3, 5], 5);
        let dcg = 1.0 / 3f64.log2() + 1.0 / 5f64.log2();
        let ideal = 1.0 + 1.0 / 3f64.log2();
        assert_eq!(hr, 1.0);
        assert!((ndcg - dcg / ideal).abs() < 1e-12);
        assert_eq!(hit_and_ndcg_at_k(&[9, 3], &[5], 2), (0.0, 0.0));
    }

    #[test]
    fn top_k_orders_best_first() {
        assert_eq!(top_k(&[0.1, 0.9, 0.5, 0.9], 3), vec![1, 3, 2]);
        assert_eq!(top_k(&[0.1], 5), vec![0]);
    }
}
