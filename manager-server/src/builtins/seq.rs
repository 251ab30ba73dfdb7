//! Python's indexing and slicing of a sequence (`list`, `Array`), for any numbers a
//! peer sends: negative indexes count from the end, slices clamp to the sequence, steps
//! may be anything but zero. Computed in `i128`, so no index, bound or step can
//! overflow, and a slice's positions are produced one by one (never more than the
//! sequence holds, whatever the step).

// The arithmetic is in `i128` on values that came as `i64` or `usize`: every sum,
// difference and product below stays under 2^66 in magnitude, far from overflowing.
#![allow(clippy::arithmetic_side_effects)]

use manager_proto::{RemoteError, RemoteErrorKind};

use super::err;

pub(crate) fn out_of_range(what: &str) -> RemoteError {
    err(RemoteErrorKind::IndexOutOfRange, format!("{what} index out of range"))
}

/// A Python index into a sequence of `len`: negative counts from the end.
pub(crate) fn index(len: usize, i: i64, what: &str) -> Result<usize, RemoteError> {
    let len = len as i128;
    let i = if i < 0 { i128::from(i) + len } else { i128::from(i) };
    if (0..len).contains(&i) { usize::try_from(i).map_err(|_| out_of_range(what)) } else { Err(out_of_range(what)) }
}

/// The element at Python index `i`.
pub(crate) fn at<'a, T>(items: &'a [T], i: i64, what: &str) -> Result<&'a T, RemoteError> {
    items.get(index(items.len(), i, what)?).ok_or_else(|| out_of_range(what))
}

/// The element at Python index `i`, to change.
pub(crate) fn at_mut<'a, T>(items: &'a mut [T], i: i64, what: &str) -> Result<&'a mut T, RemoteError> {
    let at = index(items.len(), i, what)?;
    items.get_mut(at).ok_or_else(|| out_of_range(what))
}

/// Where `insert(i, x)` puts `x` in a sequence of `len` (Python clamps instead of
/// failing).
pub(crate) fn insertion_point(len: usize, i: i64) -> usize {
    let len_wide = len as i128;
    let at = if i < 0 { (i128::from(i) + len_wide).max(0) } else { i128::from(i).min(len_wide) };
    usize::try_from(at).unwrap_or(len)
}

/// The positions `seq[start:stop:step]` selects in a sequence (Python's
/// `slice.indices`, then `range`): `count` positions from `first`, `step` apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Slice {
    first: i128,
    step: i128,
    count: usize,
}

impl Slice {
    /// The slice of a sequence of `len`; a zero step is an error, as in Python.
    pub(crate) fn new(
        len: usize,
        start: Option<i64>,
        stop: Option<i64>,
        step: Option<i64>,
    ) -> Result<Slice, RemoteError> {
        let step = i128::from(step.unwrap_or(1));
        if step == 0 {
            return Err(err(RemoteErrorKind::InvalidValue, "slice step cannot be zero"));
        }
        let len = len as i128;
        // Clamped as CPython's PySlice_AdjustIndices does.
        let adjust = |v: Option<i64>, default: i128| match v.map(i128::from) {
            None => default,
            Some(v) if v < 0 => {
                let v = v + len;
                if v < 0 { if step < 0 { -1 } else { 0 } } else { v }
            }
            Some(v) if v >= len => {
                if step < 0 {
                    len - 1
                } else {
                    len
                }
            }
            Some(v) => v,
        };
        let (start, stop) =
            if step < 0 { (adjust(start, len - 1), adjust(stop, -1)) } else { (adjust(start, 0), adjust(stop, len)) };
        let count = match step {
            s if s < 0 && stop < start => (start - stop - 1) / (-s) + 1,
            s if s > 0 && start < stop => (stop - start - 1) / s + 1,
            _ => 0,
        };
        // At most `len` positions: each is in the sequence, and no two are the same.
        Ok(Slice { first: start, step, count: usize::try_from(count).unwrap_or(0) })
    }

    /// `seq[start:stop]` (step 1): the range it covers, empty or not, where an
    /// assignment to it goes.
    pub(crate) fn range(len: usize, start: Option<i64>, stop: Option<i64>) -> std::ops::Range<usize> {
        let slice = Slice::new(len, start, stop, None).unwrap_or(Slice { first: len as i128, step: 1, count: 0 });
        let from = usize::try_from(slice.first).unwrap_or(len).min(len);
        from..from.saturating_add(slice.count).min(len)
    }

