//! A tiny little-endian codec for environment snapshots (see [`Env::snapshot`](super::Env::snapshot)).
//!
//! Snapshots are opaque bytes to the rest of polyak; each env decides what goes in, in what order.
//! Reading is checked: a short or over-long snapshot is an error, never a panic.

use crate::error::{Error, Result};
use crate::rng::Rng;

#[derive(Default)]
pub struct SnapshotWriter(Vec<u8>);

impl SnapshotWriter {
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn f64(self, v: f64) -> Self {
        self.u64(v.to_bits())
    }
    pub fn rng(self, r: &Rng) -> Self {
        r.state().into_iter().fold(self, Self::u64)
    }
    pub fn bytes(self, b: &[u8]) -> Self {
        let mut w = self.u64(b.len() as u64);
        w.0.extend_from_slice(b);
        w
    }
    pub fn finish(self) -> Vec<u8> {
        self.0
    }
}

pub struct SnapshotReader<'a>(&'a [u8]);

impl<'a> SnapshotReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        SnapshotReader(bytes)
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.0.len() < n {
            return Err(Error::env("snapshot is too short"));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    pub fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
    }
    pub fn f64(&mut self) -> Result<f64> {
        self.u64().map(f64::from_bits)
    }
    pub fn rng(&mut self) -> Result<Rng> {
        let s = [self.u64()?, self.u64()?, self.u64()?, self.u64()?];
        Rng::from_state(s).ok_or_else(|| Error::env("snapshot holds an invalid generator state"))
    }
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let n = self.u64()?;
        let n = usize::try_from(n).map_err(|_| Error::env("snapshot length overflows"))?;
        self.take(n)
    }
    /// Fails unless every byte was consumed (a snapshot of another env, say).
    pub fn finish(self) -> Result<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::env(format!("snapshot has {} unexpected trailing bytes", self.0.len())))
        }
    }
}
