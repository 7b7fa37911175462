//! Green networking for `green` (to come: drop-in `std::net` types and
//! gevent-style servers).

#![deny(missing_docs, missing_debug_implementations)]
