//! Stable sorting through one shared instance of the standard library's sort.
//!
//! Each `sort_by` / `sort_by_key` on another element type or with another closure is another
//! copy of the standard library's stable sort in the component (about 4 KB of wasm each). These
//! helpers sort positions (`usize`, one instance, comparing through `&dyn`) and then move the
//! elements into that order: the same result as `Vec::sort_by`, stable, for a few more
//! allocations on lists that are small here (keys, models, clients, rows).

use std::cmp::Ordering;

/// `v.sort_by(compare)`: stable.
pub(crate) fn sort_by<T>(v: &mut Vec<T>, compare: impl Fn(&T, &T) -> Ordering) {
    if v.len() < 2 {
        return;
    }
    let order = positions(v.len(), &|a, b| compare(&v[a], &v[b]));
    let mut slots: Vec<Option<T>> = std::mem::take(v).into_iter().map(Some).collect();
    v.extend(order.into_iter().filter_map(|i| slots[i].take()));
}

/// `v.sort_by_key(key)`: stable.
pub(crate) fn sort_by_key<T, K: Ord>(v: &mut Vec<T>, key: impl Fn(&T) -> K) {
    sort_by(v, |a, b| key(a).cmp(&key(b)));
}

/// The positions `0..len` in stable sorted order.
fn positions(len: usize, compare: &dyn Fn(usize, usize) -> Ordering) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.sort_by(|&a, &b| compare(a, b));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::unnecessary_sort_by)] // the point is to compare with `sort_by`
    fn sorts_as_the_standard_library_does_and_keeps_ties_in_order() {
        let mut seed = 7u64;
        for len in [0, 1, 2, 3, 10, 33, 200] {
            let v: Vec<(u8, usize)> = (0..len)
                .map(|i| {
                    seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                    ((seed >> 60) as u8, i)
                })
                .collect();
            let mut expected = v.clone();
            expected.sort_by_key(|(k, _)| *k);
            let mut got = v.clone();
            sort_by_key(&mut got, |(k, _)| *k);
            assert_eq!(got, expected, "len {len}");
            let mut expected = v.clone();
            expected.sort_by(|a, b| b.0.cmp(&a.0));
            let mut got = v;
            sort_by(&mut got, |a, b| b.0.cmp(&a.0));
            assert_eq!(got, expected, "len {len}");
        }
    }
}
