//! [`BoundaryLayer`].

use std::sync::Arc;

use tower_layer::Layer;

use super::service::Boundary;

/// Records and replays the calls of a serializable service under a name.
#[derive(Clone, Debug)]
pub struct BoundaryLayer {
    name: Arc<str>,
}

impl BoundaryLayer {
    /// A layer whose calls are recorded under `name` (such as `db.orders`).
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        Self { name: name.into() }
    }
}

impl<S> Layer<S> for BoundaryLayer {
    type Service = Boundary<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Boundary::new(inner, Arc::clone(&self.name))
    }
}
