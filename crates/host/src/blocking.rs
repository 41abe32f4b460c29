//! Party cores are synchronous and do durable database work (the PostgreSQL client must not run
//! on a runtime worker), so the drivers call them on tokio's blocking pool.

/// Run `work` on the blocking pool. `None` only if it panicked, which is logged as
/// `"{party}: a core call failed"` (the panic loses this one call, not the driver).
pub async fn blocking<T: Send + 'static>(party: &'static str, work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::error!(%error, "{party}: a core call failed");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_the_value_or_none_on_a_panic() {
        assert_eq!(blocking("test", || 6 * 7).await, Some(42));
        let panicked: Option<u8> = blocking("test", || panic!("a bug in the core")).await;
        assert_eq!(panicked, None);
    }
}
