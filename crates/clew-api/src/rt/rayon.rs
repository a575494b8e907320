//! rayon with the caller's context (feature `rayon`).

use rayon::iter::plumbing::{Consumer, Folder, UnindexedConsumer};
use rayon::iter::ParallelIterator;

use crate::context::bind;
use crate::Context;

/// `rayon::spawn`, with the caller's current context current in the job.
pub fn spawn<F>(f: F)
where
    F: FnOnce() + Send + 'static,
{
    ::rayon::spawn(bind(f))
}

/// `rayon::join`, with the caller's current context current in both closures,
/// whichever thread runs them.
pub fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    let cx = Context::current();
    let cx_b = cx.clone();
    ::rayon::join(cx.wrap(a), cx_b.wrap(b))
}

/// Carries the caller's context into a parallel iterator's closures.
///
/// ```
/// use clew_api::rt::rayon::ParallelIteratorExt;
/// use rayon::prelude::*;
/// let total: i32 = (0..100).into_par_iter().in_current_context().map(|i| i * 2).sum();
/// assert_eq!(total, 9900);
/// ```
///
/// Every closure of the pipeline (before or after this adapter) runs with the
/// context current. The adapter yields an unindexed iterator: call
/// `enumerate`, `zip` and other indexed adapters before it.
pub trait ParallelIteratorExt: ParallelIterator {
    /// Runs the pipeline with the caller's current context.
    fn in_current_context(self) -> WithContextParIter<Self> {
        self.with_context(Context::current())
    }

    /// Runs the pipeline with `cx`.
    fn with_context(self, cx: Context) -> WithContextParIter<Self> {
        WithContextParIter { base: self, cx }
    }
}

impl<I: ParallelIterator> ParallelIteratorExt for I {}

/// The parallel iterator returned by [`ParallelIteratorExt::in_current_context`].
#[derive(Debug, Clone)]
#[must_use = "iterator adapters are lazy"]
pub struct WithContextParIter<I> {
    base: I,
    cx: Context,
}

impl<I: ParallelIterator> ParallelIterator for WithContextParIter<I> {
    type Item = I::Item;

    fn drive_unindexed<C>(self, consumer: C) -> C::Result
    where
        C: UnindexedConsumer<Self::Item>,
    {
        self.base.drive_unindexed(ContextConsumer {
            base: consumer,
            cx: self.cx,
        })
    }

    fn opt_len(&self) -> Option<usize> {
        self.base.opt_len()
    }
}

struct ContextConsumer<C> {
    base: C,
    cx: Context,
}

impl<T, C: Consumer<T>> Consumer<T> for ContextConsumer<C> {
    type Folder = ContextFolder<C::Folder>;
    type Reducer = C::Reducer;
    type Result = C::Result;

    fn split_at(self, index: usize) -> (Self, Self, Self::Reducer) {
        let (left, right, reducer) = self.base.split_at(index);
        (
            ContextConsumer {
                base: left,
                cx: self.cx.clone(),
            },
            ContextConsumer {
                base: right,
                cx: self.cx,
            },
            reducer,
        )
    }

    /// A folder runs a whole leaf of the job on one thread, from here to
    /// `complete`: the context is swapped in for all of it, so closures of
    /// adapters on either side of this one see it.
    fn into_folder(self) -> Self::Folder {
        let restore = Restore::enter(self.cx);
        ContextFolder {
            base: self.base.into_folder(),
            restore,
        }
    }

    fn full(&self) -> bool {
        self.base.full()
    }
}

impl<T, C: UnindexedConsumer<T>> UnindexedConsumer<T> for ContextConsumer<C> {
    fn split_off_left(&self) -> Self {
        ContextConsumer {
            base: self.base.split_off_left(),
            cx: self.cx.clone(),
        }
    }

    fn to_reducer(&self) -> Self::Reducer {
        self.base.to_reducer()
    }
}

/// Holds the context that was current before a folder started, and puts it
/// back when the folder completes or is dropped by unwinding.
struct Restore {
    previous: Option<Context>,
}

impl Restore {
    fn enter(cx: Context) -> Restore {
        // Not a `ContextGuard`: guards are `!Send`, and a folder may need to
        // be `Send` even though it is only ever used on one thread.
        Restore {
            previous: crate::context::replace_current(cx),
        }
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        crate::context::restore_previous(&mut self.previous);
    }
}

struct ContextFolder<F> {
    base: F,
    restore: Restore,
}

impl<T, F: Folder<T>> Folder<T> for ContextFolder<F> {
    type Result = F::Result;

    fn consume(self, item: T) -> Self {
        let ContextFolder { base, restore } = self;
        ContextFolder {
            base: base.consume(item),
            restore,
        }
    }

    fn consume_iter<I: IntoIterator<Item = T>>(self, iter: I) -> Self {
        let ContextFolder { base, restore } = self;
        ContextFolder {
            base: base.consume_iter(iter),
            restore,
        }
    }

    fn complete(self) -> F::Result {
        let ContextFolder { base, restore } = self;
        let result = base.complete();
        drop(restore);
        result
    }

    fn full(&self) -> bool {
        self.base.full()
    }
}
