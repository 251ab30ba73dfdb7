//! Python's truthiness, for the predicates of `Condition::wait_for`.

/// A value that is true or false as Python would judge it: what a `wait_for`
/// predicate returns. `wait_for` stops at the first truthy value and returns it, so a
/// predicate can hand back what it found (`Some(job)`, a non-empty batch) instead of a
/// bare `bool` (Python's `wait_for` returns the predicate's last result too).
///
/// ```
/// use manager_client::Truthy;
/// assert!(true.is_truthy() && Some(0).is_truthy() && 3u32.is_truthy() && vec![1].is_truthy());
/// assert!(!(false.is_truthy() || None::<u8>.is_truthy() || 0i64.is_truthy() || String::new().is_truthy()));
/// ```
pub trait Truthy {
    /// Whether the value counts as true (`bool(value)` in Python).
    fn is_truthy(&self) -> bool;
}

impl Truthy for bool {
    fn is_truthy(&self) -> bool {
        *self
    }
}

/// `Some` is true whatever it holds: it means "found".
impl<T> Truthy for Option<T> {
    fn is_truthy(&self) -> bool {
        self.is_some()
    }
}

impl<T> Truthy for Vec<T> {
    fn is_truthy(&self) -> bool {
        !self.is_empty()
    }
}

impl Truthy for String {
    fn is_truthy(&self) -> bool {
        !self.is_empty()
    }
}

macro_rules! numbers {
    ($($t:ty),*) => {
        $(impl Truthy for $t {
            fn is_truthy(&self) -> bool {
                *self != 0
            }
        })*
    };
}
numbers!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);
