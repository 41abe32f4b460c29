//! The registry: every family and scrape-time collector of a process, written in one page.

use std::sync::{Arc, Mutex, OnceLock};

use crate::family::{Counter, Family, Gauge, Histogram, Metric, SERIES_PER_FAMILY_MAX};
use crate::text::Exposition;

/// Families one registry keeps; one more is still usable but not exported (a bug, logged).
pub const FAMILIES_MAX: usize = 128;
/// Scrape-time collectors one registry keeps.
pub const COLLECTORS_MAX: usize = 32;

/// Something read only when the page is written (counters kept elsewhere, such as the
/// transport's `ServerStats`, or a value refreshed by its own task).
pub trait Collect: Send + Sync {
    fn collect(&self, out: &mut Exposition);
}

trait Render: Send + Sync {
    fn render(&self, out: &mut Exposition);
    fn name(&self) -> &'static str;
}

impl<T: Metric> Render for Family<T> {
    fn render(&self, out: &mut Exposition) {
        Family::render(self, out);
    }
    fn name(&self) -> &'static str {
        Family::name(self)
    }
}

#[derive(Default)]
pub struct Registry {
    families: Mutex<Vec<Arc<dyn Render>>>,
    collectors: Mutex<Vec<Arc<dyn Collect>>>,
}

/// The process's registry: a process serves one party, and the pipeline, the links and the
/// transport record into it without each passing it along.
pub fn global() -> &'static Registry {
    static GLOBAL: OnceLock<Registry> = OnceLock::new();
    GLOBAL.get_or_init(Registry::default)
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    pub fn counter(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Arc<Family<Counter>> {
        self.family(name, help, labels, SERIES_PER_FAMILY_MAX)
    }

    pub fn gauge(&self, name: &'static str, help: &'static str, labels: &'static [&'static str]) -> Arc<Family<Gauge>> {
        self.family(name, help, labels, SERIES_PER_FAMILY_MAX)
    }

    pub fn histogram(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Arc<Family<Histogram>> {
        self.family(name, help, labels, SERIES_PER_FAMILY_MAX)
    }

    /// A family with its own series bound.
    pub fn family<T: Metric>(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
        series_max: usize,
    ) -> Arc<Family<T>> {
        let family = Arc::new(Family::new(name, help, labels, series_max));
        let mut families = self.families.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if families.len() >= FAMILIES_MAX || families.iter().any(|f| f.name() == name) {
            tracing::warn!(family = name, "metric family not exported: a duplicate name or FAMILIES_MAX reached");
        } else {
            families.push(Arc::clone(&family) as Arc<dyn Render>);
        }
        family
    }

    /// Add a scrape-time collector; `false` when `COLLECTORS_MAX` are already kept.
    pub fn add_collector(&self, collector: Arc<dyn Collect>) -> bool {
        let mut collectors = self.collectors.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if collectors.len() >= COLLECTORS_MAX {
            tracing::warn!("metric collector not added: COLLECTORS_MAX reached");
            return false;
        }
        collectors.push(collector);
        true
    }

    /// The whole page in the text exposition format.
    pub fn render(&self) -> String {
        let families: Vec<_> = self.families.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let collectors: Vec<_> = self.collectors.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut out = Exposition::new();
        for family in &families {
            family.render(&mut out);
        }
        for collector in &collectors {
            collector.collect(&mut out);
        }
        out.into_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse;

    #[test]
    fn a_page_parses_back_with_every_sample() {
        let registry = Registry::new();
        let responses = registry.counter("cardnet_test_responses_total", "Answers.", &["party", "code"]);
        let latency = registry.histogram("cardnet_test_duration_ms", "Latency.", &["party"]);
        let depth = registry.gauge("cardnet_test_depth", "Depth.", &[]);
        responses.with(&["switch", "00"]).add(3);
        responses.with(&["switch", "05"]).inc();
        latency.with(&["switch"]).observe_us(1_200);
        latency.with(&["switch"]).observe_us(700_000);
        depth.with(&[]).set(-2);
        let page = parse(&registry.render()).unwrap();
        assert_eq!(page.value("cardnet_test_responses_total", &[("party", "switch"), ("code", "00")]), Some(3.0));
        assert_eq!(page.value("cardnet_test_responses_total", &[("code", "05")]), Some(1.0));
        assert_eq!(page.value("cardnet_test_depth", &[]), Some(-2.0));
        assert_eq!(page.value("cardnet_test_duration_ms_bucket", &[("le", "1")]), Some(0.0));
        assert_eq!(page.value("cardnet_test_duration_ms_bucket", &[("le", "2.5")]), Some(1.0));
        assert_eq!(page.value("cardnet_test_duration_ms_bucket", &[("le", "500")]), Some(1.0));
        assert_eq!(page.value("cardnet_test_duration_ms_bucket", &[("le", "1000")]), Some(2.0));
        assert_eq!(page.value("cardnet_test_duration_ms_bucket", &[("le", "+Inf")]), Some(2.0));
        assert_eq!(page.value("cardnet_test_duration_ms_sum", &[]), Some(701.2));
        assert_eq!(page.value("cardnet_test_duration_ms_count", &[]), Some(2.0));
        assert_eq!(page.kind("cardnet_test_duration_ms"), Some("histogram"));
        assert_eq!(page.kind("cardnet_test_responses_total"), Some("counter"));
    }

    #[test]
    fn a_duplicate_family_is_not_written_twice() {
        let registry = Registry::new();
        registry.counter("dup_total", "one", &[]).with(&[]).inc();
        registry.counter("dup_total", "two", &[]).with(&[]).inc();
        assert_eq!(registry.render().matches("# TYPE dup_total").count(), 1);
    }

    #[test]
    fn collectors_are_bounded() {
        struct Nothing;
        impl Collect for Nothing {
            fn collect(&self, _: &mut Exposition) {}
        }
        let registry = Registry::new();
        let added = (0..COLLECTORS_MAX + 3).filter(|_| registry.add_collector(Arc::new(Nothing))).count();
        assert_eq!(added, COLLECTORS_MAX);
    }
}
