//! Green synchronisation primitives for `green` (to come: Event,
//! AsyncResult, Semaphore, Mutex, Queue, Pool, Group).

#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
