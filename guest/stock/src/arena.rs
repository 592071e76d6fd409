//! An allocator for a component that lives for one call. The host makes a fresh instance
//! for every request and throws it away after, so what the call frees is never needed
//! again: the first [`ARENA_BYTES`] are handed out by moving a pointer, and freeing them
//! costs nothing (but for the last allocation, which is how vectors and strings grow in
//! place). Beyond them, allocations go to the system allocator, so a large request still
//! reuses what it frees and stays within its realm's memory limit.
//!
//! The stock component uses it; a plugin guest that wants it copies this file.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;

/// Bytes served from the arena before allocations go to the system allocator. The arena
/// is the system allocator's first block, and must fit in the heap of the component's
/// initial memory (the stock guest's 2 MiB, less its 1 MiB stack and ~110 KB of data):
/// an arena that made the instance grow its memory made every call pay for the growth
/// (4 MiB: GETs fell from 6,250 to 4,800 a second).
pub const ARENA_BYTES: usize = 512 << 10;

/// A bump allocator over one region, for an instance that lives for one call.
pub struct Arena {
    state: UnsafeCell<State>,
}

struct State {
    /// The arena's bounds (all zero until the first allocation takes it).
    start: usize,
    end: usize,
    /// The next free byte.
    top: usize,
    /// The last allocation, the only one that can grow or be given back in place.
    last: usize,
    /// The system allocator refused the arena: every allocation goes to it.
    refused: bool,
}

// SAFETY: a component instance has one thread (wasm32 without the atomics feature), so
// the state is never touched by two threads.
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
unsafe impl Sync for Arena {}

impl Arena {
    #[allow(clippy::new_without_default)]
    /// An arena that takes its region at the first allocation.
    pub const fn new() -> Arena {
        Arena { state: UnsafeCell::new(State { start: 0, end: 0, top: 0, last: 0, refused: false }) }
    }

    /// Room for `layout` in the arena, taking the arena at the first call.
    unsafe fn bump(&self, layout: Layout) -> Option<*mut u8> {
        // SAFETY: one thread (see the `Sync` impl), and no reference to the state outlives
        // this function.
        let s = unsafe { &mut *self.state.get() };
        if s.end == 0 && !s.refused {
            // SAFETY: the layout's size is not zero and its alignment a power of two.
            let start = unsafe { System.alloc(Layout::from_size_align_unchecked(ARENA_BYTES, 16)) } as usize;
            if start == 0 {
                s.refused = true;
            } else {
                (s.start, s.top, s.end) = (start, start, start + ARENA_BYTES);
            }
        }
        let at = s.top.checked_add(layout.align() - 1)? & !(layout.align() - 1);
        let top = at.checked_add(layout.size())?;
        if s.end == 0 || top > s.end {
            return None;
        }
        (s.last, s.top) = (at, top);
        Some(at as *mut u8)
    }

    fn owns(&self, ptr: *mut u8) -> bool {
        // SAFETY: as in `bump`.
        let s = unsafe { &*self.state.get() };
        (s.start..s.end).contains(&(ptr as usize))
    }
}

unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's layout has a non-zero size, as `System.alloc` requires.
        unsafe { self.bump(layout).unwrap_or_else(|| System.alloc(layout)) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.owns(ptr) {
            // SAFETY: as in `bump`.
            let s = unsafe { &mut *self.state.get() };
            if ptr as usize == s.last {
                s.top = s.last;
            }
        } else {
            // SAFETY: not the arena's, so the system allocator's, with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !self.owns(ptr) {
            // SAFETY: the system allocator's block, as the caller guarantees.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        {
            // SAFETY: as in `bump`.
            let s = unsafe { &mut *self.state.get() };
            if ptr as usize == s.last && s.last.checked_add(new_size).is_some_and(|top| top <= s.end) {
                s.top = s.last + new_size;
                return ptr;
            }
        }
        // SAFETY: the caller guarantees a valid layout for `new_size`.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: `new_layout` has a non-zero size.
        let moved = unsafe { self.alloc(new_layout) };
        if !moved.is_null() {
            // SAFETY: both blocks hold at least the smaller size and do not overlap (the
            // new one lies beyond the old, or is the system allocator's).
            unsafe { std::ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size)) };
        }
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn allocations_are_aligned_and_apart_and_the_last_one_is_given_back_in_place() {
        let arena = Arena::new();
        unsafe {
            let a = arena.alloc(layout(3, 1));
            let b = arena.alloc(layout(8, 8));
            assert!(arena.owns(a) && arena.owns(b));
            assert_eq!(b as usize % 8, 0);
            assert!(b as usize >= a as usize + 3);
            arena.dealloc(b, layout(8, 8));
            // The last allocation's room is handed out again; an earlier one's is not.
            assert_eq!(arena.alloc(layout(8, 8)), b);
            arena.dealloc(a, layout(3, 1));
            assert!(arena.alloc(layout(1, 1)) as usize > b as usize);
        }
    }

    #[test]
    fn the_last_allocation_grows_in_place_and_others_move_with_their_bytes() {
        let arena = Arena::new();
        unsafe {
            let a = arena.alloc(layout(4, 1));
            a.copy_from(b"abcd".as_ptr(), 4);
            let grown = arena.realloc(a, layout(4, 1), 64);
            assert_eq!(grown, a, "the last allocation grows where it is");
            let b = arena.alloc(layout(4, 1));
            let moved = arena.realloc(a, layout(64, 1), 128);
            assert!(moved != a && moved as usize > b as usize);
            assert_eq!(std::slice::from_raw_parts(moved, 4), b"abcd");
        }
    }

    #[test]
    fn beyond_the_arena_the_system_allocator_serves_and_frees() {
        let arena = Arena::new();
        unsafe {
            let inside = arena.alloc(layout(ARENA_BYTES - 64, 8));
            assert!(arena.owns(inside));
            let outside = arena.alloc(layout(128, 8));
            assert!(!outside.is_null() && !arena.owns(outside));
            outside.write_bytes(7, 128);
            // A block of the arena that outgrows it moves out, bytes and all.
            inside.write_bytes(9, 16);
            let moved = arena.realloc(inside, layout(ARENA_BYTES - 64, 8), ARENA_BYTES + 64);
            assert!(!arena.owns(moved));
            assert_eq!(std::slice::from_raw_parts(moved, 16), [9; 16]);
            arena.dealloc(moved, layout(ARENA_BYTES + 64, 8));
            arena.dealloc(outside, layout(128, 8));
        }
    }
}
