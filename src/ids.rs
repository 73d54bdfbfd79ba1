//! Typed indices and the vectors they index.
//!
//! Graph nodes, graph values and cores are all small integers; giving each its own type
//! keeps a node index from being used as a value index (or a core number) by mistake, at no
//! cost at run time.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Index, IndexMut};

/// An index type: a `u32` in a newtype.
pub trait Idx: Copy + Eq + Ord + fmt::Debug {
    fn new(index: usize) -> Self;
    fn index(self) -> usize;
}

/// Declares `pub struct $name(pub u32)` as an [`Idx`].
#[macro_export]
macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
        pub struct $name(pub u32);

        impl $crate::ids::Idx for $name {
            #[inline]
            fn new(index: usize) -> Self {
                $name(u32::try_from(index).expect("index fits in 32 bits"))
            }
            #[inline]
            fn index(self) -> usize {
                self.0 as usize
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

/// A vector indexed by `I`.
#[derive(Clone, PartialEq, Eq)]
pub struct IdVec<I, T> {
    raw: Vec<T>,
    _index: PhantomData<fn(I) -> I>,
}

impl<I: Idx, T> IdVec<I, T> {
    pub fn new() -> Self {
        IdVec { raw: Vec::new(), _index: PhantomData }
    }
    pub fn from_vec(raw: Vec<T>) -> Self {
        IdVec { raw, _index: PhantomData }
    }
    /// Appends `value` and returns its index.
    pub fn push(&mut self, value: T) -> I {
        self.raw.push(value);
        I::new(self.raw.len() - 1)
    }
    pub fn len(&self) -> usize {
        self.raw.len()
    }
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
    pub fn get(&self, i: I) -> Option<&T> {
        self.raw.get(i.index())
    }
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.raw.iter()
    }
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
        self.raw.iter_mut()
    }
    /// `(index, element)` pairs.
    pub fn iter_enumerated(&self) -> impl DoubleEndedIterator<Item = (I, &T)> + ExactSizeIterator {
        self.raw.iter().enumerate().map(|(i, t)| (I::new(i), t))
    }
    /// Every index, in order.
    pub fn ids(&self) -> impl DoubleEndedIterator<Item = I> + ExactSizeIterator {
        (0..self.raw.len()).map(I::new)
    }
    pub fn as_slice(&self) -> &[T] {
        &self.raw
    }
    pub fn into_vec(self) -> Vec<T> {
        self.raw
    }
    /// Keeps the elements for which `keep` says so; indices after a removed one shift down.
    pub fn retain(&mut self, mut keep: impl FnMut(I, &T) -> bool) {
        let mut k = 0;
        self.raw.retain(|t| {
            k += 1;
            keep(I::new(k - 1), t)
        });
    }
}

impl<I: Idx, T: Clone> IdVec<I, T> {
    /// `n` copies of `value`.
    pub fn filled(value: T, n: usize) -> Self {
        IdVec::from_vec(vec![value; n])
    }
}

impl<I: Idx, T> Default for IdVec<I, T> {
    fn default() -> Self {
        IdVec::new()
    }
}

impl<I: Idx, T> Index<I> for IdVec<I, T> {
    type Output = T;
    #[inline]
    fn index(&self, i: I) -> &T {
        &self.raw[i.index()]
    }
}

impl<I: Idx, T> IndexMut<I> for IdVec<I, T> {
    #[inline]
    fn index_mut(&mut self, i: I) -> &mut T {
        &mut self.raw[i.index()]
    }
}

impl<I: Idx, T: fmt::Debug> fmt::Debug for IdVec<I, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.raw.fmt(f)
    }
}

impl<'a, I: Idx, T> IntoIterator for &'a IdVec<I, T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.raw.iter()
    }
}

impl<I: Idx, T> FromIterator<T> for IdVec<I, T> {
    fn from_iter<It: IntoIterator<Item = T>>(iter: It) -> Self {
        IdVec::from_vec(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::id_type!(Thing);

    #[test]
    fn display_honours_width() {
        // Tables (pim-sim's per-core counts) right-align ids with `{:>6}`.
        assert_eq!(format!("{:>4}|{:<3}|", Thing(7), Thing(12)), "   7|12 |");
    }

    #[test]
    fn push_index_retain() {
        let mut v: IdVec<Thing, &str> = IdVec::new();
        let a = v.push("a");
        let b = v.push("b");
        v.push("c");
        assert_eq!((a, b), (Thing(0), Thing(1)));
        assert_eq!(v[b], "b");
        v.retain(|i, _| i != b);
        assert_eq!(v.as_slice(), ["a", "c"]);
        assert_eq!(v.ids().collect::<Vec<_>>(), [Thing(0), Thing(1)]);
    }
}
