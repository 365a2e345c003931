//! What passes between the request path and the writer thread, and what both sides
//! share: the bounded channel's messages and its accounting ([`channel`]), the pool
//! of encode buffers ([`pool`]), the pause switch ([`pause`]). The recorder and the
//! writer both depend on this module and not on each other's internals.

mod channel;
mod pause;
mod pool;

pub(crate) use channel::{Accounting, ChunkMessage, Message, hand_off};
pub(crate) use pause::WriterPause;
pub(crate) use pool::BufferPool;