    /// How many positions it selects.
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    /// The elements of `items` it selects, in slice order.
    pub(crate) fn of<'a, T>(&'a self, items: &'a [T]) -> impl Iterator<Item = &'a T> + Clone + 'a {
        self.positions().filter_map(|p| items.get(p))
    }

    /// The positions, in slice order.
    pub(crate) fn positions(&self) -> impl Iterator<Item = usize> + Clone + '_ {
        (0..self.count).filter_map(move |k| usize::try_from(self.first + (k as i128) * self.step).ok())
    }

    /// Whether position `p` is one of them (in O(1)).
    pub(crate) fn contains(&self, p: usize) -> bool {
        if self.count == 0 {
            return false;
        }
        let last = self.first + (self.count as i128 - 1) * self.step;
        let (low, high, stride) =
            if self.step > 0 { (self.first, last, self.step) } else { (last, self.first, -self.step) };
        let p = p as i128;
        low <= p && p <= high && (p - low) % stride == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn py(len: usize, start: Option<i64>, stop: Option<i64>, step: Option<i64>) -> Vec<usize> {
        let slice = Slice::new(len, start, stop, step).unwrap();
        let positions: Vec<usize> = slice.positions().collect();
        assert_eq!(positions.len(), slice.len());
        for p in 0..len {
            assert_eq!(slice.contains(p), positions.contains(&p), "{p} in {start:?}:{stop:?}:{step:?}");
        }
        positions
    }

    #[test]
    fn slices_match_python() {
        // Checked against CPython: list(range(5))[a:b:c]
        assert_eq!(py(5, None, None, None), vec![0, 1, 2, 3, 4]);
        assert_eq!(py(5, Some(1), Some(3), None), vec![1, 2]);
        assert_eq!(py(5, Some(-2), None, None), vec![3, 4]);
        assert_eq!(py(5, None, Some(-1), None), vec![0, 1, 2, 3]);
        assert_eq!(py(5, Some(10), Some(20), None), Vec::<usize>::new());
        assert_eq!(py(5, None, None, Some(2)), vec![0, 2, 4]);
        assert_eq!(py(5, None, None, Some(-1)), vec![4, 3, 2, 1, 0]);
        assert_eq!(py(5, Some(3), Some(0), Some(-1)), vec![3, 2, 1]);
        assert_eq!(py(5, Some(-1), Some(-6), Some(-2)), vec![4, 2, 0]);
        assert_eq!(py(5, Some(-100), Some(100), None), vec![0, 1, 2, 3, 4]);
        assert_eq!(py(0, None, None, Some(-1)), Vec::<usize>::new());
        assert!(Slice::new(5, None, None, Some(0)).is_err());
    }

    #[test]
    fn extreme_numbers_select_what_python_selects() {
        // [1, 2][1::sys.maxsize] == [2]; [1, 2][::-sys.maxsize-1] == [2];
        // [1, 2][::sys.maxsize] == [1]
        assert_eq!(py(2, Some(1), None, Some(i64::MAX)), vec![1]);
        assert_eq!(py(2, None, None, Some(i64::MIN)), vec![1]);
        assert_eq!(py(2, None, None, Some(i64::MAX)), vec![0]);
        assert_eq!(py(2, Some(i64::MIN), Some(i64::MAX), Some(1)), vec![0, 1]);
        assert_eq!(py(2, Some(i64::MAX), Some(i64::MIN), Some(-1)), vec![1, 0]);
        assert_eq!(py(2, Some(i64::MAX), Some(i64::MIN), Some(i64::MIN)), vec![1]);
        assert_eq!(py(2, Some(i64::MIN), Some(i64::MIN), Some(i64::MIN)), Vec::<usize>::new());
        assert_eq!(py(3, Some(-1), Some(i64::MIN), Some(-2)), vec![2, 0]);
    }

    #[test]
    fn indexes_match_python() {
        assert_eq!(index(3, -1, "list").unwrap(), 2);
        assert_eq!(index(3, 0, "list").unwrap(), 0);
        assert!(index(3, 3, "list").is_err());
        assert!(index(3, -4, "list").is_err());
        assert!(index(0, 0, "list").is_err());
        assert!(index(3, i64::MIN, "list").is_err());
        assert!(index(3, i64::MAX, "list").is_err());
        assert_eq!(insertion_point(3, i64::MIN), 0);
        assert_eq!(insertion_point(3, i64::MAX), 3);
        assert_eq!(insertion_point(3, -1), 2);
    }

    #[test]
    fn an_assignment_range_is_where_python_assigns() {
        // l = [0,1,2,3,4]; l[a:b] = ...
        assert_eq!(Slice::range(5, Some(1), Some(3)), 1..3);
        assert_eq!(Slice::range(5, Some(3), Some(1)), 3..3);
        assert_eq!(Slice::range(5, Some(9), None), 5..5);
        assert_eq!(Slice::range(5, Some(-2), None), 3..5);
        assert_eq!(Slice::range(5, Some(i64::MIN), Some(i64::MAX)), 0..5);
        assert_eq!(Slice::range(5, Some(i64::MAX), Some(i64::MIN)), 5..5);
    }
}
